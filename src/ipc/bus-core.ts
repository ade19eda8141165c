import { ErrorCode, StickyError } from '../errors.js';
import { MAX_TIMER_MS } from '../options/index.js';
import { rebuildError, runtimeError, serializeError, type Frame, type SerializedError } from './bus-protocol.js';
import type { BusSender, BusStats, MessageListener, RequestOptions, Responder } from './bus-types.js';

// What both sides of the bus share: listeners, responders, and requests waiting for their response
// (correlation ids, timeouts, abort). Safe to load in the primary and in a worker.

type AnyListener = MessageListener<unknown>;
type AnyResponder = Responder<unknown, unknown>;

interface Pending {
  readonly channel: string;
  /**
   * The worker it waits on (-1: the primary; NaN until the primary wrote it to a worker): its exit
   * fails the request at once, and only its response settles it.
   */
  peer: number;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
  readonly timer: NodeJS.Timeout;
  /** Withdraws the request from wherever it still waits to be delivered, once its caller gave up. */
  cancel: RequestCancel | void;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: (() => void) | undefined;
  /** Holds the caller's stack (formatted only when read), appended to a remote error's. */
  readonly site: { stack?: string };
}

/** Takes back a request that has not reached its responder yet; a no-op once it has. */
export type RequestCancel = () => void;

/**
 * Where a request goes: the frame is built with the id and written. May return a cancel, called
 * when the caller gives up (timeout, abort), so that a request still waiting to be delivered (for a
 * slot's next worker, in an outbox) never reaches a responder.
 */
export type RequestWriter = (
  id: number, timeout: number, settle: (error: StickyError | undefined) => void,
) => RequestCancel | void;

export class BusCore {
  readonly stats: BusStats = { sent: 0, received: 0, pending: 0, timedOut: 0, dropped: 0, foreignResponses: 0 };
  readonly #listeners = new Map<string, AnyListener[]>();
  readonly #responders = new Map<string, AnyResponder>();
  readonly #pending = new Map<number, Pending>();
  readonly #defaultTimeout: number;
  #nextId = 1;

  constructor(defaultTimeout: number) {
    this.#defaultTimeout = defaultTimeout;
  }

  on(channel: string, listener: AnyListener): void {
    const list = this.#listeners.get(channel);
    if (list === undefined) this.#listeners.set(channel, [listener]);
    // Copy on write: a listener removed during dispatch does not disturb the running loop.
    else this.#listeners.set(channel, [...list, listener]);
  }

  once(channel: string, listener: AnyListener): void {
    const wrapper: AnyListener & { listener?: AnyListener } = (payload, from) => {
      this.off(channel, wrapper);
      listener(payload, from);
    };
    wrapper.listener = listener;
    this.on(channel, wrapper);
  }

  off(channel: string, listener: AnyListener): void {
    const list = this.#listeners.get(channel);
    if (list === undefined) return;
    const index = list.findIndex(
      (item) => item === listener || (item as { listener?: AnyListener }).listener === listener,
    );
    if (index === -1) return;
    const next = list.filter((_, i) => i !== index);
    if (next.length === 0) this.#listeners.delete(channel);
    else this.#listeners.set(channel, next);
  }

  handle(channel: string, responder: AnyResponder): void {
    if (this.#responders.has(channel)) {
      throw new StickyError(ErrorCode.InvalidState, `The request channel '${channel}' already has a responder.`, {
        hint: 'One responder per channel and process; call `unhandle(channel)` first to replace it.',
      });
    }
    this.#responders.set(channel, responder);
  }

  unhandle(channel: string): void {
    this.#responders.delete(channel);
  }

  hasResponder(channel: string): boolean {
    return this.#responders.has(channel);
  }

  /** Delivers a message to this process's listeners. */
  deliver(channel: string, payload: unknown, from: BusSender): void {
    const list = this.#listeners.get(channel);
    if (list === undefined) {
      this.stats.dropped++;
      return;
    }
    this.stats.received++;
    for (const listener of list) {
      try {
        listener(payload, from);
      } catch (error) {
        // A throwing listener is the application's bug, like one of an EventEmitter: surface it
        // without stopping the dispatch of the batch it came in.
        queueMicrotask(() => { throw error; });
      }
    }
  }

  /** Runs this process's responder for a request; `reply` gets the response or error frame. */
  answer(id: number, channel: string, payload: unknown, from: BusSender, reply: (frame: Frame) => void): void {
    const responder = this.#responders.get(channel);
    this.stats.received++;
    if (responder === undefined) {
      reply({ k: 'e', i: id, e: runtimeError(noResponder(channel)) });
      return;
    }
    let result: unknown;
    try {
      result = responder(payload, from);
    } catch (error) {
      reply({ k: 'e', i: id, e: serializeError(error) });
      return;
    }
    if (isThenable(result)) {
      result.then(
        (value) => reply({ k: 'r', i: id, d: value }),
        (error: unknown) => reply({ k: 'e', i: id, e: serializeError(error) }),
      );
    } else {
      reply({ k: 'r', i: id, d: result });
    }
  }

