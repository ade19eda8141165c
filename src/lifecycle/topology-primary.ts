import type { Logger } from '../logger.js';
import { ErrorCode, StickyError } from '../errors.js';
import type { ResolvedListenOptions } from '../options/index.js';
import { TypedEmitter } from '../internal/typed-emitter.js';
import { settlesWithin } from '../internal/deadline.js';
import type { Supervisor, Tracked } from './supervisor-primary.js';
import type { SlotOwner } from './slot-owner-primary.js';
import { ReloadError, nextScaleTarget, planRollout, type ReloadReport, type SlotReloadReport } from './rollout.js';
import { needsSuccessor } from './server-close.js';
import { handOver, startEmpty, type HandoverInfo } from './handover-primary.js';
import type { EmptyStartReason } from '../ipc/index.js';

// Rolling restarts and scaling: the executors of changes to the set of workers. One change at a
// time: a reload asked for during a reload queues one more after it; scaling waits its turn. The
// supervisor forks and retires workers; the slot owner alone installs them in slots and adds or
// removes slots. Reload and scale share one queue and one retirement path, hence one file past 250 lines.

/** A rolling restart began over `slots` slots. */
export interface ReloadStartInfo { slots: number }
/** One slot's replacement of a rolling restart is done (`done` of `total`). */
export interface ReloadProgressInfo extends SlotReloadReport { done: number; total: number }
/** The cluster now has `to` slots. */
export interface ScaledInfo { from: number; to: number }

/** The slot state handovers of planned replacements so far. */
export interface HandoverStats {
  /** Successors that adopted their predecessor's state. */
  adopted: number;
  /**
   * Planned replacements whose successor started empty, by reason (a predecessor without
   * `onHandover()`: `noHandover`).
   */
  empty: Partial<Record<EmptyStartReason, number>>;
  /** Open connections (ws WebSockets) successors adopted, the same TCP connections. */
  sockets: number;
  /** The last handover's pause (ms the slot's new clients waited) and size (bytes adopted). */
  lastPauseMs: number | undefined;
  lastBytes: number | undefined;
}

export interface TopologyEvents extends Record<string, unknown> {
  handover: HandoverInfo;
  reloadStart: ReloadStartInfo;
  reloadProgress: ReloadProgressInfo;
  reloadEnd: ReloadReport;
  scaled: ScaledInfo;
}

const REASONS: Readonly<Record<string, string>> = {
  exited: 'the replacement exited during start-up',
  forkFailed: 'the replacement process could not be created (see the error log)',
  readyTimeout: 'the replacement was not ready within `readyTimeout`',
  shutdown: 'shutdown began',
};

