import cluster from 'node:cluster';
import type { AddressInfo } from 'node:net';
import type { Logger } from './logger.js';
import {
  checkWorkerCount, normalizeListenOptions, type ListenOptions, type ResolvedListenOptions,
} from './options/index.js';
import { ErrorCode, StickyError } from './errors.js';
import { TypedEmitter } from './internal/typed-emitter.js';
import { waitUntil } from './internal/deadline.js';
import { Balancer } from './sticky/index.js';
import type { PrimaryBus, PrimaryBusControl, BusSchema } from './ipc/index.js';
import {
  PrimaryShutdown, Supervisor, Topology, closingError, exitAfterShutdown, exitCodeOf, installShutdownSignals,
  isClosing, transition, type LifecycleState, type ReloadReport, type ShutdownReason, type ShutdownResult,
} from './lifecycle/index.js';
import type { MetricsServer } from './ops/index.js';
import { createPrimaryBus } from './bus-directory-primary.js';
import { collectStats, openStats, type PrimaryStats, type StatsSources } from './stats-primary.js';
import { forwardPrimaryEvents, type PrimaryEvents } from './events-primary.js';
import { bindPorts } from './bind-ports-primary.js';

export type { PrimaryEvents, ShutdownStartInfo } from './events-primary.js';

// Composition root in the primary: balancer (sticky) + supervisor and shutdown (lifecycle), and the
// handle's public methods with their documented errors (one concern, hence a little past 250 lines).
// Its events are events-primary.ts's, binding the ports bind-ports-primary.ts's, stats and /metrics
// stats-primary.ts's, the lifecycle's states lifecycle/state.ts's.

/** Only this module constructs a primary, from options validated once (createPrimary, listen, the CLI). */
const CONSTRUCT = Symbol('StickyPrimary');
/** Key of the shutdown with its own reason, out of reach of the handle's users (see `closeFor`). */
const CLOSE_FOR: unique symbol = Symbol('closeFor');

export interface CloseOptions {
  /** Let in-flight requests finish (drain) before the workers exit. @default true */
  waitForConnections?: boolean;
}

/** The primary's handle: the balancer, the worker slots and the shutdown. */
export class StickyPrimary extends TypedEmitter<PrimaryEvents> {
  /** The options as validated, with every default applied (frozen). */
  readonly options: Readonly<ResolvedListenOptions>;
  readonly #log: Logger;
  readonly #balancer: Balancer;
  readonly #supervisor: Supervisor;
  readonly #shutdown: PrimaryShutdown;
  readonly #topology: Topology;
  readonly #bus: PrimaryBusControl;
  #state: LifecycleState = 'starting';
  #removeSignals: (() => void) | undefined;
  #address: AddressInfo | undefined;
  #isListenCalled = false;
  readonly #metrics: MetricsServer | undefined;
  readonly #stats: StatsSources;

