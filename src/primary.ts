import cluster from 'node:cluster';
import type { AddressInfo } from 'node:net';
import { readdirSync } from 'node:fs';
import type { Logger } from './logger.js';
import { checkWorkerCount, normalizeListenOptions, type ListenOptions, type ResolvedListenOptions } from './options.js';
import { ErrorCode, StickyError, isStickyError } from './errors.js';
import { TypedEmitter } from './internal/typed-emitter.js';
import { waitUntil } from './internal/deadline.js';
import { Balancer, type BalancerStats, type SteeringState } from './sticky/index.js';
import { PrimaryBus, type BusSchema } from './ipc/index.js';
import {
  PrimaryShutdown, Supervisor, Topology, exitAfterShutdown, exitCodeOf, installShutdownSignals, transition,
  type LifecycleState, type ReloadReport, type ShutdownReason, type ShutdownResult, type SlotState,
  type SupervisorEvents, type TopologyEvents,
} from './lifecycle/index.js';
import { MetricsServer, type MetricsSource, type SlotStateName } from './ops/index.js';

// Composition root in the primary: balancer (sticky) + supervisor and shutdown (lifecycle).

/** Events of a primary, by name. */
export interface PrimaryEvents extends SupervisorEvents, TopologyEvents {
  listening: AddressInfo;
  shutdownStart: { reason: ShutdownReason; waitForConnections: boolean };
  shutdownEnd: ShutdownResult;
}

/** A snapshot of the primary's counters. */
export interface PrimaryStats {
  /** The lifecycle state, as `primary.state`. */
  state: LifecycleState;
  /** Worker processes alive now (more than the slots during a reload or a drain). */
  workers: number;
  /** Slots with a ready worker. */
  readyWorkers: number;
  /** Respawns after crashes so far, all slots together. */
  restarts: number;
  /** Workers killed by the watchdog (`workerTimeout`) so far. */
  workerTimeouts: number;
  /**
   * Per slot: its worker, readiness, failure, restart generation, sockets waiting for it, sockets
   * handed to its worker that it has not acknowledged yet (`unacknowledged`), connections handed to
   * it, and how long its last rolling-restart step took (ms, fork to old worker gone).
   */
  slots: (SlotState & { queued: number; unacknowledged: number; handoffs: number; lastReloadDuration: number | undefined })[];
  /**
   * Which data plane carries IP-mode connections: `'kernel'` (workers accept on their slot's socket;
   * the primary's connection counters stay 0) or `'primary'`, with the reason it is not the kernel.
   */
  steering: SteeringState;
  /** What happened to the connections of the public port. */
  connections: BalancerStats;
}

export interface CloseOptions {
  /** Let in-flight requests finish (drain) before the workers exit. @default true */
  waitForConnections?: boolean;
}

/** The primary's handle: the balancer, the worker slots and the shutdown. */
export class StickyPrimary extends TypedEmitter<PrimaryEvents> {
  readonly options: Readonly<ResolvedListenOptions>;
  readonly #log: Logger;
  readonly #balancer: Balancer;
  readonly #supervisor: Supervisor;
  readonly #shutdown: PrimaryShutdown;
  readonly #topology: Topology;
  readonly #bus: PrimaryBus;
  #state: LifecycleState = 'starting';
  #removeSignals: (() => void) | undefined;
  #address: AddressInfo | undefined;
  readonly #metrics: MetricsServer | undefined;
  readonly #startedAt = Date.now();