export class Topology extends TypedEmitter<TopologyEvents> {
  readonly #options: Readonly<ResolvedListenOptions>;
  readonly #supervisor: Supervisor;
  readonly #slots: SlotOwner;
  readonly #log: Logger;
  readonly #concurrency: number;
  #chain: Promise<unknown> = Promise.resolve();
  #runningReload: Promise<ReloadReport> | undefined;
  #queuedReload: Promise<ReloadReport> | undefined;
  /** Per slot: ms its last rolling-restart step took, from fork to the old worker's exit. */
  readonly #lastReloadMs: (number | undefined)[] = [];
  /** The slot count once every queued scale step has run; undefined when none is queued. */
  #scaleTarget: number | undefined;
  #queuedScales = 0;
  readonly #handovers: HandoverStats = {
    adopted: 0, empty: {}, sockets: 0, lastPauseMs: undefined, lastBytes: undefined,
  };

  constructor(options: Readonly<ResolvedListenOptions>, supervisor: Supervisor, log: Logger) {
    super();
    this.#options = options;
    this.#supervisor = supervisor;
    this.#slots = supervisor.slots;
    this.#log = log.child({ component: 'lifecycle' });
    this.#concurrency = options.reloadConcurrency;
  }

  /**
   * Replaces every worker, slot by slot, keeping each slot's clients on it.
   * @throws {StickyError} `STICKY_ERR_RELOAD_FAILED` with `report` when a replacement failed to start.
   */
  reload(): Promise<ReloadReport> {
    if (this.#queuedReload !== undefined) return this.#queuedReload;
    if (this.#runningReload !== undefined) {
      // Files may have changed after the running reload forked some slots: run once more after it.
      this.#queuedReload = this.#runningReload.catch(() => undefined).then(() => this.#startReload());
      return this.#queuedReload;
    }
    return this.#startReload();
  }

  lastReloadDuration(slot: number): number | undefined {
    return this.#lastReloadMs[slot];
  }

  handoverStats(): HandoverStats {
    const { empty, ...rest } = this.#handovers;
    return { ...rest, empty: { ...empty } };
  }

  /**
   * Replaces the worker `workerId` in `slot` through the rolling-restart path (fork, ready, switch,
   * drain), unless it is no longer the slot's worker. Waits its turn behind reloads and scaling.
   */
  recycle(slot: number, workerId: number): Promise<SlotReloadReport | undefined> {
    return this.#serialize(async () => {
      const current = this.#supervisor.current(slot);
      if (current === undefined || current.worker.id !== workerId || current.isRetiring) return undefined;
      const result = await this.#replace(slot);
      if (result.status === 'replaced') this.#log.info({ slot, workerId, newWorkerId: result.newWorkerId },
        'worker recycled');
      else this.#log.error({ slot, workerId, reason: result.reason }, 'recycle failed: replacement did not start');
      return result;
    });
  }

  /**
   * Gives the slot of worker `workerId`, whose application closed its server, a successor through the
   * same path (fork, ready, install, retire the old worker), also when the old worker already exited.
   * A successor that does not start leaves the slot to the respawn policy. Waits its turn.
   */
  replaceClosed(slot: number, workerId: number): Promise<SlotReloadReport | undefined> {
    return this.#serialize(async () => {
      const view = this.#slots.view(slot);
      if (view === undefined) return undefined;
      if (!needsSuccessor(view.state === 'vacant', view.current?.worker.id, workerId)) return undefined;
      const result = await this.#replace(slot);
      if (result.status === 'replaced') {
        this.#log.info({ slot, workerId, newWorkerId: result.newWorkerId }, 'worker replaced after closing its server');
      } else {
        this.#log.error({ slot, workerId, reason: result.reason }, 'successor did not start: the slot respawns');
        this.#supervisor.respawnClosedSlot(slot, workerId);
      }
      return result;
    });
  }

  /** Adds or removes slots at the end until there are `count`. */
  scale(count: number): Promise<void> {
    this.#scaleTarget = count;
    this.#queuedScales++;
    const run = this.#serialize(() => this.#scale(count));
    const settle = (): void => {
      if (--this.#queuedScales === 0) this.#scaleTarget = undefined;
    };
    run.then(settle, settle);
    return run;
  }

  /**
   * One step up or down (SIGTTIN/SIGTTOU) from where the queued steps lead, so a burst of signals
   * adds up instead of several steps computing the same target.
   */
  scaleBy(delta: number): Promise<void> {
    return this.scale(nextScaleTarget(this.#scaleTarget ?? this.#slots.size, delta));
  }

  #startReload(): Promise<ReloadReport> {
    this.#queuedReload = undefined;
    const run = this.#serialize(() => this.#reload());
    this.#runningReload = run;
    const clear = (): void => {
      if (this.#runningReload === run) this.#runningReload = undefined;
    };
    run.then(clear, clear);
    return run;
  }

  #serialize<T>(task: () => Promise<T>): Promise<T> {
    const next = this.#chain.catch(() => undefined).then(() => {
      if (this.#supervisor.isStopping) throw this.#shutdownError();
      return task();
    });
    this.#chain = next;
    return next;
  }

  #shutdownError(): StickyError {
    return new StickyError(ErrorCode.InvalidState, 'The cluster is shutting down.',
      { hint: 'Reload and scale only run before `close()`.' });
  }

  async #reload(): Promise<ReloadReport> {
    const total = this.#supervisor.slotCount;
    const reports: SlotReloadReport[] = [];
    this.#log.info({ slots: total }, 'reload begin');
    this.emit('reloadStart', { slots: total });
    let failed: SlotReloadReport | undefined;
    for (const batch of planRollout(total, this.#concurrency)) {
      if (failed === undefined && this.#supervisor.isStopping) {
        const slot = batch[0] as number;
        const reason = REASONS.shutdown as string;
        failed = { slot, status: 'skipped', oldWorkerId: undefined, newWorkerId: undefined, reason };
      }
      if (failed !== undefined) {
        for (const slot of batch) {
          const oldWorkerId = this.#supervisor.current(slot)?.worker.id;
          reports.push({ slot, status: 'skipped', oldWorkerId, newWorkerId: undefined });
        }
        continue;
      }
      const results = await Promise.all(batch.map((slot) => this.#replace(slot)));
      for (const result of results) {
        reports.push(result);
        if (result.status === 'failed') failed ??= result;
        this.emit('reloadProgress', { ...result, done: reports.length, total });
      }
    }
    const report: ReloadReport = { ok: failed === undefined, slots: reports };
    this.emit('reloadEnd', report);
    if (failed === undefined) {
      this.#log.info({ slots: total }, 'reload end');
      return report;
    }
    this.#log.error({ slot: failed.slot, reason: failed.reason }, 'reload stopped: replacement failed');
    throw new ReloadError(report, failed);
  }

  /** Fork the replacement, wait until it is ready, install it in the slot, drain the old worker. */
  async #replace(slot: number): Promise<SlotReloadReport> {
    const old = this.#slots.view(slot)?.current;
    const startedAt = performance.now();
    const replacement = this.#supervisor.fork(slot, true);
    const isReady = await replacement.settled;
    if (!isReady || this.#supervisor.isStopping) {
      // The replacement failed to start: the old worker keeps the slot. During shutdown the
      // shutdown retires it (its exit hooks run); otherwise it is killed.
      if (replacement.exitCode === undefined && !this.#supervisor.isStopping) this.#supervisor.kill(replacement);
      await replacement.exited;
      // An old worker that crashed meanwhile left the slot to this replacement: the slot respawns now.
      this.#supervisor.respawnVacant(slot, old === undefined ? 0 : performance.now() - old.forkedAt);
      const reason = REASONS[replacement.startFailure ?? 'shutdown'] ?? 'unknown';
      return { slot, status: 'failed', oldWorkerId: old?.worker.id, newWorkerId: replacement.worker.id, reason };
    }
    if (old !== undefined && this.#canHandOver(old)) {
      const handover = await this.#handOver(old, replacement);
      if (handover.isSuccessorGone) {
        // The old worker already left its slot: the slot gets a new worker as after a crash.
        this.#supervisor.respawnClosedSlot(slot, old.worker.id);
        const reason = REASONS.exited as string;
        return { slot, status: 'failed', oldWorkerId: old.worker.id, newWorkerId: replacement.worker.id, reason };
      }
    } else {
      startEmpty(replacement, old === undefined || old.exitCode !== undefined ? 'crashed' : 'noHandover');
      if (old !== undefined) this.#countEmpty('noHandover');
    }
    // Whoever held the slot meanwhile leaves it: the old worker, or the respawn of an old worker that
    // crashed while the replacement started. Exactly one process per slot remains.
    this.#slots.install(replacement);
    await Promise.all((this.#slots.view(slot)?.leaving ?? []).map((tracked) => this.#drain(tracked)));
    this.#lastReloadMs[slot] = Math.round(performance.now() - startedAt);
    return { slot, status: 'replaced', oldWorkerId: old?.worker.id, newWorkerId: replacement.worker.id };
  }

  /** The old worker offered its slot state and can still hand it over. */
  #canHandOver(old: Tracked): boolean {
    return old.hasHandoverOffer && old.isReady && old.exitCode === undefined && !old.isRetiring &&
      old.worker.isConnected() && this.#slots.view(old.slot)?.current === old;
  }

  async #handOver(old: Tracked, replacement: Tracked): Promise<{ isSuccessorGone: boolean }> {
    const limits = { timeout: this.#options.handoverTimeout, maxBytes: this.#options.handoverMaxBytes };
    const { isSuccessorGone, ...info } = await handOver(old, replacement, this.#slots, limits);
    if (isSuccessorGone) return { isSuccessorGone };
    if (info.isAdopted) this.#handovers.adopted++;
    else this.#countEmpty(info.reason ?? 'handoverFailed');
    this.#handovers.sockets += info.sockets;
    this.#handovers.lastPauseMs = info.pauseMs;
    this.#handovers.lastBytes = info.bytes;
    const { slot, fromWorkerId: workerId, toWorkerId: newWorkerId, pauseMs, bytes, sockets } = info;
    const fields = { slot, workerId, newWorkerId, pauseMs };
    if (info.isAdopted) this.#log.info({ ...fields, bytes, sockets }, 'slot state handed over');
    else this.#log.warn({ ...fields, reason: info.reason }, 'successor starts without the slot state');
    this.emit('handover', info);
    return { isSuccessorGone };
  }

  #countEmpty(reason: EmptyStartReason): void {
    this.#handovers.empty[reason] = (this.#handovers.empty[reason] ?? 0) + 1;
  }

  /** Retires a worker as shutdown does (drain, hooks) and waits for its exit, killing it past the deadline. */
  async #drain(tracked: Tracked, isSlotRemoved = false): Promise<void> {
    if (tracked.exitCode !== undefined) return;
    const timeout = this.#options.drainTimeout;
    const removal = isSlotRemoved ? { isSlotRemoved } : {};
    this.#supervisor.retire(tracked, { waitForConnections: true, timeout, ...removal });
    if (!(await settlesWithin(tracked.exited, this.#options.shutdownTimeout))) {
      const error = new StickyError(ErrorCode.DrainTimeout,
        `Worker ${tracked.worker.id} did not finish draining within \`shutdownTimeout\`.`);
      this.#log.warn({ err: error, workerId: tracked.worker.id }, 'retired worker killed at deadline');
      this.#supervisor.kill(tracked);
      await tracked.exited;
    }
  }

  async #scale(count: number): Promise<void> {
    const from = this.#slots.size;
    while (this.#slots.size < count) {
      const tracked = this.#supervisor.startWorker(this.#slots.add());
      // The new slot enters the routing table only once its worker is ready: until then no client moves.
      if (!(await tracked.settled)) {
        this.#slots.removeLast();
        if (tracked.exitCode === undefined) this.#supervisor.kill(tracked);
        const reason = REASONS[tracked.startFailure ?? 'exited'] ?? 'unknown';
        const message = `The worker for new slot ${tracked.slot} did not become ready: ${reason}.`;
        throw new StickyError(ErrorCode.WorkerStartFailed, message, {
          hint: `See the worker logs; the cluster keeps the ${this.#slots.size} slots that started.`,
        });
      }
      try {
        this.#slots.confirmLast();
      } catch (error) {
        // The new slot's socket could not be placed (a process joined the port meanwhile): the
        // cluster keeps the slots it has, and the worker that got no socket leaves.
        this.#slots.removeLast();
        await this.#drain(tracked);
        throw error;
      }
    }
    while (this.#slots.size > count) {
      this.#lastReloadMs.length = Math.min(this.#lastReloadMs.length, this.#slots.size - 1);
      const tracked = this.#slots.removeLast();
      if (tracked !== undefined) await this.#drain(tracked, true);
    }
    if (from !== count) {
      this.#log.info({ from, to: count }, 'scaled');
      this.emit('scaled', { from, to: count });
    }
  }
}
