import cluster, { type Worker } from 'node:cluster';
import type { Logger } from '../logger.js';
import { encodeWorkerEnv, type ResolvedListenOptions } from '../options.js';
import { ErrorCode, StickyError } from '../errors.js';
import { decodeMessage, encodeMessage, type RuntimeMessageMap } from '../ipc/index.js';
import type { SlotTable } from '../sticky/index.js';
import { TypedEmitter } from '../internal/typed-emitter.js';
import { decideRespawn, EMPTY_HISTORY, type CrashHistory, type RespawnPolicy } from './respawn-policy.js';
import { UPSTREAM_REUSE_HINT, trackWorker, type SlotState, type SupervisorEvents, type Tracked, type WorkerInfo } from './tracked-worker.js';
import { Watchdog } from './watchdog-primary.js';

export type { SlotState, StartFailure, SupervisorEvents, Tracked, UpstreamReuseInfo, WorkerExitInfo, WorkerInfo, WorkerTimeoutInfo } from './tracked-worker.js';

// Worker slots: fork, readiness, exits, the respawn policy's executor, and the primitives that
// rolling restarts and scaling are built from (replacement workers, retiring, adding slots).

interface SlotRecord {
  current: Tracked | undefined;
  history: CrashHistory;
  /** A pending respawn or failed-slot retry. */
  timer: NodeJS.Timeout | undefined;
  isFailed: boolean;
  /** Workers installed in this slot so far, minus one (crash respawns and reload replacements). */
  generation: number;
  hasHadWorker: boolean;
  /** Added by scale() and not routed yet: a crash there is a failed start, not a respawn case. */
  isProvisional: boolean;
}

/**
 * A worker killed by SIGINT/SIGTERM may have been hit by a Ctrl-C or `kill` to the whole process
 * group, which the primary is about to see too; its respawn waits this long so shutdown can win.
 */
const SIGNAL_GRACE_MS = 250;

/**
 * A channel that closes is usually a worker dying, whose exit follows within milliseconds. One still
 * running this long after has closed its channel itself (`cluster.worker.disconnect()`).
 */
const DISCONNECT_GRACE_MS = 500;

/** A worker given up on (timed out, or its channel closed) gets SIGTERM, then SIGKILL after this. */
const KILL_GRACE_MS = 1_000;

const PING = Object.freeze(encodeMessage('sticky:ping', Object.freeze({})));
const ignoreSendError = (): void => {
  // A ping to a worker whose channel just closed: the disconnect and exit handlers deal with it.
};

const newRecord = (): SlotRecord => ({
  current: undefined, history: EMPTY_HISTORY, timer: undefined, isFailed: false, generation: 0, hasHadWorker: false, isProvisional: false,
});