  /** @internal use `createPrimary()` or `listen()` */
  constructor(options: Readonly<ResolvedListenOptions>) {
    super();
    this.options = options;
    // Every component logger is a child of the root: pino repeats a binding given again to a child's
    // child ("component" twice in one line) instead of replacing it.
    const root = options.logger;
    this.#log = root.child({ component: 'primary' });
    this.#balancer = new Balancer(options, root.child({ component: 'sticky' }));
    this.#supervisor = new Supervisor(options, this.#balancer.slots, root);
    this.#shutdown = new PrimaryShutdown(options, this.#supervisor, this.#balancer, root);
    this.#topology = new Topology(options, this.#supervisor, root);
    this.#metrics = options.metrics === undefined ? undefined : new MetricsServer(options.metrics, this.#metricsSource(), root);
    this.#bus = this.#createBus();
    for (const event of ['workerOnline', 'workerReady', 'workerExit', 'workerTimeout', 'respawnScheduled', 'slotFailed'] as const) {
      this.#supervisor.on(event, (payload) => this.emit(event, payload as never));
    }
    for (const event of ['reloadStart', 'reloadProgress', 'reloadEnd', 'scaled'] as const) {
      this.#topology.on(event, (payload) => this.emit(event, payload as never));
    }
    this.#supervisor.on('recycle', (payload) => {
      this.#log.info({ workerId: payload.workerId, reason: payload.reason, requests: payload.requests, rss: payload.rss }, 'recycling worker');
      this.emit('recycle', payload);
      // A failed replacement is logged; the old worker keeps serving and asks again later.
      void this.#topology.recycle(payload.slot, payload.workerId).catch(() => undefined);
    });
    this.#supervisor.on('upstreamReuse', (payload) => {
      // At most one report per worker every 10 s: a warning, not a per-request log.
      this.#balancer.countUpstreamReuse(payload.requests, payload.connections);
      this.#log.warn({ workerId: payload.workerId, slot: payload.slot, requests: payload.requests, connections: payload.connections, hint: payload.hint },
        'upstream connections carry several clients');
      this.emit('upstreamReuse', payload);
    });
    this.#supervisor.on('masterclose', (payload) => {
      this.emit('masterclose', payload);
      void this.#close('masterclose', payload.waitForConnections).then(exitAfterShutdown);
    });
    if (options.handleSignals) {
      this.#removeSignals = installShutdownSignals({
        shutdown: () => this.#close('signal', true),
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
    return this.#bus as PrimaryBus<S>;
  }

  #createBus(): PrimaryBus {
    const supervisor = this.#supervisor;
    const balancer = this.#balancer;
    const bus = new PrimaryBus({
      slotOf: (worker) => supervisor.slotOf(worker),
      readyWorkerOf: (slot) => {
        const tracked = supervisor.current(slot);
        return tracked !== undefined && tracked.isReady && !tracked.isRetiring && tracked.worker.isConnected() ? tracked.worker : undefined;
      },
      slotCount: () => balancer.slots.size,
      // The balancer's own key → slot function: the bus reaches the worker that serves the key's connections.
      slotOfKey: (key) => balancer.slotOfKey(key),
    }, { timeout: this.options.ipcTimeout, slotWaitTimeout: this.options.slotWaitTimeout, slotQueueLimit: this.options.slotQueueLimit });
    supervisor.on('workerReady', ({ slot }) => bus.slotReady(slot));
    return bus;
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
   * Binds the public port (and the `metrics` endpoint's, first).
   * @throws {StickyError} `STICKY_ERR_LISTEN_FAILED` when a port cannot be bound.
   */
  async listen(port: number, host?: string): Promise<AddressInfo> {
    if (this.#metrics !== undefined && this.#metrics.address() === undefined) {
      const { port: metricsPort, host: metricsHost } = this.options.metrics ?? { port: 0, host: '' };
      await this.#metrics.listen().catch((error: unknown) => {
        throw listenFailed(error, metricsHost, metricsPort, 'the `metrics` endpoint');
      });
    }
    try {
      this.#address = await this.#balancer.listen(port, host);
    } catch (error) {
      if (isStickyError(error)) throw error;
      throw listenFailed(error, host ?? '*', port, 'the public port');
    }
    if (this.#state === 'starting') this.#state = transition(this.#state, 'running');
    this.#log.info({ port: this.#address.port }, 'primary listening');
    this.emit('listening', this.#address);
    return this.#address;
  }

  /**
   * Resolves once every slot has a ready worker.
   * @throws {StickyError} `STICKY_ERR_WORKER_START_FAILED` when that takes longer than `timeout`
   * (default: `readyTimeout`); the signal's reason when aborted.
   */
  async whenReady({ timeout = this.options.readyTimeout, signal }: { timeout?: number; signal?: AbortSignal } = {}): Promise<void> {
    const supervisor = this.#supervisor;
    const isReady = await waitUntil(supervisor, 'workerReady', () => supervisor.readyCount() >= supervisor.slotCount, { timeout, signal });
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
    if (this.#state === 'closing' || this.#state === 'closed') return Promise.reject(this.#closingError());
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
    if (this.#state === 'closing' || this.#state === 'closed') throw this.#closingError();
    return this.#topology.scale(workers);
  }

  /** Also during `shutdownDelay`, when the workers still serve but the cluster is on its way out. */
  #closingError(): StickyError {
    return new StickyError(ErrorCode.InvalidState, 'The cluster is shutting down.', { hint: 'Reload and scale only run before `close()`.' });
  }

  /** Shuts the cluster down; repeated or concurrent calls share one result. */
  close(options: CloseOptions = {}): Promise<ShutdownResult> {
    return this.#close('api', options.waitForConnections ?? true);
  }

  stats(): PrimaryStats {
    const table = this.#balancer.slots;
    const slots = this.#supervisor.slotStates().map((slot) => ({
      ...slot,
      queued: table.queueDepth(slot.slot),
      handoffs: table.handoffs(slot.slot),
      lastReloadDuration: this.#topology.lastReloadDuration(slot.slot),
      unacknowledged: this.#supervisor.current(slot.slot)?.link.unacknowledged ?? 0,
    }));
    return {
      state: this.#state,
      workers: this.#supervisor.workers().length,
      readyWorkers: this.#supervisor.readyCount(),
      restarts: this.#supervisor.restarts,
      workerTimeouts: this.#supervisor.workerTimeouts,
      slots,
      steering: { ...this.#balancer.steering },
      connections: this.#balancer.stats(),
    };
  }

  #metricsSource(): MetricsSource {
    return {
      metrics: () => {
        const stats = this.stats();
        return {
          slots: stats.slots.map((slot) => ({
            slot: slot.slot, state: slotStateName(slot), restarts: slot.generation, handoffs: slot.handoffs,
            queued: slot.queued, lastReloadMs: slot.lastReloadDuration,
          })),
          workers: stats.workers,
          readyWorkers: stats.readyWorkers,
          restarts: stats.restarts,
          connections: { ...stats.connections },
          openFds: openFds(),
          startTimeSeconds: this.#startedAt / 1000,
        };
      },
      readiness: () => {
        const notReadySlots = this.#supervisor.slotStates().filter((slot) => !slot.isReady).map((slot) => slot.slot);
        return { isReady: this.#state === 'running' && notReadySlots.length === 0, state: this.#state, notReadySlots };
      },
    };
  }

  /** @internal the drop-in's closeMaster */
  closeMaster(reason: ShutdownReason, waitForConnections: boolean): Promise<ShutdownResult> {
    return this.#close(reason, waitForConnections);
  }

  #close(reason: ShutdownReason, waitForConnections: boolean): Promise<ShutdownResult> {
    if (!this.#shutdown.isStarted) {
      this.#state = transition(this.#state, 'closing');
      this.emit('shutdownStart', { reason, waitForConnections });
    }
    const wasStarted = this.#shutdown.isStarted;
    const result = this.#shutdown.run(reason, waitForConnections);
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

function slotStateName(slot: SlotState): SlotStateName {
  if (slot.isReady) return 'ready';
  if (slot.isFailed) return 'failed';
  return slot.workerId === undefined ? 'respawning' : 'starting';
}

function listenFailed(error: unknown, host: string, port: number, what: string): StickyError {
  return new StickyError(ErrorCode.ListenFailed, `Could not listen on ${host}:${port} (${what}).`, {
    cause: error,
    hint: (error as NodeJS.ErrnoException).code === 'EADDRINUSE' ? 'Another process uses this port; pick another one or stop it.' : 'See `cause`.',
  });
}

function openFds(): number | undefined {
  try {
    // Linux: one entry per open descriptor (plus the one readdir itself opens).
    return readdirSync('/proc/self/fd').length - 1;
  } catch {
    return undefined;
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
  return new StickyPrimary(normalizeListenOptions(options));
}