  /** @internal use `createPrimary()` or `listen()` */
  constructor(token: typeof CONSTRUCT, options: Readonly<ResolvedListenOptions>) {
    if (token !== CONSTRUCT) {
      throw new StickyError(ErrorCode.InvalidState, 'A StickyPrimary cannot be constructed directly.', {
        hint: 'Call `createPrimary(options)` or `listen(server, port, options)`: they validate the options.',
      });
    }
    super();
    this.options = options;
    // Every component logger is a child of the root: pino repeats a binding given again to a child's
    // child ("component" twice in one line) instead of replacing it.
    const root = options.logger;
    this.#log = root.child({ component: 'primary' });
    this.#balancer = new Balancer(options, root.child({ component: 'sticky' }),
      (event, payload) => this.emit(event, payload as never));
    this.#supervisor = new Supervisor(options, this.#balancer.slots, root);
    this.#shutdown = new PrimaryShutdown(options, this.#supervisor, this.#balancer, root);
    this.#topology = new Topology(options, this.#supervisor, root);
    const opened = openStats({
      balancer: this.#balancer, supervisor: this.#supervisor, topology: this.#topology, state: () => this.#state,
    }, options, root);
    this.#stats = opened.sources;
    this.#metrics = opened.metrics;
    this.#bus = createPrimaryBus(this.#supervisor, this.#balancer, options);
    forwardPrimaryEvents({
      supervisor: this.#supervisor, topology: this.#topology, balancer: this.#balancer, figures: this.#stats.figures,
      log: this.#log,
      emit: (event, payload) => this.emit(event as never, payload as never),
    });
    this.#supervisor.on('masterclose', (payload) => {
      this.emit('masterclose', payload);
      void this[CLOSE_FOR]('masterclose', payload.waitForConnections).then(exitAfterShutdown);
    });
    if (options.handleSignals) {
      this.#removeSignals = installShutdownSignals({
        shutdown: () => this[CLOSE_FOR]('signal', true),
        escalate: () => this.#shutdown.escalate(),
        // Failures are reported through events and the error log; a signal has nobody to reject to.
        reload: () => void this.reload().catch(() => undefined),
        scaleBy: (delta) => void this.#topology.scaleBy(delta).catch(() => undefined),
      });
    }
    this.#supervisor.start();
  }

  /**
   * The application bus to and from the workers, typed by your schema (every call returns the same
   * bus). Messages to a slot whose worker is being respawned or replaced wait for the new worker, up
   * to `slotWaitTimeout`, then fail with `STICKY_ERR_IPC_NO_WORKER`.
   * @example
   * const bus = primary.bus<AppBus>();
   * bus.on('metrics:report', ({ requests }, from) => totals.set(from.slot, requests));
   * await bus.broadcast('cache:purge', { key: 'user:42' });
   * const session = await bus.requestTo({ key: '203.0.113.7' }, 'session:get', { user: '42' });
   */
  bus<S extends BusSchema = BusSchema>(): PrimaryBus<S> {
    return this.#bus.bus as PrimaryBus<S>;
  }

  get state(): LifecycleState {
    return this.#state;
  }

  /** The public address once listening. */
  address(): AddressInfo | undefined {
    return this.#address;
  }

  /** The address of the `metrics` endpoint once it listens. */
  metricsAddress(): AddressInfo | undefined {
    return this.#metrics?.address();
  }

  /**
   * Binds the public port (and the `metrics` endpoint's, first). Once: after a failure, another
   * call may try again.
   * @throws {StickyError} `STICKY_ERR_LISTEN_FAILED` when a port cannot be bound,
   * `STICKY_ERR_INVALID_STATE` when already listening or after close.
   */
  async listen(port: number, host?: string): Promise<AddressInfo> {
    if (isClosing(this.#state)) throw closingError(this.#state, 'listen');
    if (this.#isListenCalled) {
      throw new StickyError(ErrorCode.InvalidState, 'The primary already listens (or is binding its port).',
        { hint: 'Call `listen()` once.' });
    }
    this.#isListenCalled = true;
    return this.#listen(port, host).catch((error: unknown) => {
      this.#isListenCalled = false;
      throw error;
    });
  }

  async #listen(port: number, host: string | undefined): Promise<AddressInfo> {
    this.#address = await bindPorts(this.#balancer, this.#metrics, this.options, port, host);
    if (this.#state === 'starting') this.#state = transition(this.#state, 'running');
    this.#log.info({ port: this.#address.port }, 'primary listening');
    this.emit('listening', this.#address);
    return this.#address;
  }

  /**
   * Resolves once every slot has a ready worker.
   * @throws {StickyError} `STICKY_ERR_WORKER_START_FAILED` when that takes longer than `timeout`
   * (default: `readyTimeout`); the signal's reason when aborted; `STICKY_ERR_INVALID_STATE` after close.
   */
  async whenReady(
    { timeout = this.options.readyTimeout, signal }: { timeout?: number; signal?: AbortSignal } = {},
  ): Promise<void> {
    if (isClosing(this.#state)) throw closingError(this.#state, 'whenReady');
    const supervisor = this.#supervisor;
    const isEveryReady = (): boolean => supervisor.readyCount() >= supervisor.slotCount;
    const isReady = await waitUntil(supervisor, 'workerReady', isEveryReady, { timeout, signal });
    if (!isReady) {
      throw new StickyError(ErrorCode.WorkerStartFailed, `Not every slot had a ready worker within ${timeout} ms.`, {
        hint: 'See `stats().slots` and the worker logs.',
      });
    }
  }

  /**
   * Rolling restart: each slot in turn gets a new worker (loading the code from disk now), which
   * takes over the slot's clients once ready; the old one drains. Never fewer ready workers.
   * A reload during a reload queues one more after it.
   * @throws {StickyError} `STICKY_ERR_RELOAD_FAILED` (with `report`) when a replacement fails to
   * start: the old worker keeps serving and the rollout stops. `STICKY_ERR_INVALID_STATE` after close.
   */
  reload(): Promise<ReloadReport> {
    if (isClosing(this.#state)) return Promise.reject(closingError(this.#state, 'reload'));
    return this.#topology.reload();
  }

  /**
   * Grows or shrinks to `workers` slots, adding or removing the last ones. A new slot takes
   * clients only once its worker is ready (~1/n of them move to it); a removed slot drains.
   * @throws {StickyError} `STICKY_ERR_INVALID_OPTION` for a bad count, `STICKY_ERR_WORKER_START_FAILED`
   * when a new worker does not start, `STICKY_ERR_INVALID_STATE` after close.
   */
  async scale(workers: number): Promise<void> {
    checkWorkerCount(workers);
    if (isClosing(this.#state)) throw closingError(this.#state, 'scale');
    return this.#topology.scale(workers);
  }

  /** Shuts the cluster down; repeated or concurrent calls share one result. */
  close(options: CloseOptions = {}): Promise<ShutdownResult> {
    return this[CLOSE_FOR]('api', options.waitForConnections ?? true);
  }

  stats(): PrimaryStats {
    return collectStats(this.#stats);
  }

  /** @internal a shutdown reported with its own reason (the drop-in's `closeMaster`, signals, masterclose) */
  [CLOSE_FOR](reason: ShutdownReason, waitForConnections: boolean): Promise<ShutdownResult> {
    if (!this.#shutdown.isStarted) {
      // The shutdownDelay window (readiness fails, everything still serves) is 'draining'.
      const isDelayed = waitForConnections && this.options.shutdownDelay > 0 && this.#state === 'running';
      this.#state = transition(this.#state, isDelayed ? 'draining' : 'closing');
      this.emit('shutdownStart', { reason, waitForConnections });
    }
    const wasStarted = this.#shutdown.isStarted;
    const result = this.#shutdown.run(reason, waitForConnections, () => {
      if (this.#state === 'draining') this.#state = transition(this.#state, 'closing');
    });
    if (!wasStarted) {
      void result.then((outcome) => {
        this.#removeSignals?.();
        // closeMaster(cb) lets the process end on its own; its exit code still tells what happened.
        process.exitCode = exitCodeOf(outcome);
        this.#state = transition(this.#state, 'closed');
        // Probes see the primary alive (and not ready) until the very end of the shutdown.
        void this.#metrics?.close();
        this.#bus.close();
        this.emit('shutdownEnd', outcome);
      });
    }
    return result;
  }
}

/**
 * The typed entry point in the primary: forks the workers (which run this same script and call
 * `attachWorker(server)`); `listen()` opens the public port.
 * @throws {StickyError} `STICKY_ERR_WRONG_PROCESS` in a worker, `STICKY_ERR_INVALID_OPTION` for bad options.
 * @example
 * if (cluster.isPrimary) {
 *   const primary = createPrimary({ workers: 4 });
 *   await primary.listen(3000);
 *   primary.on('workerExit', (exit) => logger.warn(exit, 'worker exited'));
 * } else {
 *   attachWorker(http.createServer(app));
 * }
 */
export function createPrimary(options: ListenOptions = {}): StickyPrimary {
  if (!cluster.isPrimary) {
    throw new StickyError(ErrorCode.WrongProcess, '`createPrimary()` works only in the primary.', {
      hint: 'In a worker, call `attachWorker(server)`.',
    });
  }
  return startPrimary(normalizeListenOptions(options));
}

/** @internal a primary from options already validated (`listen()`, the CLI) */
export function startPrimary(options: Readonly<ResolvedListenOptions>): StickyPrimary {
  return new StickyPrimary(CONSTRUCT, options);
}

/** @internal the drop-in's `closeMaster`: a shutdown reported with its own reason */
export function closeFor(
  primary: StickyPrimary, reason: ShutdownReason, waitForConnections: boolean,
): Promise<ShutdownResult> {
  return primary[CLOSE_FOR](reason, waitForConnections);
}
