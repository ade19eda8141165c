import cluster from 'node:cluster';
import { ErrorCode, StickyError } from '../errors.js';
import { DEFAULTS, inheritedOptions } from '../options/index.js';
import { BusCore } from './bus-core.js';
import { BusEndpoint } from './bus-endpoint.js';
import { framesOf, isFrame, toWireTarget, type Frame, type WireSender, type WireTarget } from './bus-protocol.js';
import { Outbox } from './outbox.js';
import type {
  BusSchema, BusSender, ChannelOf, PrimaryMessages, PrimaryRequests, RequestOf, RequestOptions, ResponseOf,
  WorkerMessages, WorkerRequests, WorkerTarget,
} from './bus-types.js';

// The bus in a worker: one endpoint per process on the IPC channel to the primary. Messages to other
// workers go through the primary, which resolves the target (worker id, slot or routing key).

const PRIMARY: BusSender = Object.freeze({ kind: 'primary' });
const PRIMARY_PEER = -1;

/** Sender objects are made once per worker id: no allocation per message. */
const senders = new Map<number, BusSender>();
function senderOf(from: WireSender | undefined): BusSender {
  if (from === undefined) return PRIMARY;
  let sender = senders.get(from.w);
  if (sender?.kind !== 'worker' || sender.slot !== from.s) {
    sender = Object.freeze({ kind: 'worker', workerId: from.w, slot: from.s });
    senders.set(from.w, sender);
  }
  return sender;
}

/** The class is exported (for `instanceof`); only workerBus() constructs it, once per process. */
const CONSTRUCT = Symbol('WorkerBus');

/**
 * The application bus in a worker, typed by your `BusSchema`. Get it with `workerBus<AppBus>()`.
 * Messages and requests to the primary use the schema's `primary` side; to workers, its `worker` side.
 */
export class WorkerBus<S extends BusSchema = BusSchema> extends BusEndpoint<WorkerMessages<S>, WorkerRequests<S>> {
  readonly #core: BusCore;
  readonly #outbox: Outbox;

