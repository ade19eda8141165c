import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';
import type { ResolvedListenOptions } from '../options.js';
import { decodeMessage, encodeMessage, type RuntimeMessageMap } from '../ipc/index.js';
import type { SlotTable, WorkerLink } from '../sticky/index.js';
import { TypedEmitter } from '../internal/typed-emitter.js';
import { decideRespawn, EMPTY_HISTORY, type CrashHistory, type RespawnPolicy } from './respawn-policy.js';

// Worker slots: fork, readiness, exits and the respawn policy's executor.

export interface WorkerInfo {
  slot: number;
  workerId: number;
  pid: number;
}

export interface WorkerExitInfo extends WorkerInfo {
  code: number | null;
  signal: string | null;
  /** False for a crash: an exit the runtime did not ask for. */
  expected: boolean;
}

export interface SupervisorEvents extends Record<string, unknown> {
  workerOnline: WorkerInfo;
  workerReady: WorkerInfo;
  workerExit: WorkerExitInfo;
  respawnScheduled: { slot: number; delay: number; crashes: number };
  slotFailed: { slot: number; crashes: number; retryIn: number };
  masterclose: { waitForConnections: boolean; workerId: number };
}

interface Tracked {
  readonly worker: Worker;
  readonly slot: number;
  readonly link: WorkerLink;
  readonly forkedAt: number;
  isReady: boolean;
  /** Set when the runtime asked this worker to go (shutdown, drain, reload). */
  isRetiring: boolean;
  readyTimer: NodeJS.Timeout | undefined;
}

interface SlotRecord {
  current: Tracked | undefined;
  history: CrashHistory;
  timer: NodeJS.Timeout | undefined;
  isFailed: boolean;
}

/**
 * A worker killed by SIGINT/SIGTERM may have been hit by a Ctrl-C or `kill` to the whole process
 * group, which the primary is about to see too; its respawn waits this long so shutdown can win.
 */
const SIGNAL_GRACE_MS = 250;

export class Supervisor extends TypedEmitter<SupervisorEvents> {
  readonly #options: Readonly<ResolvedListenOptions>;
  readonly #slots: SlotTable;
  readonly #log: Logger;
  readonly #policy: RespawnPolicy;
  readonly #records: SlotRecord[] = [];
  readonly #tracked = new Map<Worker, Tracked>();
  #isStopping = false;
  restarts = 0;

