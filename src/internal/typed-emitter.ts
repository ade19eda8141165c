import { EventEmitter } from 'node:events';
import { pEvent } from 'p-event';

// The declared event names only: an index signature (e.g. from `extends Record<string, unknown>`)
// would otherwise let any string through as an event name.
type EventName<Events> = keyof { [K in keyof Events as string extends K ? never : K]: unknown } & keyof Events & string;

/** An EventEmitter whose event names and payloads are checked against `Events`. */
export class TypedEmitter<Events extends object> {
  readonly #emitter = new EventEmitter();

  on<K extends EventName<Events>>(event: K, listener: (payload: Events[K]) => void): this {
    this.#emitter.on(event, listener);
    return this;
  }

  once<K extends EventName<Events>>(event: K, listener: (payload: Events[K]) => void): this {
    this.#emitter.once(event, listener);
    return this;
  }

  off<K extends EventName<Events>>(event: K, listener: (payload: Events[K]) => void): this {
    this.#emitter.off(event, listener);
    return this;
  }

  /** Resolves with the next payload of `event`. */
  next<K extends EventName<Events>>(event: K): Promise<Events[K]> {
    // Payloads of an `error` event resolve like any other: nothing here rejects.
    return pEvent<K, Events[K]>(this.#emitter, event, { rejectionEvents: [] });
  }

  protected emit<K extends EventName<Events>>(event: K, payload: Events[K]): void {
    this.#emitter.emit(event, payload);
  }
}
