import cluster, { type Worker } from 'node:cluster';
import { serialize } from 'node:v8';
import { ErrorCode, StickyError } from '../errors.js';
import { hasHandleInFlight } from '../internal/node-internals-primary.js';
import { BusCore } from './bus-core.js';
import { framesOf, isFrame, runtimeError, toWireTarget, type Frame, type WireKey, type WireSender, type WireTarget } from './bus-protocol.js';
import { Outbox, type SendChannel } from './outbox.js';
import { SlotWaiters, noWorker } from './slot-waiters-primary.js';
import { ForwardTable, type Forward } from './forwards-primary.js';
import type {
  BusSchema, BusSender, BusStats, ChannelOf, MessageListener, PrimaryMessages, PrimaryRequests, RequestOf, RequestOptions,
  Responder, ResponseOf, WorkerMessages, WorkerRequests, WorkerTarget,
} from './bus-types.js';

// The bus in the primary: answers workers, sends to them, and forwards worker → worker traffic,
// resolving `{ slot }` and `{ key }` targets with the balancer's routing. Requests waiting on a worker
// fail as soon as its channel closes.

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

interface Peer {
  readonly worker: Worker;
  readonly outbox: Outbox;
  readonly sender: BusSender;
  readonly wire: WireSender;
}

/** The application bus in the primary, typed by your `BusSchema`. Get it with `primary.bus<AppBus>()`. */
export class PrimaryBus<S extends BusSchema = BusSchema> {
  readonly #core: BusCore;
  readonly #directory: BusDirectory;
  readonly #peers = new Map<number, Peer>();
  readonly #forwards = new ForwardTable();
  readonly #waiting: SlotWaiters;
  /** Forwarded requests waiting for their slot's next worker, by asking worker and its request id: cancels. */
  readonly #waitingForwards = new Map<number, Map<number, () => void>>();
  #isClosed = false;

