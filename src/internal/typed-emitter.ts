import { EventEmitter } from 'node:events';

/** An EventEmitter whose event names and payloads are checked against `Events`. */
export class TypedEmitter<Events extends Record<string, unknown>> {
  readonly #emitter = new EventEmitter();

  on<K extends keyof Events & string>(event: K, listener: (payload: Events[K]) => void): this {
    this.#emitter.on(event, listener);
    return this;
  }

  once<K extends keyof Events & string>(event: K, listener: (payload: Events[K]) => void): this {
    this.#emitter.once(event, listener);
    return this;
  }

  off<K extends keyof Events & string>(event: K, listener: (payload: Events[K]) => void): this {
    this.#emitter.off(event, listener);
    return this;
  }

  /** Resolves with the next payload of `event`. */
  next<K extends keyof Events & string>(event: K): Promise<Events[K]> {
    return new Promise((resolve) => this.#emitter.once(event, resolve));
  }

  protected emit<K extends keyof Events & string>(event: K, payload: Events[K]): void {
    this.#emitter.emit(event, payload);
  }
}
