import type { Worker } from 'node:cluster';
import type { StickyError } from '../errors.js';
import { MAX_TIMER_MS } from '../options/index.js';
import { runtimeError, type Frame, type WireTarget } from './bus-protocol.js';
import type { Peer } from './peers-primary.js';

// Requests one worker sends another through the primary. Each gets an id of the primary's own
// (negative, so it never meets the primary's own requests' ids) and waits here for its response,
// which goes back to the asking worker under the id it chose.

interface Forward {
  /** The asking worker and its request id. */
  readonly origin: number;
  readonly originId: number;
  /** The answering worker. */
  readonly target: number;
  readonly timer: NodeJS.Timeout;
}

/** Room for a response to arrive after the caller's own deadline (the caller drops it then). */
const SLACK_MS = 1_000;

class ForwardTable {
  readonly #forwards = new Map<number, Forward>();
  #nextId = -1;

  /** Registers a forwarded request; forgotten at its deadline. Returns the id to send it under. */
  add(origin: number, originId: number, target: number, timeout: number): number {
    const id = this.#nextId--;
    const timer = setTimeout(() => this.#forwards.delete(id), Math.min(timeout + SLACK_MS, MAX_TIMER_MS));
    timer.unref();
    this.#forwards.set(id, { origin, originId, target, timer });
    return id;
  }

  /** The forward with `id`; undefined when unknown or past its deadline. */
  get(id: number): Forward | undefined {
    return this.#forwards.get(id);
  }

  /** The forward answered by `id`, removed; undefined when unknown or past its deadline. */
  take(id: number): Forward | undefined {
    const forward = this.#forwards.get(id);
    if (forward === undefined) return undefined;
    this.#forwards.delete(id);
    clearTimeout(forward.timer);
    return forward;
  }

  /**
   * A worker is gone: forwards it should have answered are taken and returned (their askers get an
   * error); forwards it asked are dropped (nobody waits for them).
   */
  takeGone(worker: number): Forward[] {
    const unanswered: Forward[] = [];
    for (const [id, forward] of this.#forwards) {
      if (forward.target === worker) unanswered.push(this.take(id) as Forward);
      else if (forward.origin === worker) this.take(id);
    }
    return unanswered;
  }

  clear(): void {
    for (const forward of this.#forwards.values()) clearTimeout(forward.timer);
    this.#forwards.clear();
  }
}

/** What forwarding needs of the primary's bus: its peers, its target resolution and its broadcast. */
export interface ForwardRoutes {
  peerOf(worker: Worker): Peer;
  knownPeer(workerId: number): Peer | undefined;
  /** Delivers now or once the target's slot has a ready worker; returns a cancel while it waits. */
  resolveTarget(to: WireTarget, deliver: (worker: Worker) => void, fail: (error: StickyError) => void,
    expiresIn?: number, onExpire?: () => void): (() => void) | undefined;
  broadcast(frame: Frame, except: number | undefined): Promise<number>;
  /** A response nobody waits for any more. */
  drop(): void;
  /** A response from a worker the request was not forwarded to. */
  foreign(): void;
}

/** Worker → worker messages and requests through the primary, and their way back. */
export class Forwarder {
  readonly #routes: ForwardRoutes;
  readonly #table = new ForwardTable();
  /** Forwarded requests waiting for their slot's next worker, by asking worker and its request id: cancels. */
  readonly #waiting = new Map<number, Map<number, () => void>>();

  constructor(routes: ForwardRoutes) {
    this.#routes = routes;
  }

  /**
   * A worker's request (or message with an ack) for another worker. One that waits for its slot's
   * next worker is dropped when its asker gives up: at its timeout, or on the asker's 'x' frame.
   */
  forward(
    origin: Peer, originId: number, to: WireTarget, channel: string, payload: unknown, timeout: number,
    isMessage: boolean,
  ): void {
    if (isMessage && 'all' in to) {
      const frame: Frame = { k: 'm', c: channel, d: payload, f: origin.wire };
      void this.#routes.broadcast(frame, to.self === 1 ? undefined : origin.worker.id)
        .then((count) => origin.outbox.push({ k: 'r', i: originId, d: count }));
      return;
    }
    let isWaiting = false;
    const settled = (): void => {
      if (isWaiting) this.#forgetWaiting(origin.worker.id, originId);
    };
    const cancel = this.#routes.resolveTarget(to, (worker) => {
      settled();
      if (isMessage) this.#deliverMessage(origin, originId, worker, channel, payload);
      else this.#deliverRequest(origin, originId, worker, channel, payload, timeout);
    }, (error) => {
      settled();
      origin.outbox.push({ k: 'e', i: originId, e: runtimeError(error) });
    }, timeout, settled);
    if (cancel === undefined) return;
    isWaiting = true;
    let waiting = this.#waiting.get(origin.worker.id);
    if (waiting === undefined) this.#waiting.set(origin.worker.id, waiting = new Map());
    waiting.set(originId, () => {
      settled();
      cancel();
    });
  }