export class Supervisor extends TypedEmitter<SupervisorEvents> {
  readonly #options: Readonly<ResolvedListenOptions>;
  readonly #slots: SlotTable;
  readonly #log: Logger;
  readonly #policy: RespawnPolicy;
  readonly #records: SlotRecord[] = [];
  readonly #tracked = new Map<Worker, Tracked>();
  readonly #watchdog: Watchdog;
  #isStopping = false;
  restarts = 0;
  workerTimeouts = 0;

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
    this.#watchdog = new Watchdog(options.workerTimeout, {
      watched: () => this.#watched(),
      ping: (tracked) => {
        if (tracked.worker.isConnected()) tracked.worker.send(PING, ignoreSendError);
      },
      timedOut: (tracked, silentFor) => this.#onTimeout(tracked, silentFor),
    });
  }

  start(): void {
    for (let slot = 0; slot < this.#options.workers; slot++) {
      this.#records.push(newRecord());
      this.#install(this.fork(slot));
    }
    this.#watchdog.start();
  }

  get isStopping(): boolean {
    return this.#isStopping;
  }

  get slotCount(): number {
    return this.#records.length;
  }

  /** Every worker process alive now. */
  workers(): Worker[] {
    return [...this.#tracked.keys()];
  }

  readyCount(): number {
    let count = 0;
    for (const record of this.#records) if (record.current?.isReady === true) count++;
    return count;
  }

  /** The slot of a worker of ours (alive), or undefined. */
  slotOf(worker: Worker): number | undefined {
    return this.#tracked.get(worker)?.slot;
  }

  current(slot: number): Tracked | undefined {
    return this.#records[slot]?.current;
  }

  slotStates(): SlotState[] {
    return this.#records.map((record, slot) => ({
      slot,
      workerId: record.current?.worker.id,
      pid: record.current?.worker.process.pid,
      isReady: record.current?.isReady ?? false,
      isFailed: record.isFailed,
      generation: record.generation,
      isRespawnPending: record.timer !== undefined,
      uptime: record.current === undefined ? undefined : Math.round(performance.now() - record.current.forkedAt),
    }));
  }

  /** Shutdown: no respawn from now on, and no pending one. */
  stopRespawning(): void {
    this.#isStopping = true;
    // Draining workers are bounded by the shutdown deadline instead.
    this.#watchdog.stop();
    for (const record of this.#records) {
      if (record.timer !== undefined) clearTimeout(record.timer);
      record.timer = undefined;
    }
    for (const tracked of this.#tracked.values()) if (!tracked.isReady) tracked.settle(false);
  }

  /** Asks every worker to close; one still starting is sent SIGTERM, which runs its exit hooks. */
  closeAll(payload: RuntimeMessageMap['sticky:close']): void {
    for (const tracked of this.#tracked.values()) this.retire(tracked, payload);
  }

  /**
   * Stops routing to the worker and asks it to close: it drains when `waitForConnections` and runs
   * its exit hooks. The link still delivers what it already queued; a draining worker serves it.
   */
  retire(tracked: Tracked, payload: RuntimeMessageMap['sticky:close']): void {
    tracked.isRetiring = true;
    this.#slots.clearRoute(tracked.link);
    // Through the link: the close request follows every socket already routed to this worker.
    if (tracked.isReady && tracked.worker.isConnected()) tracked.link.finish(encodeMessage('sticky:close', payload));
    // Only lifecycle kills: a worker that is not ready has no handler for our close message yet, and
    // one whose channel is closed cannot get it; SIGTERM runs its drain and exit hooks.
    else tracked.worker.process.kill('SIGTERM');
  }

  /** Kills what is left (shutdown deadline); returns the ids killed. */
  killAll(): number[] {
    const killed: number[] = [];
    for (const tracked of this.#tracked.values()) {
      this.kill(tracked);
      killed.push(tracked.worker.id);
    }
    return killed;
  }

  kill(tracked: Tracked): void {
    // Only lifecycle kills: a deadline (shutdown, drain or start-up) has passed.
    tracked.worker.process.kill('SIGKILL');
  }

  /** Forks a worker for `slot`; it becomes the slot's route only through `install()`. */
  fork(slot: number): Tracked {
    const worker = cluster.fork(encodeWorkerEnv(this.#options, slot));
    const tracked = trackWorker(worker, slot, this.#slots.link(slot, worker));
    this.#log.debug({ slot, workerId: worker.id, pid: worker.process.pid }, 'worker forked');
    this.#tracked.set(worker, tracked);
    tracked.readyTimer = setTimeout(() => this.#onReadyTimeout(tracked), this.#options.readyTimeout);
    tracked.readyTimer.unref();
    worker.on('online', () => this.emit('workerOnline', this.#info(tracked)));
    worker.on('message', (message: unknown) => this.#onMessage(tracked, message));
    worker.on('disconnect', () => this.#onDisconnect(tracked));
    worker.on('exit', (code: number | null, signal: string | null) => this.#onExit(tracked, code, signal));
    worker.on('error', (error: Error) => this.#onError(tracked, error));
    return tracked;
  }

  /** Makes `tracked` its slot's worker; routing switches to it once it is ready (at once if it is). */
  install(tracked: Tracked): Tracked | undefined {
    return this.#install(tracked);
  }

  /** Adds a slot at the end (not routed until the caller grows the table); returns its new worker. */
  addSlot(): Tracked {
    this.#records.push({ ...newRecord(), isProvisional: true });
    const slot = this.#records.length - 1;
    return this.#install(this.fork(slot)) ?? (this.#records[slot]?.current as Tracked);
  }

  /** The last slot's worker started: from now on its crashes are respawned. */
  confirmLastSlot(): void {
    const record = this.#records.at(-1);
    if (record !== undefined) record.isProvisional = false;
  }

  /** Forgets the last slot and returns its worker (the caller retires it). */
  removeLastSlot(): Tracked | undefined {
    const record = this.#records.pop();
    if (record?.timer !== undefined) clearTimeout(record.timer);
    return record?.current;
  }

  #install(tracked: Tracked): Tracked | undefined {
    const record = this.#records[tracked.slot];
    if (record === undefined) return undefined;
    const previous = record.current;
    // The slot has a worker again: a pending respawn or failed-slot retry must not fork another.
    if (record.timer !== undefined) clearTimeout(record.timer);
    record.timer = undefined;
    if (record.hasHadWorker) record.generation++;
    record.hasHadWorker = true;
    record.current = tracked;
    if (tracked.isReady) this.#route(record, tracked);
    return previous;
  }

  #route(record: SlotRecord, tracked: Tracked): void {
    if (this.#isStopping) return;
    if (record.isFailed) {
      record.isFailed = false;
      this.#slots.setFailed(tracked.slot, false);
    }
    this.#slots.setRoute(tracked.slot, tracked.link);
  }

  #info(tracked: Tracked): WorkerInfo {
    return { slot: tracked.slot, workerId: tracked.worker.id, pid: tracked.worker.process.pid ?? 0 };
  }

  #onMessage(tracked: Tracked, value: unknown): void {
    // Any message shows the worker's event loop and channel work (the watchdog's pongs among them).
    tracked.lastSeen = performance.now();
    const decoded = decodeMessage(value);
    if (decoded.kind === 'version') {
      this.#log.warn({ workerId: tracked.worker.id, version: decoded.version }, 'protocol version mismatch');
      return;
    }
    if (decoded.kind !== 'message') return;
    const { message } = decoded;
    if (message.type === 'sticky:ready') this.#onReady(tracked);
    else if (message.type === 'sticky:recycle') {
      if (!tracked.isReady || tracked.isRetiring || this.#isStopping) return;
      this.emit('recycle', { ...this.#info(tracked), ...message.payload });
    } else if (message.type === 'sticky:upstreamReuse') {
      this.emit('upstreamReuse', { ...this.#info(tracked), ...message.payload, hint: UPSTREAM_REUSE_HINT });
    } else if (message.type === 'sticky:masterclose') {
      this.emit('masterclose', { waitForConnections: message.payload.waitForConnections, workerId: tracked.worker.id });
    }
  }

  #onReady(tracked: Tracked): void {
    if (tracked.isReady || tracked.isRetiring || this.#isStopping) return;
    tracked.isReady = true;
    tracked.lastSeen = performance.now();
    if (tracked.readyTimer !== undefined) clearTimeout(tracked.readyTimer);
    const record = this.#records[tracked.slot];
    if (record?.current === tracked) this.#route(record, tracked);
    this.#log.info({ workerId: tracked.worker.id, pid: tracked.worker.process.pid }, 'worker ready');
    this.emit('workerReady', this.#info(tracked));
    tracked.settle(true);
  }

  #onReadyTimeout(tracked: Tracked): void {
    if (tracked.isReady) return;
    tracked.startFailure = 'readyTimeout';
    this.#log.error({ workerId: tracked.worker.id, readyTimeout: this.#options.readyTimeout }, 'worker not ready in time');
    this.kill(tracked);
  }

  #onError(tracked: Tracked, error: Error): void {
    // A process that never started (spawn failed: EMFILE, EAGAIN, ENOMEM) gets this 'error' and never
    // an 'exit': it takes the crash path, or its slot would keep a phantom worker for good.
    if (tracked.worker.process.pid === undefined) {
      this.#log.error({ err: error, workerId: tracked.worker.id, slot: tracked.slot }, 'worker fork failed');
      tracked.startFailure = 'forkFailed';
      // cluster removes a worker from `cluster.workers` on its exit, which never comes.
      delete cluster.workers?.[tracked.worker.id];
      this.#onExit(tracked, null, null);
      return;
    }
    // An 'error' on the worker (EPIPE on a dying channel) must not crash the primary; exit follows.
    this.#log.debug({ err: error, workerId: tracked.worker.id }, 'worker channel error');
  }

  /**
   * The channel closed. Routing stops at once; if the process outlives DISCONNECT_GRACE_MS it closed
   * its channel itself: it leaves its slot like a planned retirement (SIGTERM: drain, exit hooks) and
   * the slot gets a replacement through the respawn policy, so a worker that does it in a loop backs off.
   */
  #onDisconnect(tracked: Tracked): void {
    this.#slots.detach(tracked.link);
    if (!this.#tracked.has(tracked.worker)) return;
    const timer = setTimeout(() => {
      if (!this.#tracked.has(tracked.worker) || this.#isStopping) return;
      const record = this.#records[tracked.slot];
      const isCurrent = record?.current === tracked && !tracked.isRetiring;
      this.#log.warn({ workerId: tracked.worker.id, slot: tracked.slot, isCurrent }, 'worker closed its channel');
      this.#giveUp(tracked);
      if (!isCurrent || record === undefined) return;
      record.current = undefined;
      if (!record.isProvisional) this.#scheduleRespawn(tracked.slot, record, performance.now() - tracked.forkedAt, false);
    }, DISCONNECT_GRACE_MS);
    timer.unref();
  }

  /** Retires a worker the runtime cannot talk to: SIGTERM now, SIGKILL after a grace. */
  #giveUp(tracked: Tracked): void {
    tracked.isRetiring = true;
    // Only lifecycle kills: a worker without a usable channel cannot be asked to close.
    tracked.worker.process.kill('SIGTERM');
    tracked.killTimer ??= setTimeout(() => this.kill(tracked), KILL_GRACE_MS);
  }

  *#watched(): Iterable<Tracked> {
    for (const record of this.#records) {
      const tracked = record.current;
      if (tracked?.isReady === true && !tracked.isRetiring && tracked.killTimer === undefined) yield tracked;
    }
  }

  #onTimeout(tracked: Tracked, silentFor: number): void {
    const info = this.#info(tracked);
    this.workerTimeouts++;
    this.#log.error({ ...info, silentFor, workerTimeout: this.#options.workerTimeout }, 'worker timed out');
    const error = new StickyError(
      ErrorCode.WorkerTimeout,
      `Worker ${info.workerId} (pid ${info.pid}, slot ${info.slot}) did not answer for ${silentFor} ms (\`workerTimeout\`: ${this.#options.workerTimeout} ms) and is being replaced.`,
      { hint: 'Its event loop was blocked or it stopped reading its IPC channel; see its logs. Raise `workerTimeout` for workers that block on purpose.' },
    );
    // New connections wait for the replacement. The ones routed to it stay with it until its exit
    // (moments away): a worker that woke up in between must not share them with the replacement.
    this.#slots.clearRoute(tracked.link);
    this.emit('workerTimeout', { ...info, silentFor, error });
    // Only lifecycle kills: the worker is stuck. A blocked loop never runs a SIGTERM handler, so
    // SIGKILL follows after a short grace. The exit takes the crash path: a respawn in the same slot.
    tracked.worker.process.kill('SIGTERM');
    tracked.killTimer ??= setTimeout(() => this.kill(tracked), KILL_GRACE_MS);
  }

  #onExit(tracked: Tracked, code: number | null, signal: string | null): void {
    if (!this.#tracked.delete(tracked.worker)) return;
    if (tracked.readyTimer !== undefined) clearTimeout(tracked.readyTimer);
    if (tracked.killTimer !== undefined) clearTimeout(tracked.killTimer);
    this.#slots.detach(tracked.link);
    tracked.exitCode = code;
    if (!tracked.isReady) {
      tracked.startFailure ??= this.#isStopping ? 'shutdown' : 'exited';
      tracked.settle(false);
    }
    tracked.markExited();
    const record = this.#records[tracked.slot];
    const isCurrent = record?.current === tracked;
    const expected = tracked.isRetiring || this.#isStopping || !isCurrent;
    const info = { ...this.#info(tracked), code, signal, expected };
    if (!expected) this.#log.error({ workerId: info.workerId, exitCode: code, signal }, 'worker exited unexpectedly');
    if (isCurrent && record !== undefined) record.current = undefined;
    this.emit('workerExit', info);
    if (expected || record === undefined || record.isProvisional) return;
    const isGroupSignal = signal === 'SIGINT' || signal === 'SIGTERM' || code === 130 || code === 143;
    this.#scheduleRespawn(tracked.slot, record, performance.now() - tracked.forkedAt, isGroupSignal);
  }

  #scheduleRespawn(slot: number, record: SlotRecord, uptime: number, isGroupSignal: boolean): void {
    const decision = decideRespawn(record.history, uptime, performance.now(), this.#policy);
    record.history = decision.history;
    const respawn = (): void => {
      record.timer = undefined;
      if (this.#isStopping || this.#records[slot] !== record) return;
      this.restarts++;
      this.#install(this.fork(slot));
    };
    if (decision.action === 'fail') {
      record.isFailed = true;
      this.#slots.setFailed(slot, true);
      const retryIn = this.#options.failedSlotRetry;
      const crashes = decision.history.crashes.length;
      this.#log.error({ slot, crashes, retryIn }, 'slot failed: too many crashes');
      const error = new StickyError(
        ErrorCode.RespawnLimit,
        `Slot ${slot} crashed ${crashes} times within \`restartWindow\` (${this.#options.restartWindow} ms); its clients fail over to other slots.`,
        { hint: `See the worker's error log. The slot is tried again in ${retryIn} ms (\`failedSlotRetry\`), or on the next reload.` },
      );
      this.emit('slotFailed', { slot, crashes, retryIn, error });
      record.timer = setTimeout(() => {
        record.history = EMPTY_HISTORY;
        respawn();
      }, retryIn);
      record.timer.unref();
      return;
    }
    const delay = Math.max(decision.delay, isGroupSignal ? SIGNAL_GRACE_MS : 0);
    this.#log.debug({ slot, delay }, 'respawn scheduled');
    this.emit('respawnScheduled', { slot, delay, crashes: decision.history.crashes.length });
    if (delay === 0) respawn();
    else record.timer = setTimeout(respawn, delay);
  }
}