  /** @internal created by the primary */
  constructor(directory: BusDirectory, options: PrimaryBusOptions) {
    this.#core = new BusCore(options.timeout);
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
  sendTo<C extends ChannelOf<WorkerMessages<S>>>(target: WorkerTarget, channel: C, payload: WorkerMessages<S>[C]): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#core.stats.sent++;
      this.#resolveTarget(toWireTarget(target), (worker) => {
        this.#peer(worker).outbox.push({ k: 'm', c: channel, d: payload }, (error) => (error === undefined ? resolve() : reject(error)));
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
   * `STICKY_ERR_IPC_NO_HANDLER`, `STICKY_ERR_IPC_NO_WORKER`, `STICKY_ERR_IPC_WORKER_EXIT`; the signal's reason when aborted.
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

  /** Listens to a message channel that workers send to. */
  on<C extends ChannelOf<PrimaryMessages<S>>>(channel: C, listener: MessageListener<PrimaryMessages<S>[C]>): this {
    this.#core.on(channel, listener as MessageListener<unknown>);
    return this;
  }

  once<C extends ChannelOf<PrimaryMessages<S>>>(channel: C, listener: MessageListener<PrimaryMessages<S>[C]>): this {
    this.#core.once(channel, listener as MessageListener<unknown>);
    return this;
  }

  off<C extends ChannelOf<PrimaryMessages<S>>>(channel: C, listener: MessageListener<PrimaryMessages<S>[C]>): this {
    this.#core.off(channel, listener as MessageListener<unknown>);
    return this;
  }

  /**
   * Answers a request channel of the primary; the responder's return value (or resolved value) is
   * the response, what it throws reaches the worker as a `STICKY_ERR_IPC_REMOTE` error.
   * @throws {StickyError} `STICKY_ERR_INVALID_STATE` when the channel already has a responder.
   */
  handle<C extends ChannelOf<PrimaryRequests<S>>>(
    channel: C, responder: Responder<RequestOf<PrimaryRequests<S>, C>, ResponseOf<PrimaryRequests<S>, C>>,
  ): this {
    this.#core.handle(channel, responder as Responder<unknown, unknown>);
    return this;
  }

  unhandle<C extends ChannelOf<PrimaryRequests<S>>>(channel: C): this {
    this.#core.unhandle(channel);
    return this;
  }

  /** The primary's bus counters. */
  stats(): BusStats {
    return { ...this.#core.stats };
  }

  /** @internal the slot has a ready worker again: what waited for it goes out. */
  slotReady(slot: number): void {
    const worker = this.#directory.readyWorkerOf(slot);
    if (worker !== undefined) this.#waiting.release(slot, worker);
  }

  /** @internal the primary shut down: listeners go, requests still waiting fail. */
  close(): void {
    if (this.#isClosed) return;
    this.#isClosed = true;
    cluster.off('message', this.#onMessage);
    cluster.off('disconnect', this.#onGone);
    cluster.off('exit', this.#onGone);
    const closed = (): StickyError => new StickyError(ErrorCode.IpcClosed, 'The primary shut down.');
    this.#waiting.failAll(closed);
    this.#waitingForwards.clear();
    this.#forwards.clear();
    this.#core.failPeer(undefined, closed);
  }

  #peer(worker: Worker): Peer {
    let peer = this.#peers.get(worker.id);
    if (peer === undefined || peer.worker !== worker) {
      const slot = this.#directory.slotOf(worker) ?? -1;
      peer = {
        worker,
        outbox: new Outbox(deferSafeSend(worker), (cause) => workerExited(worker, cause)),
        sender: Object.freeze({ kind: 'worker', workerId: worker.id, slot }),
        wire: Object.freeze({ w: worker.id, s: slot }),
      };
      this.#peers.set(worker.id, peer);
    }
    return peer;
  }

  /**
   * Delivers to the target's worker now, or once its slot has a ready worker again. Returns a cancel
   * when the delivery waits for the slot (see SlotWaiters.wait for `expiresIn` and `onExpire`).
   */
  #resolveTarget(
    to: WireTarget, deliver: (worker: Worker) => void, fail: (error: StickyError) => void, expiresIn?: number, onExpire?: () => void,
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
      fail(noWorker(slot === undefined ? 'The key cannot be routed in this routing mode.' : `There is no slot ${slot} (${this.#directory.slotCount()} slots).`));
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

  #onMessage = (worker: Worker, message: unknown): void => {
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
          if (frame.to === undefined) this.#core.answer(frame.i, frame.c, frame.d, peer.sender, (reply) => peer.outbox.push(reply));
          else this.#forward(peer, frame.i, frame.to, frame.c, frame.d, frame.t, frame.a === 1);
          break;
        case 'x':
          this.#waitingForwards.get(worker.id)?.get(frame.i)?.();
          break;
        default:
          if (frame.i < 0) this.#returnForward(frame);
          else this.#core.settle(frame);
      }
    }
  };

  /**
   * A worker's request (or message with an ack) for another worker. One that waits for its slot's
   * next worker is dropped when its asker gives up: at its timeout, or on the asker's 'x' frame.
   */
  #forward(origin: Peer, originId: number, to: WireTarget, channel: string, payload: unknown, timeout: number, isMessage: boolean): void {
    if (isMessage && 'all' in to) {
      const frame: Frame = { k: 'm', c: channel, d: payload, f: origin.wire };
      void this.#broadcast(frame, to.self === 1 ? undefined : origin.worker.id).then((count) => origin.outbox.push({ k: 'r', i: originId, d: count }));
      return;
    }
    let isWaiting = false;
    const settled = (): void => {
      if (isWaiting) this.#forgetWaiting(origin.worker.id, originId);
    };
    const cancel = this.#resolveTarget(to, (worker) => {
      settled();
      if (isMessage) this.#deliverForwardedMessage(origin, originId, worker, channel, payload);
      else this.#deliverForwardedRequest(origin, originId, worker, channel, payload, timeout);
    }, (error) => {
      settled();
      origin.outbox.push({ k: 'e', i: originId, e: runtimeError(error) });
    }, timeout, settled);
    if (cancel === undefined) return;
    isWaiting = true;
    let waiting = this.#waitingForwards.get(origin.worker.id);
    if (waiting === undefined) this.#waitingForwards.set(origin.worker.id, waiting = new Map());
    waiting.set(originId, () => {
      settled();
      cancel();
    });
  }

  #forgetWaiting(origin: number, originId: number): void {
    const waiting = this.#waitingForwards.get(origin);
    waiting?.delete(originId);
    if (waiting?.size === 0) this.#waitingForwards.delete(origin);
  }

  #deliverForwardedMessage(origin: Peer, originId: number, worker: Worker, channel: string, payload: unknown): void {
    this.#peer(worker).outbox.push({ k: 'm', c: channel, d: payload, f: origin.wire }, (error) => {
      origin.outbox.push(error === undefined ? { k: 'r', i: originId, d: 1 } : { k: 'e', i: originId, e: runtimeError(error) });
    });
  }

  #deliverForwardedRequest(origin: Peer, originId: number, worker: Worker, channel: string, payload: unknown, timeout: number): void {
    const id = this.#forwards.add(origin.worker.id, originId, worker.id, timeout);
    this.#peer(worker).outbox.push({ k: 'q', i: id, c: channel, d: payload, t: timeout, f: origin.wire }, (error) => {
      if (error !== undefined) this.#failForward(this.#forwards.take(id), error);
    });
  }

  /** A worker answered a forwarded request: back to the worker that asked, under its own id. */
  #returnForward(frame: Frame & { k: 'r' | 'e' }): void {
    const forward = this.#forwards.take(frame.i);
    if (forward === undefined) {
      this.#core.stats.dropped++;
      return;
    }
    const origin = this.#peers.get(forward.origin);
    if (origin === undefined) return;
    origin.outbox.push(frame.k === 'r' ? { k: 'r', i: forward.originId, d: frame.d } : { k: 'e', i: forward.originId, e: frame.e });
  }

  #failForward(forward: Forward | undefined, error: StickyError): void {
    if (forward === undefined) return;
    this.#peers.get(forward.origin)?.outbox.push({ k: 'e', i: forward.originId, e: runtimeError(error) });
  }

  #onGone = (worker: Worker): void => {
    const exited = (): StickyError => workerExited(worker, undefined);
    const peer = this.#peers.get(worker.id);
    if (peer?.worker === worker) {
      this.#peers.delete(worker.id);
      peer.outbox.close(exited());
    }
    this.#core.failPeer(worker.id, exited);
    for (const forward of this.#forwards.takeGone(worker.id)) this.#failForward(forward, exited());
    // What it asked for and still waits for a slot: nobody waits for it any more.
    const waiting = this.#waitingForwards.get(worker.id);
    if (waiting !== undefined) for (const cancel of [...waiting.values()]) cancel();
  };
}

/**
 * worker.send() that never throws later. While a handle (a socket handoff, a slot's listening socket)
 * is in flight, Node queues later messages unserialized and serializes them when the worker's ACK
 * arrives, inside its own event handler, where a payload that cannot be serialized (a cycle, a
 * BigInt on a JSON channel) would crash the primary. So in that case the batch is serialized once
 * here first, and a failure throws now, where the outbox turns it into STICKY_ERR_IPC_INVALID_PAYLOAD.
 */
function deferSafeSend(worker: Worker): SendChannel {
  const isAdvanced = cluster.settings.serialization === 'advanced';
  return (message, callback) => {
    if (hasHandleInFlight(worker.process)) {
      if (isAdvanced) serialize(message);
      else JSON.stringify(message);
    }
    worker.send(message, callback);
  };
}

function workerExited(worker: Worker, cause: Error | undefined): StickyError {
  return new StickyError(ErrorCode.IpcWorkerExit, `Worker ${worker.id} exited before it answered.`, {
    cause, hint: 'Retry: a request by `{ slot }` or `{ key }` reaches the slot\'s next worker.',
  });
}
