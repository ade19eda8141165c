import cluster, { type Worker } from 'node:cluster';
import { ErrorCode, StickyError } from '../errors.js';
import { runtimeListener } from '../internal/runtime-listeners.js';
import { BusCore } from './bus-core.js';
import { BusEndpoint } from './bus-endpoint.js';
import { framesOf, isFrame, toWireTarget, type Frame, type WireKey, type WireTarget } from './bus-protocol.js';
import type { Outbox } from './outbox.js';
import { SlotWaiters, noWorker } from './slot-waiters-primary.js';
import { Forwarder } from './forwards-primary.js';
import { createPeer, workerExited, type Peer } from './peers-primary.js';
import type {
  BusSchema, ChannelOf, PrimaryMessages, PrimaryRequests, RequestOf, RequestOptions, ResponseOf, WorkerMessages,
  WorkerRequests, WorkerTarget,
} from './bus-types.js';

// The bus in the primary: answers workers, sends to them, and forwards worker → worker traffic,
// resolving `{ slot }` and `{ key }` targets with the balancer's routing. Requests waiting on a worker
// fail as soon as its channel closes. One concern over 250 lines: the typed public methods and their
// JSDoc are most of it, each a thin call into the shared core.

/** What the bus needs to know of the workers; the composition root wires it to the supervisor and the balancer. */
export interface BusDirectory {
  /** The slot of a worker of ours, or undefined. */
  slotOf(worker: Worker): number | undefined;
  /** The slot's current ready worker, if any. */
  readyWorkerOf(slot: number): Worker | undefined;
  slotCount(): number;
  /** The slot the balancer routes `key` to; undefined when the key cannot be routed in its mode. */
  slotOfKey(key: WireKey): number | undefined;
}

export interface PrimaryBusOptions {
  /** Default request timeout, ms. */
  timeout: number;
  /** Ms a frame waits for its slot's worker to become ready. */
  slotWaitTimeout: number;
  /** Frames that may wait for one slot. */
  slotQueueLimit: number;
}

/** What only the primary itself does with its bus; the bus's users never see it. */
export interface PrimaryBusControl {
  readonly bus: PrimaryBus;
  /** The slot has a ready worker again: what waited for it goes out. */
  slotReady(slot: number): void;
  /** The primary shut down: listeners go, requests still waiting fail. */
  close(): void;
}

/** The class is exported (for `instanceof`); only openPrimaryBus() constructs it. */
const CONSTRUCT = Symbol('PrimaryBus');
let controlOf: (bus: PrimaryBus) => PrimaryBusControl;

/** The application bus in the primary, typed by your `BusSchema`. Get it with `primary.bus<AppBus>()`. */
export class PrimaryBus<S extends BusSchema = BusSchema> extends BusEndpoint<PrimaryMessages<S>, PrimaryRequests<S>> {
  readonly #core: BusCore;
  readonly #directory: BusDirectory;
  readonly #peers = new Map<number, Peer>();
  readonly #waiting: SlotWaiters;
  readonly #forwarder = new Forwarder({
    peerOf: (worker) => this.#peer(worker),
    knownPeer: (workerId) => this.#peers.get(workerId),
    resolveTarget: (to, deliver, fail, expiresIn, onExpire) =>
      this.#resolveTarget(to, deliver, fail, expiresIn, onExpire),
    broadcast: (frame, except) => this.#broadcast(frame, except),
    drop: () => { this.#core.stats.dropped++; },
    foreign: () => { this.#core.stats.foreignResponses++; },
  });
  #isClosed = false;

