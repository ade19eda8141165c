import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { normalizeListenOptions, type ListenOptions, type ResolvedListenOptions } from './options.js';
import { ErrorCode, StickyError } from './errors.js';
import { TypedEmitter } from './internal/typed-emitter.js';
import { Balancer, type BalancerStats } from './sticky/index.js';
import {
  PrimaryShutdown, Supervisor, exitAfterShutdown, exitCodeOf, installShutdownSignals, transition,
  type LifecycleState, type ShutdownReason, type ShutdownResult, type SupervisorEvents,
} from './lifecycle/index.js';

// Composition root in the primary: balancer (sticky) + supervisor and shutdown (lifecycle).

/** Events of a primary, by name. */
export interface PrimaryEvents extends SupervisorEvents {
  listening: AddressInfo;
  shutdownStart: { reason: ShutdownReason; waitForConnections: boolean };
  shutdownEnd: ShutdownResult;
}

/** A snapshot of the primary's counters. */
export interface PrimaryStats {
  state: LifecycleState;
  workers: number;
  readyWorkers: number;
  restarts: number;
  slots: { slot: number; workerId: number | undefined; pid: number | undefined; isReady: boolean; isFailed: boolean; queued: number }[];
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
  #state: LifecycleState = 'starting';
  #removeSignals: (() => void) | undefined;
  #address: AddressInfo | undefined;

  constructor(options: Readonly<ResolvedListenOptions>) {
    super();
    this.options = options;
    this.#log = options.logger.child({ component: 'primary' });
    this.#balancer = new Balancer(options, this.#log);
    this.#supervisor = new Supervisor(options, this.#balancer.slots, this.#log);
    this.#shutdown = new PrimaryShutdown(options, this.#supervisor, this.#balancer, this.#log);
    for (const event of ['workerOnline', 'workerReady', 'workerExit', 'respawnScheduled', 'slotFailed'] as const) {
      this.#supervisor.on(event, (payload) => this.emit(event, payload as never));
    }
    this.#supervisor.on('masterclose', (payload) => {
      this.emit('masterclose', payload);
      void this.#close('masterclose', payload.waitForConnections).then(exitAfterShutdown);
    });
    if (options.handleSignals) {
      this.#removeSignals = installShutdownSignals({
        shutdown: () => this.#close('signal', true),
        escalate: () => this.#shutdown.escalate(),
      });
    }
    this.#supervisor.start();
  }

  get state(): LifecycleState {
    return this.#state;
  }

  /** The public address once listening. */
  address(): AddressInfo | undefined {
    return this.#address;
  }

  /**
   * Binds the public port.
   * @throws {StickyError} `STICKY_ERR_LISTEN_FAILED` when the port cannot be bound.
   */
  async listen(port: number, host?: string): Promise<AddressInfo> {
    try {
      this.#address = await this.#balancer.listen(port, host);
    } catch (error) {
      throw new StickyError(ErrorCode.ListenFailed, `Could not listen on ${host ?? '*'}:${port}.`, {
        cause: error,
        hint: (error as NodeJS.ErrnoException).code === 'EADDRINUSE' ? 'Another process uses this port; pick another one or stop it.' : 'See `cause`.',
      });
    }
    if (this.#state === 'starting') this.#state = transition(this.#state, 'running');
    this.#log.info({ port: this.#address.port }, 'primary listening');
    this.emit('listening', this.#address);
    return this.#address;
  }

  /** Resolves once every slot has a ready worker. */
  async whenReady(): Promise<void> {
    while (this.#supervisor.readyCount() < this.options.workers) await this.#supervisor.next('workerReady');
  }

  /** Shuts the cluster down; repeated or concurrent calls share one result. */
  close(options: CloseOptions = {}): Promise<ShutdownResult> {
    return this.#close('api', options.waitForConnections ?? true);
  }

  stats(): PrimaryStats {
    const slots = this.#supervisor.slotStates().map((slot) => ({ ...slot, queued: this.#balancer.slots.queueDepth(slot.slot) }));
    return {
      state: this.#state,
      workers: this.#supervisor.workers().length,
      readyWorkers: this.#supervisor.readyCount(),
      restarts: this.#supervisor.restarts,
      slots,
      connections: this.#balancer.stats(),
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
        this.emit('shutdownEnd', outcome);
      });
    }
    return result;
  }
}

/** Creates the primary and forks its workers; call `listen()` to open the public port. */
export function createPrimary(options: ListenOptions = {}): StickyPrimary {
  return new StickyPrimary(normalizeListenOptions(options));
}