  /** The asker gave up on its request `originId` ('x' frame): dropped if it still waits for its slot. */
  cancel(origin: number, originId: number): void {
    this.#waiting.get(origin)?.get(originId)?.();
  }

  /**
   * Worker `from` answered a forwarded request: back to the worker that asked, under its own id. Only
   * the worker it was forwarded to may answer; another's answer is dropped and the request still waits.
   */
  answered(from: number, frame: Frame & { k: 'r' | 'e' }): void {
    const waiting = this.#table.get(frame.i);
    if (waiting === undefined) {
      this.#routes.drop();
      return;
    }
    if (waiting.target !== from) {
      this.#routes.foreign();
      return;
    }
    const forward = this.#table.take(frame.i) as Forward;
    const origin = this.#routes.knownPeer(forward.origin);
    if (origin === undefined) return;
    origin.outbox.push(frame.k === 'r'
      ? { k: 'r', i: forward.originId, d: frame.d }
      : { k: 'e', i: forward.originId, e: frame.e });
  }

  /** A worker is gone: what it should have answered fails, what it asked for and still waits is dropped. */
  workerGone(worker: number, exited: () => StickyError): void {
    for (const forward of this.#table.takeGone(worker)) this.#fail(forward, exited());
    const waiting = this.#waiting.get(worker);
    if (waiting !== undefined) for (const cancel of [...waiting.values()]) cancel();
  }

  clear(): void {
    this.#waiting.clear();
    this.#table.clear();
  }

  #forgetWaiting(origin: number, originId: number): void {
    const waiting = this.#waiting.get(origin);
    waiting?.delete(originId);
    if (waiting?.size === 0) this.#waiting.delete(origin);
  }

  #deliverMessage(origin: Peer, originId: number, worker: Worker, channel: string, payload: unknown): void {
    this.#routes.peerOf(worker).outbox.push({ k: 'm', c: channel, d: payload, f: origin.wire }, (error) => {
      origin.outbox.push(error === undefined
        ? { k: 'r', i: originId, d: 1 }
        : { k: 'e', i: originId, e: runtimeError(error) });
    });
  }

  #deliverRequest(
    origin: Peer, originId: number, worker: Worker, channel: string, payload: unknown, timeout: number,
  ): void {
    const id = this.#table.add(origin.worker.id, originId, worker.id, timeout);
    const frame: Frame = { k: 'q', i: id, c: channel, d: payload, t: timeout, f: origin.wire };
    this.#routes.peerOf(worker).outbox.push(frame, (error) => {
      if (error !== undefined) this.#fail(this.#table.take(id), error);
    });
  }

  #fail(forward: Forward | undefined, error: StickyError): void {
    if (forward === undefined) return;
    this.#routes.knownPeer(forward.origin)?.outbox.push({ k: 'e', i: forward.originId, e: runtimeError(error) });
  }
}