  /** Starts a request to `peer` (-1: the primary); `write` sends the frame with the id. */
  request(channel: string, peer: number, options: RequestOptions | undefined, write: RequestWriter): Promise<unknown> {
    const timeout = options?.timeout ?? this.#defaultTimeout;
    const signal = options?.signal;
    if (!Number.isInteger(timeout) || timeout < 1 || timeout > MAX_TIMER_MS) {
      return Promise.reject(new StickyError(ErrorCode.InvalidOption,
        `Expected \`timeout\` to be an integer from 1 to ${MAX_TIMER_MS} (ms), ` +
        `received ${String(timeout)} (${typeof timeout}).`));
    }
    if (signal?.aborted === true) return Promise.reject(signal.reason);
    const id = this.#nextId++;
    // Captured now so that a remote error shows where the caller asked; V8 formats the frames only
    // if `stack` is read, i.e. on the error path.
    const site: { stack?: string } = {};
    Error.captureStackTrace(site);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.stats.timedOut++;
        const message = `No response to the request '${channel}' within ${timeout} ms.`;
        this.#giveUp(id, new StickyError(ErrorCode.IpcTimeout, message, {
          hint: 'The responder is slow or stuck; raise `timeout` (or the `ipcTimeout` option)'
            + ' or make the responder answer sooner.',
        }));
      }, timeout);
      const onAbort = signal === undefined ? undefined : (): void => this.#giveUp(id, signal.reason);
      signal?.addEventListener('abort', onAbort as () => void, { once: true });
      const pending: Pending = { channel, peer, resolve, reject, timer, cancel: undefined, signal, onAbort, site };
      this.#pending.set(id, pending);
      this.stats.pending = this.#pending.size;
      this.stats.sent++;
      pending.cancel = write(id, timeout, (error) => {
        if (error !== undefined) this.#fail(id, error);
      });
    });
  }

  /** The request `id` now waits on worker `peer` (its target was resolved after it started). */
  setPeer(id: number, peer: number): void {
    const pending = this.#pending.get(id);
    if (pending !== undefined) pending.peer = peer;
  }

  /**
   * A response or error frame arrived from `peer` (-1: the primary). It settles only a request sent
   * to that peer: ids are sequential, so another worker could guess a pending one; its answer is
   * dropped and counted, and the request still waits for its own peer.
   */
  settle(frame: Frame, peer: number): void {
    if (frame.k !== 'r' && frame.k !== 'e') return;
    const waiting = this.#pending.get(frame.i);
    if (waiting === undefined) {
      // Answered after its timeout or abort: nobody waits any more.
      this.stats.dropped++;
      return;
    }
    if (waiting.peer !== peer) {
      this.stats.foreignResponses++;
      return;
    }
    const pending = this.#take(frame.i) as Pending;
    if (frame.k === 'r') pending.resolve(frame.d);
    else pending.reject(rebuildError(pending.channel, frame.e as SerializedError, pending.site.stack));
  }

  /** Every request waiting on `peer` fails with `error` (its worker exited, the channel closed). */
  failPeer(peer: number | undefined, error: () => StickyError): void {
    for (const [id, pending] of this.#pending) {
      if (peer === undefined || pending.peer === peer) this.#fail(id, error());
    }
  }

  #fail(id: number, error: unknown): void {
    this.#take(id)?.reject(error);
  }

  /** The caller stopped waiting (timeout, abort): the request is also taken back if not delivered yet. */
  #giveUp(id: number, error: unknown): void {
    const pending = this.#take(id);
    if (pending === undefined) return;
    pending.cancel?.();
    pending.reject(error);
  }

  #take(id: number): Pending | undefined {
    const pending = this.#pending.get(id);
    if (pending === undefined) return undefined;
    this.#pending.delete(id);
    this.stats.pending = this.#pending.size;
    clearTimeout(pending.timer);
    if (pending.onAbort !== undefined) pending.signal?.removeEventListener('abort', pending.onAbort);
    return pending;
  }
}

export function noResponder(channel: string): StickyError {
  const message = `No responder for the request channel '${channel}' in the receiving process.`;
  return new StickyError(ErrorCode.IpcNoHandler, message, {
    hint: 'Register it with `bus.handle(channel, responder)` before the process becomes ready.',
  });
}

const isThenable = (value: unknown): value is PromiseLike<unknown> =>
  typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
