import type { Logger } from '../logger.js';
import { pause, waitUntil } from '../internal/deadline.js';
import { ErrorCode, StickyError } from '../errors.js';
import type { ResolvedListenOptions } from '../options/index.js';
import type { Balancer } from '../sticky/index.js';
import type { Supervisor } from './supervisor-primary.js';

// One shutdown, whatever starts it: stop accepting → flush waiting sockets → each worker drains
// (when waiting) and runs its exit hooks → wait for every exit, SIGKILL what outlives the deadline.

export type ShutdownReason = 'closeMaster' | 'signal' | 'masterclose' | 'api';

export interface ShutdownResult {
  reason: ShutdownReason;
  waitForConnections: boolean;
  /** Ids of workers killed at `shutdownTimeout`. */
  killed: number[];
  /** Set when workers had to be killed (`STICKY_ERR_SHUTDOWN_TIMEOUT`). */
  error: StickyError | undefined;
}

/** Exit code of the primary when workers outlived `shutdownTimeout` and were killed. */
export const EXIT_CODE_KILLED = 1;

export class PrimaryShutdown {
  readonly #options: Readonly<ResolvedListenOptions>;
  readonly #supervisor: Supervisor;
  readonly #balancer: Balancer;
  readonly #log: Logger;
  #promise: Promise<ShutdownResult> | undefined;
  #waitForConnections = true;
  /** Ends the `shutdownDelay` early (escalation). */
  readonly #endDelay = new AbortController();

  constructor(options: Readonly<ResolvedListenOptions>, supervisor: Supervisor, balancer: Balancer, log: Logger) {
    this.#options = options;
    this.#supervisor = supervisor;
    this.#balancer = balancer;
    this.#log = log.child({ component: 'lifecycle' });
  }

  get isStarted(): boolean {
    return this.#promise !== undefined;
  }

  /** Starts the shutdown, or joins the one already running. */
  /** `onDelayEnd` runs once the `shutdownDelay` window is over (at once without one), as the port closes. */
  run(
    reason: ShutdownReason, waitForConnections: boolean, onDelayEnd: () => void = () => undefined,
  ): Promise<ShutdownResult> {
    if (this.#promise !== undefined) {
      if (!waitForConnections) this.escalate();
      return this.#promise;
    }
    this.#waitForConnections = waitForConnections;
    this.#promise = this.#execute(reason, waitForConnections, onDelayEnd);
    return this.#promise;
  }

  /** The fast path: stop waiting for connections in every worker. */
  escalate(): void {
    if (this.#promise === undefined || !this.#waitForConnections) return;
    this.#waitForConnections = false;
    this.#log.info({}, 'shutdown escalated: not waiting for connections');
    this.#endDelay.abort();
    this.#supervisor.closeAll({ waitForConnections: false, timeout: 0 });
  }

  async #execute(reason: ShutdownReason, waitForConnections: boolean, onDelayEnd: () => void): Promise<ShutdownResult> {
    this.#log.info({ reason, waitForConnections }, 'shutdown begin');
    this.#supervisor.beginShutdown();
    if (waitForConnections && this.#options.shutdownDelay > 0) await this.#delay();
    // Escalated during the delay: go the fast way.
    waitForConnections = this.#waitForConnections;
    onDelayEnd();
    this.#supervisor.stopRespawning();
    // The port's queue is accepted and routed first (when waiting), so every worker still takes it.
    await this.#balancer.stopAccepting(waitForConnections);
    waitForConnections = this.#waitForConnections;
    // Every slot goes away: under kernel steering no worker takes over a slot's socket, so each
    // worker keeps accepting on it until the primary says that its queue is empty.
    const timeout = waitForConnections ? this.#options.drainTimeout : 0;
    this.#supervisor.closeAll({ waitForConnections, timeout, isSlotRemoved: true });
    let killed: number[] = [];
    let error: StickyError | undefined;
    if (!(await this.#allExited(this.#options.shutdownTimeout))) {
      killed = this.#supervisor.killAll();
      this.#log.warn({ workerIds: killed, shutdownTimeout: this.#options.shutdownTimeout },
        'workers killed at shutdown deadline');
      error = new StickyError(
        ErrorCode.ShutdownTimeout,
        `Worker(s) ${killed.join(', ')} did not exit within \`shutdownTimeout\` `
          + `(${this.#options.shutdownTimeout} ms) and were killed.`,
        { hint: 'Make exit hooks finish sooner, or raise `shutdownTimeout`.' },
      );
      await this.#allExited(Infinity);
    }
    this.#log.info({ reason, killed: killed.length }, 'shutdown end');
    return { reason, waitForConnections, killed, error };
  }

  /**
   * Keeps accepting and serving for `shutdownDelay` while readiness already fails, so that load
   * balancers (Kubernetes endpoints) stop sending new connections before the port closes.
   */
  async #delay(): Promise<void> {
    const delay = this.#options.shutdownDelay;
    this.#log.info({ shutdownDelay: delay }, 'shutdown delay: still serving');
    await pause(delay, this.#endDelay.signal);
  }

  /** True once every worker exited, false when `timeout` ms pass first. */
  #allExited(timeout: number): Promise<boolean> {
    const supervisor = this.#supervisor;
    return waitUntil(supervisor, 'workerExit', () => supervisor.workers().length === 0, { timeout });
  }
}
