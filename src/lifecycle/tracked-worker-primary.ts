import type { Worker } from 'node:cluster';
import type { WorkerLink } from '../sticky/index.js';
import type { RuntimeMessageMap } from '../ipc/index.js';
import { deferred } from '../internal/deadline.js';

// A worker process as the supervisor tracks it: its readiness, retirement and exit, and the timers
// bound to them. Only its own methods change it; slot state (which worker serves which slot) is the
// slot owner's, not the worker's.

/** Why a new worker did not become ready. */
export type StartFailure = 'exited' | 'forkFailed' | 'readyTimeout' | 'shutdown';

export class Tracked {
  readonly worker: Worker;
  readonly slot: number;
  readonly link: WorkerLink;
  readonly forkedAt = performance.now();
  /** True once ready; false if it exited, failed or was abandoned first. */
  readonly settled: Promise<boolean>;
  readonly exited: Promise<void>;
  /** The successor's answer in a slot state handover: it adopted the state, or started empty. */
  readonly adopted: Promise<RuntimeMessageMap['sticky:adopted']>;
  /** Forked to replace the slot's worker in a planned replacement: the topology tells it about the state. */
  readonly isSuccessor: boolean;
  readonly #settle: (isReady: boolean) => void;
  readonly #adopt: (answer: RuntimeMessageMap['sticky:adopted']) => void;
  #hasHandoverOffer = false;
  /** While this worker hands its slot over: the successor its moved connections are forwarded to. */
  handoverTarget: Tracked | undefined;
  /** Connections this worker moved through the primary (forwardMovedSocket), since it started. */
  relayedSockets = 0;
  readonly #markExited: () => void;
  #isReady = false;
  #isRetiring = false;
  #hasClosedServer = false;
  #startFailure: StartFailure | undefined;
  #exitCode: number | null | undefined;
  #lastSeen = performance.now();
  #unansweredSince: number | undefined;
  #readyTimer: NodeJS.Timeout | undefined;
  #killTimer: NodeJS.Timeout | undefined;

  constructor(worker: Worker, slot: number, link: WorkerLink, isSuccessor = false) {
    this.worker = worker;
    this.slot = slot;
    this.link = link;
    this.isSuccessor = isSuccessor;
    const adopted = deferred<RuntimeMessageMap['sticky:adopted']>();
    this.adopted = adopted.promise;
    this.#adopt = adopted.resolve;
    const settled = deferred<boolean>();
    const exited = deferred<void>();
    this.settled = settled.promise;
    this.#settle = settled.resolve;
    this.exited = exited.promise;
    this.#markExited = () => exited.resolve();
  }

  get isReady(): boolean {
    return this.#isReady;
  }

  /** The runtime asked this worker to go (shutdown, drain, reload, scale down, a closed channel). */
  get isRetiring(): boolean {
    return this.#isRetiring;
  }

  /**
   * Its application closed its server: it takes no new connection and is never routed again; its exit
   * is expected (its slot's successor is on the way).
   */
  get hasClosedServer(): boolean {
    return this.#hasClosedServer;
  }

  markServerClosed(): void {
    this.#hasClosedServer = true;
  }

  /** Its application registered `onHandover()`: a planned replacement hands its slot state over. */
  get hasHandoverOffer(): boolean {
    return this.#hasHandoverOffer;
  }

  markHandoverOffer(): void {
    this.#hasHandoverOffer = true;
  }

  /** The worker answered a handover (the first answer counts). */
  markAdopted(answer: RuntimeMessageMap['sticky:adopted']): void {
    this.#adopt(answer);
  }

  /** The watchdog or a closed channel gave up on it: it is killed after a grace. */
  get isGivenUp(): boolean {
    return this.#killTimer !== undefined;
  }

  get startFailure(): StartFailure | undefined {
    return this.#startFailure;
  }

  /** Undefined while the process runs. */
  get exitCode(): number | null | undefined {
    return this.#exitCode;
  }

  /** performance.now() when the worker last answered (any message); read by the watchdog. */
  get lastSeen(): number {
    return this.#lastSeen;
  }

  markSeen(): void {
    this.#lastSeen = performance.now();
    this.#unansweredSince = undefined;
  }

  /**
   * performance.now() the watchdog counts the worker's silence from (its first heartbeat unanswered),
   * undefined since its last message. Only ready workers are pinged, so readiness needs no reset.
   */
  get unansweredSince(): number | undefined {
    return this.#unansweredSince;
  }

  /** A heartbeat went out; until the worker's next message its silence counts from `since`. */
  markPinged(since: number): void {
    this.#unansweredSince = since;
  }

  /** Starts the readiness deadline: `onTimeout` runs if the worker is not ready `timeout` ms from now. */
  awaitReady(timeout: number, onTimeout: () => void): void {
    this.#readyTimer = setTimeout(() => {
      if (this.#isReady) return;
      this.#startFailure ??= 'readyTimeout';
      onTimeout();
    }, timeout);
    this.#readyTimer.unref();
  }

  /** The worker announced readiness; false when it cannot take the slot (already ready, or retiring). */
  markReady(): boolean {
    if (this.#isReady || this.#isRetiring) return false;
    this.#isReady = true;
    this.#lastSeen = performance.now();
    if (this.#readyTimer !== undefined) clearTimeout(this.#readyTimer);
    this.#settle(true);
    return true;
  }

  markRetiring(): void {
    this.#isRetiring = true;
  }

  /** Nobody waits for this worker to start any more (shutdown began). */
  abandonStart(): void {
    if (!this.#isReady) this.#settle(false);
  }

  /**
   * Asks the worker to close: through its link, after every socket already routed to it, once it is
   * ready and connected; else SIGTERM, which runs its drain and exit hooks.
   */
  requestClose(message: object): void {
    this.#isRetiring = true;
    if (this.#isReady && this.worker.isConnected()) this.link.finish(message);
    // Only lifecycle kills: a worker that is not ready has no handler for our close message yet, and
    // one whose channel is closed cannot get it.
    else this.worker.process.kill('SIGTERM');
  }

  /** Gives up on the worker: SIGTERM now, `kill` after `grace` ms unless it exited by then (once). */
  terminate(grace: number, kill: () => void): void {
    // Only lifecycle kills: the callers say why they give up on the worker.
    this.worker.process.kill('SIGTERM');
    this.#killTimer ??= setTimeout(kill, grace);
  }

  /** The process is gone (or never started: `failure` 'forkFailed'). */
  markExited(code: number | null, failure: StartFailure): void {
    if (this.#readyTimer !== undefined) clearTimeout(this.#readyTimer);
    if (this.#killTimer !== undefined) clearTimeout(this.#killTimer);
    this.#exitCode = code;
    if (!this.#isReady) {
      this.#startFailure ??= failure;
      this.#settle(false);
    }
    this.#markExited();
  }

  /** Records why the worker did not start before its exit is handled (a fork that failed has no exit). */
  failStart(failure: StartFailure): void {
    this.#startFailure ??= failure;
  }
}