  /** @internal use `workerBus()` */
  constructor(token: typeof CONSTRUCT, timeout: number) {
    if (token !== CONSTRUCT) {
      throw new StickyError(ErrorCode.InvalidState, 'A WorkerBus cannot be constructed directly.',
        { hint: 'Use `workerBus()`.' });
    }
    const core = new BusCore(timeout);
    super(core);
    this.#core = core;
    const send = process.send?.bind(process);
    this.#outbox = new Outbox((message, callback) => {
      if (send === undefined) callback(new Error('no IPC channel'));
      else send(message, undefined, {}, callback);
    });
    process.on('message', this.#onMessage);
    process.once('disconnect', () => {
      const closed = (): StickyError =>
        new StickyError(ErrorCode.IpcClosed, 'The IPC channel to the primary is closed.', {
          hint: 'The primary exited or this worker was disconnected; no response will come.',
        });
      this.#outbox.close(closed());
      this.#core.failPeer(undefined, closed);
    });
  }

  /**
   * Sends a message to the primary. Resolves once written to the channel. @throws {StickyError}
   * `STICKY_ERR_IPC_CLOSED`, `STICKY_ERR_IPC_INVALID_PAYLOAD`
   */
  send<C extends ChannelOf<PrimaryMessages<S>>>(channel: C, payload: PrimaryMessages<S>[C]): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#core.stats.sent++;
      this.#outbox.push({ k: 'm', c: channel, d: payload },
        (error) => (error === undefined ? resolve() : reject(error)));
    });
  }

  /**
   * Asks the primary's responder for `channel`.
   * @throws {StickyError} `STICKY_ERR_IPC_TIMEOUT`, `STICKY_ERR_IPC_REMOTE` (the responder threw),
   * `STICKY_ERR_IPC_NO_HANDLER`, `STICKY_ERR_IPC_CLOSED`; the signal's reason when aborted.
   */
  request<C extends ChannelOf<PrimaryRequests<S>>>(
    channel: C, payload: RequestOf<PrimaryRequests<S>, C>, options?: RequestOptions,
  ): Promise<ResponseOf<PrimaryRequests<S>, C>> {
    return this.#core.request(channel, PRIMARY_PEER, options, (id, timeout, settle) => {
      const frame: Frame = { k: 'q', i: id, c: channel, d: payload, t: timeout };
      this.#outbox.push(frame, settle);
      return () => { this.#outbox.withdraw(frame); };
    }) as Promise<ResponseOf<PrimaryRequests<S>, C>>;
  }

  /**
   * Sends a message to another worker through the primary. Resolves once the primary handed it to
   * the target's channel; a slot without a ready worker is waited for, up to `slotWaitTimeout`.
   * @throws {StickyError} `STICKY_ERR_IPC_NO_WORKER` (no such worker, or none ready in the slot in time),
   * `STICKY_ERR_IPC_CLOSED`
   */
  async sendTo<C extends ChannelOf<WorkerMessages<S>>>(
    target: WorkerTarget, channel: C, payload: WorkerMessages<S>[C],
  ): Promise<void> {
    await this.#forward(toWireTarget(target), channel, payload);
  }

  /**
   * Sends a message to every worker (this one too with `includeSelf`). Resolves with the number of
   * workers it was handed to.
   */
  broadcast<C extends ChannelOf<WorkerMessages<S>>>(
    channel: C, payload: WorkerMessages<S>[C], options: { includeSelf?: boolean } = {},
  ): Promise<number> {
    const to = options.includeSelf === true ? { all: 1, self: 1 } as const : { all: 1 } as const;
    return this.#forward(to, channel, payload) as Promise<number>;
  }

  /**
   * Asks another worker's responder, through the primary. The target's exit fails it at once with
   * `STICKY_ERR_IPC_WORKER_EXIT`.
   * @throws {StickyError} as `request()`, and `STICKY_ERR_IPC_NO_WORKER`, `STICKY_ERR_IPC_WORKER_EXIT`
   */
  requestTo<C extends ChannelOf<WorkerRequests<S>>>(
    target: WorkerTarget, channel: C, payload: RequestOf<WorkerRequests<S>, C>, options?: RequestOptions,
  ): Promise<ResponseOf<WorkerRequests<S>, C>> {
    let to: WireTarget;
    try {
      to = toWireTarget(target);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#core.request(channel, PRIMARY_PEER, options, (id, timeout, settle) => {
      const frame: Frame = { k: 'q', i: id, c: channel, d: payload, t: timeout, to };
      this.#outbox.push(frame, settle);
      return this.#canceller(frame, id);
    }) as Promise<ResponseOf<WorkerRequests<S>, C>>;
  }

  #forward(to: WireTarget, channel: string, payload: unknown): Promise<unknown> {
    return this.#core.request(channel, PRIMARY_PEER, undefined, (id, timeout, settle) => {
      const frame: Frame = { k: 'q', i: id, c: channel, d: payload, t: timeout, to, a: 1 };
      this.#outbox.push(frame, settle);
      return this.#canceller(frame, id);
    });
  }

  /**
   * For a frame the primary forwards: taken back from the outbox if still there, else the primary is
   * told to drop it should it still wait for its slot's next worker.
   */
  #canceller(frame: Frame, id: number): () => void {
    return () => {
      if (!this.#outbox.withdraw(frame)) this.#outbox.push({ k: 'x', i: id });
    };
  }

  #reply = (frame: Frame): void => {
    this.#outbox.push(frame, replyFailed);
  };

  #onMessage = (message: unknown): void => {
    const frames = framesOf(message);
    if (frames === undefined) return;
    for (const frame of frames) {
      if (!isFrame(frame)) {
        this.#core.stats.dropped++;
        continue;
      }
      switch (frame.k) {
        case 'm':
          this.#core.deliver(frame.c, frame.d, senderOf(frame.f));
          break;
        case 'q':
          this.#core.answer(frame.i, frame.c, frame.d, senderOf(frame.f), this.#reply);
          break;
        default:
          // Everything on this channel comes from the primary, which forwards a worker's answer only
          // from the worker it sent the request to.
          this.#core.settle(frame, PRIMARY_PEER);
      }
    }
  };
}

/**
 * A response that cannot be written (channel closed, not serializable) is the caller's timeout; nothing else to do
 * here.
 */
function replyFailed(): void {}

let instance: WorkerBus | undefined;

/**
 * The application bus of this worker, typed by your schema. Every call returns the same bus.
 * Register listeners and responders before the worker becomes ready, so that nothing sent to it
 * after that finds no one.
 * @throws {StickyError} `STICKY_ERR_WRONG_PROCESS` in the primary.
 * @example
 * const bus = workerBus<AppBus>();
 * bus.on('cache:purge', ({ key }) => cache.delete(key));
 * bus.handle('session:get', ({ user }) => sessions.get(user) ?? null);
 * await bus.send('metrics:report', { requests: 12 });
 */
export function workerBus<S extends BusSchema = BusSchema>(): WorkerBus<S> {
  if (!cluster.isWorker || process.send === undefined) {
    throw new StickyError(ErrorCode.WrongProcess, '`workerBus()` works only in a worker.', {
      hint: 'In the primary, use `primary.bus()`.',
    });
  }
  if (instance === undefined) {
    instance = new WorkerBus(CONSTRUCT, inheritedOptions().ipcTimeout ?? DEFAULTS.ipcTimeout);
  }
  return instance as WorkerBus<S>;
}