  constructor(options: Readonly<ResolvedListenOptions>, slots: SlotTable, log: Logger) {
    super();
    this.#options = options;
    this.#slots = slots;
    this.#log = log.child({ component: 'lifecycle' });
    this.#policy = {
      baseDelay: options.respawnDelay,
      maxDelay: options.maxRespawnDelay,
      jitter: 0.2,
      minUptime: options.minUptime,
      maxRestarts: options.maxRestarts,
      restartWindow: options.restartWindow,
    };
  }

  start(): void {
    for (let slot = 0; slot < this.#options.workers; slot++) {
      this.#records.push({ current: undefined, history: EMPTY_HISTORY, timer: undefined, isFailed: false });
      this.fork(slot);
    }
  }

  get isStopping(): boolean {
    return this.#isStopping;
  }

  /** Every worker process alive now. */
  workers(): Worker[] {
    return [...this.#tracked.keys()];
  }

  readyCount(): number {
    let count = 0;
    for (const tracked of this.#tracked.values()) if (tracked.isReady && !tracked.isRetiring) count++;
    return count;
  }

  slotStates(): { slot: number; workerId: number | undefined; pid: number | undefined; isReady: boolean; isFailed: boolean }[] {
    return this.#records.map((record, slot) => ({
      slot,
      workerId: record.current?.worker.id,
      pid: record.current?.worker.process.pid,
      isReady: record.current?.isReady ?? false,
      isFailed: record.isFailed,
    }));
  }

  /** Shutdown: no respawn from now on, and no pending one. */
  stopRespawning(): void {
    this.#isStopping = true;
    for (const record of this.#records) {
      if (record.timer !== undefined) clearTimeout(record.timer);
      record.timer = undefined;
    }
  }

  /** Asks every worker to close; one still starting is sent SIGTERM, which runs its exit hooks. */
  closeAll(payload: RuntimeMessageMap['sticky:close']): void {
    for (const tracked of this.#tracked.values()) {
      tracked.isRetiring = true;
      // Stop routing, but let the link deliver what it already queued: a draining worker serves it.
      this.#slots.clearRoute(tracked.link);
      if (tracked.isReady) this.#send(tracked.worker, encodeMessage('sticky:close', payload));
      // Only lifecycle kills: a worker that is not ready has no handler for our close message yet.
      else tracked.worker.process.kill('SIGTERM');
    }
  }

  /** Kills what is left (shutdown deadline); returns the ids killed. */
  killAll(): number[] {
    const killed: number[] = [];
    for (const tracked of this.#tracked.values()) {
      // Only lifecycle kills: the worker outlived the shutdown deadline.
      tracked.worker.process.kill('SIGKILL');
      killed.push(tracked.worker.id);
    }
    return killed;
  }

  fork(slot: number): Tracked {
    const worker = cluster.fork({
      ...this.#options.env,
      STICKY_RUNTIME_SLOT: String(slot),
    });
    const tracked: Tracked = {
      worker,
      slot,
      link: this.#slots.link(slot, worker),
      forkedAt: performance.now(),
      isReady: false,
      isRetiring: false,
      readyTimer: undefined,
    };
    this.#tracked.set(worker, tracked);
    const record = this.#records[slot];
    if (record !== undefined) record.current = tracked;
    tracked.readyTimer = setTimeout(() => this.#onReadyTimeout(tracked), this.#options.readyTimeout);
    tracked.readyTimer.unref();
    worker.on('online', () => this.emit('workerOnline', this.#info(tracked)));
    worker.on('message', (message: unknown) => this.#onMessage(tracked, message));
    worker.on('disconnect', () => this.#slots.detach(tracked.link));
    worker.on('exit', (code: number | null, signal: string | null) => this.#onExit(tracked, code, signal));
    // An 'error' on the worker (EPIPE on a dying channel) must not crash the primary; exit follows.
    worker.on('error', (error: Error) => this.#log.debug({ err: error, workerId: worker.id }, 'worker channel error'));
    return tracked;
  }

  #info(tracked: Tracked): WorkerInfo {
    return { slot: tracked.slot, workerId: tracked.worker.id, pid: tracked.worker.process.pid ?? 0 };
  }

  #send(worker: Worker, message: object): void {
    if (!worker.isConnected()) return;
    worker.send(message, (error: Error | null) => {
      // The worker is exiting; its exit is handled by #onExit.
      if (error !== null) this.#log.debug({ err: error, workerId: worker.id }, 'send to exiting worker failed');
    });
  }

  #onMessage(tracked: Tracked, value: unknown): void {
    const decoded = decodeMessage(value);
    if (decoded.kind === 'version') {
      this.#log.warn({ workerId: tracked.worker.id, version: decoded.version }, 'protocol version mismatch');
      return;
    }
    if (decoded.kind !== 'message') return;
    const { message } = decoded;
    if (message.type === 'sticky:ready') this.#onReady(tracked);
    else if (message.type === 'sticky:masterclose') {
      this.emit('masterclose', { waitForConnections: message.payload.waitForConnections, workerId: tracked.worker.id });
    }
  }

  #onReady(tracked: Tracked): void {
    if (tracked.isReady || tracked.isRetiring) return;
    tracked.isReady = true;
    if (tracked.readyTimer !== undefined) clearTimeout(tracked.readyTimer);
    const record = this.#records[tracked.slot];
    if (record?.current === tracked && !this.#isStopping) {
      record.isFailed = false;
      this.#slots.setRoute(tracked.slot, tracked.link);
    }
    this.#log.info({ workerId: tracked.worker.id, pid: tracked.worker.process.pid }, 'worker ready');
    this.emit('workerReady', this.#info(tracked));
  }

  #onReadyTimeout(tracked: Tracked): void {
    if (tracked.isReady) return;
    this.#log.error({ workerId: tracked.worker.id, readyTimeout: this.#options.readyTimeout }, 'worker not ready in time');
    // Only lifecycle kills: a worker that never became ready counts as a crash.
    tracked.worker.process.kill('SIGKILL');
  }

  #onExit(tracked: Tracked, code: number | null, signal: string | null): void {
    this.#tracked.delete(tracked.worker);
    if (tracked.readyTimer !== undefined) clearTimeout(tracked.readyTimer);
    this.#slots.detach(tracked.link);
    const expected = tracked.isRetiring || this.#isStopping;
    const info = { ...this.#info(tracked), code, signal, expected };
    if (!expected) this.#log.error({ workerId: info.workerId, exitCode: code, signal }, 'worker exited unexpectedly');
    this.emit('workerExit', info);
    const record = this.#records[tracked.slot];
    if (expected || record === undefined || record.current !== tracked) return;
    record.current = undefined;
    const isGroupSignal = signal === 'SIGINT' || signal === 'SIGTERM' || code === 130 || code === 143;
    this.#scheduleRespawn(tracked.slot, record, performance.now() - tracked.forkedAt, isGroupSignal);
  }

  #scheduleRespawn(slot: number, record: SlotRecord, uptime: number, isGroupSignal: boolean): void {
    const decision = decideRespawn(record.history, uptime, performance.now(), this.#policy);
    record.history = decision.history;
    if (decision.action === 'fail') {
      record.isFailed = true;
      const retryIn = this.#options.failedSlotRetry;
      this.#log.error({ slot, crashes: decision.history.crashes.length, retryIn }, 'slot failed: too many crashes');
      this.emit('slotFailed', { slot, crashes: decision.history.crashes.length, retryIn });
      record.timer = setTimeout(() => {
        record.timer = undefined;
        record.history = EMPTY_HISTORY;
        if (!this.#isStopping) this.fork(slot);
      }, retryIn);
      record.timer.unref();
      return;
    }
    const delay = Math.max(decision.delay, isGroupSignal ? SIGNAL_GRACE_MS : 0);
    this.#log.debug({ slot, delay }, 'respawn scheduled');
    this.emit('respawnScheduled', { slot, delay, crashes: decision.history.crashes.length });
    const respawn = (): void => {
      record.timer = undefined;
      if (this.#isStopping) return;
      this.restarts++;
      this.fork(slot);
    };
    if (delay === 0) {
      respawn();
      return;
    }
    record.timer = setTimeout(respawn, delay);
  }
}