  static {
    controlOf = (bus) => ({ bus, slotReady: (slot) => bus.#slotReady(slot), close: () => bus.#close() });
  }

  /** @internal created by the primary */
  constructor(token: typeof CONSTRUCT, directory: BusDirectory, options: PrimaryBusOptions) {
    if (token !== CONSTRUCT) {
      throw new StickyError(ErrorCode.InvalidState, 'A PrimaryBus cannot be constructed directly.',
        { hint: 'Use `primary.bus()`.' });
    }
    const core = new BusCore(options.timeout);
    super(core);
    this.#core = core;
    this.#directory = directory;
    this.#waiting = new SlotWaiters(options.slotQueueLimit, options.slotWaitTimeout);
    cluster.on('message', this.#onMessage);
    cluster.on('disconnect', this.#onGone);
    cluster.on('exit', this.#onGone);
  }

  /**
   * Sends a message to one worker. A slot without a ready worker (being respawned or replaced) is
   * waited for, up to `slotWaitTimeout`. Resolves once written to the worker's channel.
   * @throws {StickyError} `STICKY_ERR_IPC_NO_WORKER`, `STICKY_ERR_IPC_WORKER_EXIT`, `STICKY_ERR_IPC_INVALID_PAYLOAD`
   */
  sendTo<C extends ChannelOf<WorkerMessages<S>>>(
    target: WorkerTarget, channel: C, payload: WorkerMessages<S>[C],
  ): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#core.stats.sent++;
      this.#resolveTarget(toWireTarget(target), (worker) => {
        this.#peer(worker).outbox.push({ k: 'm', c: channel, d: payload },
          (error) => (error === undefined ? resolve() : reject(error)));
      }, reject);
    });
  }

  /** Sends a message to every worker with an open channel; resolves with how many it was sent to. */
  broadcast<C extends ChannelOf<WorkerMessages<S>>>(channel: C, payload: WorkerMessages<S>[C]): Promise<number> {
    this.#core.stats.sent++;
    return this.#broadcast({ k: 'm', c: channel, d: payload }, undefined);
  }

  /**
   * Asks one worker's responder. The worker's exit fails it at once with `STICKY_ERR_IPC_WORKER_EXIT`.
   * @throws {StickyError} `STICKY_ERR_IPC_TIMEOUT`, `STICKY_ERR_IPC_REMOTE` (the responder threw),
   * `STICKY_ERR_IPC_NO_HANDLER`, `STICKY_ERR_IPC_NO_WORKER`, `STICKY_ERR_IPC_WORKER_EXIT`; the signal's reason when
   * aborted.
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
    return this.#core.request(channel, Number.NaN, options, (id, timeout, settle) => {
      let outbox: Outbox | undefined;
      let frame: Frame | undefined;
      const cancelWait = this.#resolveTarget(to, (worker) => {
        this.#core.setPeer(id, worker.id);
        outbox = this.#peer(worker).outbox;
        frame = { k: 'q', i: id, c: channel, d: payload, t: timeout };
        outbox.push(frame, settle);
      }, settle);
      // The caller gave up: out of the slot's queue, or out of the worker's outbox if not written yet.
      return () => {
        cancelWait?.();
        if (outbox !== undefined && frame !== undefined) outbox.withdraw(frame);
      };
    }) as Promise<ResponseOf<WorkerRequests<S>, C>>;
  }

  #slotReady(slot: number): void {
    const worker = this.#directory.readyWorkerOf(slot);
    if (worker !== undefined) this.#waiting.release(slot, worker);
  }

  #close(): void {
    if (this.#isClosed) return;
    this.#isClosed = true;
    cluster.off('message', this.#onMessage);
    cluster.off('disconnect', this.#onGone);
    cluster.off('exit', this.#onGone);
    const closed = (): StickyError => new StickyError(ErrorCode.IpcClosed, 'The primary shut down.');
    this.#waiting.failAll(closed);
    this.#forwarder.clear();
    this.#core.failPeer(undefined, closed);
  }

  #peer(worker: Worker): Peer {
    let peer = this.#peers.get(worker.id);
    if (peer === undefined || peer.worker !== worker) {
      peer = createPeer(worker, this.#directory.slotOf(worker) ?? -1);
      this.#peers.set(worker.id, peer);
    }
    return peer;
  }

  /**
   * Delivers to the target's worker now, or once its slot has a ready worker again. Returns a cancel
   * when the delivery waits for the slot (see SlotWaiters.wait for `expiresIn` and `onExpire`).
   */
  #resolveTarget(
    to: WireTarget, deliver: (worker: Worker) => void, fail: (error: StickyError) => void,
    expiresIn?: number, onExpire?: () => void,
  ): (() => void) | undefined {
    if (this.#isClosed) {
      fail(new StickyError(ErrorCode.IpcClosed, 'The primary shut down.'));
      return undefined;
    }
    if ('w' in to) {
      const worker = cluster.workers?.[to.w];
      if (worker !== undefined && worker.isConnected()) deliver(worker);
      else fail(noWorker(`No worker with id ${to.w} is connected.`));
      return undefined;
    }
    if ('all' in to) {
      fail(noWorker('A broadcast has no single target.'));
      return undefined;
    }
    const slot = 's' in to ? to.s : this.#directory.slotOfKey(to.key);
    if (slot === undefined || slot < 0 || slot >= this.#directory.slotCount()) {
      fail(noWorker(slot === undefined
        ? 'The key cannot be routed in this routing mode.'
        : `There is no slot ${slot} (${this.#directory.slotCount()} slots).`));
      return undefined;
    }
    const worker = this.#directory.readyWorkerOf(slot);
    if (worker !== undefined) {
      deliver(worker);
      return undefined;
    }
    return this.#waiting.wait(slot, deliver, fail, expiresIn, onExpire);
  }

  /** Resolves once every copy was written, with the number of workers that got one. */
  #broadcast(frame: Frame, except: number | undefined): Promise<number> {
    return new Promise((resolve) => {
      let waiting = 1;
      let written = 0;
      // One settle for every copy; no promise per worker (a broadcast may be hot).
      const done = (): void => {
        if (--waiting === 0) resolve(written);
      };
      const settle = (error: StickyError | undefined): void => {
        if (error === undefined) written++;
        done();
      };
      for (const worker of Object.values(cluster.workers ?? {})) {
        if (worker === undefined || worker.id === except || !worker.isConnected()) continue;
        waiting++;
        // A worker whose channel closes meanwhile is simply not counted.
        this.#peer(worker).outbox.push(frame, settle);
      }
      done();
    });
  }

  // Marked as the runtime's: a handle sent with a message nobody else listens to is closed (lifecycle).
  #onMessage = runtimeListener((worker: Worker, message: unknown): void => {
    const frames = framesOf(message);
    if (frames === undefined) return;
    const peer = this.#peer(worker);
    for (const frame of frames) {
      if (!isFrame(frame)) {
        this.#core.stats.dropped++;
        continue;
      }
      switch (frame.k) {
        case 'm':
          this.#core.deliver(frame.c, frame.d, peer.sender);
          break;
        case 'q':
          if (frame.to === undefined) {
            this.#core.answer(frame.i, frame.c, frame.d, peer.sender, (reply) => peer.outbox.push(reply));
          } else {
            this.#forwarder.forward(peer, frame.i, frame.to, frame.c, frame.d, frame.t, frame.a === 1);
          }
          break;
        case 'x':
          this.#forwarder.cancel(worker.id, frame.i);
          break;
        default:
          // Settles only what was sent to this worker: another worker's answer is dropped and counted.
          if (frame.i < 0) this.#forwarder.answered(worker.id, frame);
          else this.#core.settle(frame, worker.id);
      }
    }
  });

  #onGone = (worker: Worker): void => {
    const exited = (): StickyError => workerExited(worker, undefined);
    const peer = this.#peers.get(worker.id);
    if (peer?.worker === worker) {
      this.#peers.delete(worker.id);
      peer.outbox.close(exited());
    }
    this.#core.failPeer(worker.id, exited);
    this.#forwarder.workerGone(worker.id, exited);
  };
}

/** The primary's bus and its own handle on it. */
export function openPrimaryBus(directory: BusDirectory, options: PrimaryBusOptions): PrimaryBusControl {
  return controlOf(new PrimaryBus(CONSTRUCT, directory, options));
}
