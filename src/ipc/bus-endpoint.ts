import type { BusCore } from './bus-core.js';
import type { BusStats, ChannelOf, MessageListener, RequestOf, Responder, ResponseOf } from './bus-types.js';

// What the bus offers on both sides, typed by the side's own maps: `Messages` (the channels it
// listens to) and `Requests` (the channels it answers). The shared core holds the listeners,
// responders and counters; each side adds how it sends.

export abstract class BusEndpoint<Messages, Requests> {
  readonly #core: BusCore;

  /** @internal */
  protected constructor(core: BusCore) {
    this.#core = core;
  }

  /** Listens to a message channel this side receives. */
  on<C extends ChannelOf<Messages>>(channel: C, listener: MessageListener<Messages[C]>): this {
    this.#core.on(channel, listener as MessageListener<unknown>);
    return this;
  }

  once<C extends ChannelOf<Messages>>(channel: C, listener: MessageListener<Messages[C]>): this {
    this.#core.once(channel, listener as MessageListener<unknown>);
    return this;
  }

  off<C extends ChannelOf<Messages>>(channel: C, listener: MessageListener<Messages[C]>): this {
    this.#core.off(channel, listener as MessageListener<unknown>);
    return this;
  }

  /**
   * Answers a request channel of this side; what `responder` returns (or resolves with) is the
   * response, what it throws reaches the caller as a `STICKY_ERR_IPC_REMOTE` error.
   * @throws {StickyError} `STICKY_ERR_INVALID_STATE` when the channel already has a responder.
   */
  handle<C extends ChannelOf<Requests>>(
    channel: C, responder: Responder<RequestOf<Requests, C>, ResponseOf<Requests, C>>,
  ): this {
    this.#core.handle(channel, responder as Responder<unknown, unknown>);
    return this;
  }

  unhandle<C extends ChannelOf<Requests>>(channel: C): this {
    this.#core.unhandle(channel);
    return this;
  }

  /** This process's bus counters. */
  stats(): BusStats {
    return { ...this.#core.stats };
  }
}
