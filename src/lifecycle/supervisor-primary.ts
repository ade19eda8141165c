import cluster, { type Worker } from 'node:cluster';
import type { Logger } from '../logger.js';
import { encodeWorkerEnv, type ResolvedListenOptions } from '../options/index.js';
import { encodeMessage, type RuntimeMessage, type RuntimeMessageMap } from '../ipc/index.js';
import type { SlotTable } from '../sticky/index.js';
import { TypedEmitter } from '../internal/typed-emitter.js';
import { decideRespawn, takesSlotOver, type RespawnPolicy } from './respawn-policy.js';
import {
  UPSTREAM_REUSE_HINT, respawnLimitError, workerTimeoutError, type SlotState, type SupervisorEvents, type WorkerInfo,
} from './supervisor-events.js';
import { Tracked } from './tracked-worker-primary.js';
import { SlotOwner } from './slot-owner-primary.js';
import { Watchdog } from './watchdog-primary.js';
import { WorkerChannels } from './worker-channel-primary.js';
import { decideServerClose, needsSuccessor } from './server-close.js';
import { forwardMovedSocket, forwardUnsent, startEmpty } from './handover-primary.js';

export type {
  SlotState, SupervisorEvents, UpstreamReuseInfo, WorkerExitInfo, WorkerInfo, WorkerTimeoutInfo,
} from './supervisor-events.js';
export type { StartFailure, Tracked } from './tracked-worker-primary.js';

// Worker processes: fork, readiness, exits, the watchdog and the respawn policy's executor. Which
// worker serves which slot is the slot owner's (`slots`); the supervisor asks it to install, fail or
// unroute, as the topology does for rolling restarts and scaling. Every way a worker process ends
// (crash, hang, closed channel, closed server, retirement) meets here, which is why the file is long.

/**
 * A worker killed by SIGINT/SIGTERM may have been hit by a Ctrl-C or `kill` to the whole process
 * group, which the primary is about to see too; its exit is reported this much later, so shutdown can win.
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
const UNROUTED = Object.freeze(encodeMessage('sticky:unrouted', Object.freeze({})));
const ignoreSendError = (): void => {
  // A ping to a worker whose channel just closed: the disconnect and exit handlers deal with it.
};

export class Supervisor extends TypedEmitter<SupervisorEvents> {
  /** The slots and their owner: the only writer of slot state and of the table's routes. */
  readonly slots: SlotOwner;
  /** What the workers send on their channels: decoded, and what is dropped counted. */
  readonly channels: WorkerChannels;
  readonly #options: Readonly<ResolvedListenOptions>;
  readonly #table: SlotTable;
  readonly #log: Logger;
  readonly #policy: RespawnPolicy;
  readonly #tracked = new Map<Worker, Tracked>();
  readonly #watchdog: Watchdog;
  restarts = 0;
  workerTimeouts = 0;
  /** Shutdown began (its `shutdownDelay` included, while the workers still serve). */
  #isShuttingDown = false;
  /** Exits by SIGINT/SIGTERM not reported yet, see #onExit. */
  readonly #heldExits = new Map<Tracked, () => void>();

  constructor(options: Readonly<ResolvedListenOptions>, table: SlotTable, log: Logger) {
    super();
    this.#options = options;
    this.#table = table;
    this.slots = new SlotOwner(table, options.workers);
    this.#log = log.child({ component: 'lifecycle' });
    this.channels = new WorkerChannels(this.#log);
    const { respawnDelay: baseDelay, maxRespawnDelay: maxDelay, minUptime, maxRestarts, restartWindow } = options;
    this.#policy = { baseDelay, maxDelay, jitter: 0.2, minUptime, maxRestarts, restartWindow };
    this.#watchdog = new Watchdog(options.workerTimeout, {
      watched: () => this.#watched(),
      ping: (tracked) => {
        if (tracked.worker.isConnected()) tracked.worker.send(PING, ignoreSendError);
      },
      timedOut: (tracked, silentFor) => this.#onTimeout(tracked, silentFor),
    });
  }

  start(): void {
    for (let slot = 0; slot < this.slots.size; slot++) this.startWorker(slot);
    this.#watchdog.start();
  }

  get isStopping(): boolean {
    return this.slots.isStopping;
  }

  get slotCount(): number {
    return this.slots.size;
  }

  /** Every worker process alive now. */
  workers(): Worker[] {
    return [...this.#tracked.keys()];
  }

  readyCount(): number {
    return this.slots.readyCount();
  }

  /** The slot of a worker of ours (alive), or undefined. */
  slotOf(worker: Worker): number | undefined {
    return this.#tracked.get(worker)?.slot;
  }

  current(slot: number): Tracked | undefined {
    return this.slots.view(slot)?.current;
  }

  slotStates(): SlotState[] {
    return this.slots.states();
  }

  /** Shutdown began: a worker that closes its server from now on gets no successor. */
  beginShutdown(): void {
    this.#isShuttingDown = true;
    this.#releaseHeldExits();
  }

  /** Shutdown: no respawn from now on, and no pending one. */
  stopRespawning(): void {
    this.slots.stop();
    this.#releaseHeldExits();
    // Draining workers are bounded by the shutdown deadline instead.
    this.#watchdog.stop();
    for (const tracked of this.#tracked.values()) tracked.abandonStart();
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
    this.slots.unroute(tracked);
    tracked.requestClose(encodeMessage('sticky:close', payload));
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

  /**
   * Forks a worker for `slot`; it becomes the slot's worker only once the slot owner installs it. A
   * `successor` (a planned replacement's) learns from the topology what state it starts with.
   */
  fork(slot: number, isSuccessor = false): Tracked {
    const worker = cluster.fork(encodeWorkerEnv(this.#options, slot));
    const tracked = new Tracked(worker, slot, this.#table.link(slot, worker), isSuccessor);
    // First, before the application can add listeners of its own to the worker (see WorkerChannels.watch).
    this.channels.watch(worker, (message, handle) => {
      if (message?.type === 'sticky:handoverSocket') return forwardMovedSocket(tracked, message.payload, handle);
      if (message?.type === 'sticky:handoverUnsent') forwardUnsent(tracked, message.payload);
      else this.#onMessage(tracked, message);
      return false;
    });
    this.#log.debug({ slot, workerId: worker.id, workerPid: worker.process.pid }, 'worker forked');
    this.#tracked.set(worker, tracked);
    tracked.awaitReady(this.#options.readyTimeout, () => {
      this.#log.error({ workerId: worker.id, readyTimeout: this.#options.readyTimeout }, 'worker not ready in time');
      this.kill(tracked);
    });
    worker.on('online', () => this.emit('workerOnline', this.#info(tracked)));
    worker.on('disconnect', () => this.#onDisconnect(tracked));
    worker.on('exit', (code: number | null, signal: string | null) => this.#onExit(tracked, code, signal));
    worker.on('error', (error: Error) => this.#onError(tracked, error));
    return tracked;
  }

  /** Forks a worker for `slot` and has the slot owner install it as the slot's worker. */
  startWorker(slot: number): Tracked {
    const tracked = this.fork(slot);
    this.slots.install(tracked);
    return tracked;
  }

  #info(tracked: Tracked): WorkerInfo {
    return { slot: tracked.slot, workerId: tracked.worker.id, pid: tracked.worker.process.pid ?? 0 };
  }

  #onMessage(tracked: Tracked, message: RuntimeMessage | undefined): void {
    // Any message shows the worker's event loop and channel work (the watchdog's pongs among them), but
    // a figures report: the worker sends it on its own timer, also once it stopped reading its channel.
    if (message?.type !== 'sticky:figures') tracked.markSeen();
    if (message === undefined) return;
    if (message.type === 'sticky:ready') this.#onReady(tracked);
    else if (message.type === 'sticky:recycle') {
      if (!tracked.isReady || tracked.isRetiring || tracked.hasClosedServer || this.isStopping) return;
      this.emit('recycle', { ...this.#info(tracked), ...message.payload });
    } else if (message.type === 'sticky:serverClose') {
      this.#onServerClose(tracked);
    } else if (message.type === 'sticky:handoverOffer') {
      tracked.markHandoverOffer();
    } else if (message.type === 'sticky:adopted') {
      tracked.markAdopted(message.payload);
    } else if (message.type === 'sticky:upstreamReuse') {
      this.emit('upstreamReuse', { ...this.#info(tracked), ...message.payload, hint: UPSTREAM_REUSE_HINT });
    } else if (message.type === 'sticky:figures') {
      this.emit('figures', { ...this.#info(tracked), report: message.payload });
    } else if (message.type === 'sticky:metrics') {
      this.emit('workerMetrics', { ...this.#info(tracked), ...message.payload });
    } else if (message.type === 'sticky:masterclose') {
      this.emit('masterclose', { waitForConnections: message.payload.waitForConnections, workerId: tracked.worker.id });
    }
  }

  /** The worker's application closed its server (see `decideServerClose`). */
  #onServerClose(tracked: Tracked): void {
    const verdict = decideServerClose({
      isShuttingDown: this.#isShuttingDown || this.isStopping, isRetiring: tracked.isRetiring,
      isReady: tracked.isReady, hasClosedServer: tracked.hasClosedServer,
    });
    if (verdict === 'ignore') return;
    const info = this.#info(tracked);
    if (verdict === 'giveUp') {
      this.#log.warn({ workerId: info.workerId, slot: info.slot }, 'worker closed its server before it was ready');
      this.#leave(tracked);
      return;
    }
    tracked.markServerClosed();
    this.slots.withdraw(tracked, UNROUTED);
    if (verdict === 'replace') this.emit('workerServerClose', info);
    else this.#log.info({ workerId: info.workerId, slot: info.slot }, 'worker closed its server during shutdown');
  }

  /**
   * The successor of a worker that closed its server did not start: the worker leaves its slot anyway
   * (it takes no connection; it drains and exits) and the respawn policy fills the slot, as after a crash.
   */
  respawnClosedSlot(slot: number, workerId: number): void {
    const view = this.slots.view(slot);
    if (this.isStopping || view === undefined) return;
    if (!needsSuccessor(view.state === 'vacant', view.current?.worker.id, workerId)) return;
    const current = view.current;
    const uptime = current === undefined ? 0 : performance.now() - current.forkedAt;
    if (current !== undefined) {
      this.slots.release(current);
      this.retire(current, { waitForConnections: true, timeout: this.#options.drainTimeout });
    }
    if (!view.isProvisional) this.#scheduleRespawn(slot, uptime);
  }

  /**
   * The slot's planned successor (a rolling restart's, a recycle's, a closed server's) while it starts
   * or takes the state over: forked, not installed yet, not given up on.
   */
  #startingSuccessor(slot: number): Tracked | undefined {
    const current = this.current(slot);
    for (const tracked of this.#tracked.values()) {
      if (tracked.slot !== slot || tracked === current) continue;
      const facts = { isSuccessor: tracked.isSuccessor, isRetiring: tracked.isRetiring || tracked.isGivenUp,
        hasFailed: tracked.startFailure !== undefined || tracked.exitCode !== undefined };
      if (takesSlotOver(facts)) return tracked;
    }
    return undefined;
  }

  /**
   * A replacement did not start after the slot's worker crashed (the crash left the slot to it): the
   * vacant slot gets a worker through the respawn policy, as after the crash.
   */
  respawnVacant(slot: number, uptime: number): void {
    const view = this.slots.view(slot);
    if (this.isStopping || view === undefined || view.isProvisional || view.state !== 'vacant') return;
    this.#scheduleRespawn(slot, uptime);
  }

  #onReady(tracked: Tracked): void {
    if (this.isStopping || !tracked.markReady()) return;
    // A worker that is no planned replacement's successor starts without slot state.
    if (!tracked.isSuccessor) {
      startEmpty(tracked, (this.slots.view(tracked.slot)?.generation ?? 0) > 0 ? 'crashed' : 'firstStart');
    }
    this.slots.ready(tracked);
    const { slot, worker } = tracked;
    this.#log.info({ slot, workerId: worker.id, workerPid: worker.process.pid }, 'worker ready');
    this.emit('workerReady', this.#info(tracked));
  }

  #onError(tracked: Tracked, error: Error): void {
    // A process that never started (spawn failed: EMFILE, EAGAIN, ENOMEM) gets this 'error' and never
    // an 'exit': it takes the crash path, or its slot would keep a phantom worker for good.
    if (tracked.worker.process.pid === undefined) {
      this.#log.error({ err: error, workerId: tracked.worker.id, slot: tracked.slot }, 'worker fork failed');
      tracked.failStart('forkFailed');
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
    this.slots.detach(tracked);
    if (!this.#tracked.has(tracked.worker)) return;
    const timer = setTimeout(() => {
      if (!this.#tracked.has(tracked.worker) || this.isStopping) return;
      const isCurrent = this.#isServing(tracked);
      this.#log.warn({ workerId: tracked.worker.id, slot: tracked.slot, isCurrent }, 'worker closed its channel');
      this.#leave(tracked);
    }, DISCONNECT_GRACE_MS);
    timer.unref();
  }

  /** Its slot's worker, not on its way out (retiring, or replaced after closing its server). */
  #isServing(tracked: Tracked): boolean {
    return this.current(tracked.slot) === tracked && !tracked.isRetiring && !tracked.hasClosedServer;
  }

  /**
   * A worker the runtime cannot keep (its channel closed, it closed its server before it was ready)
   * leaves like a planned retirement (SIGTERM: drain, exit hooks); its slot, if it served it, goes to
   * the respawn policy, so a worker that does it in a loop backs off.
   */
  #leave(tracked: Tracked): void {
    const isCurrent = this.#isServing(tracked);
    this.#giveUp(tracked);
    if (!isCurrent || !this.slots.release(tracked)) return;
    if (this.slots.view(tracked.slot)?.isProvisional !== false) return;
    this.#scheduleRespawn(tracked.slot, performance.now() - tracked.forkedAt);
  }

  /** Retires a worker the runtime cannot talk to: SIGTERM now, SIGKILL after a grace. */
  #giveUp(tracked: Tracked): void {
    tracked.markRetiring();
    // Only lifecycle kills: a worker without a usable channel cannot be asked to close.
    tracked.terminate(KILL_GRACE_MS, () => this.kill(tracked));
  }

  *#watched(): Iterable<Tracked> {
    for (const slot of this.slots.views()) {
      const tracked = slot.current;
      if (tracked?.isReady === true && !tracked.isRetiring && !tracked.isGivenUp) yield tracked;
    }
  }

  #onTimeout(tracked: Tracked, silentFor: number): void {
    const info = this.#info(tracked);
    this.workerTimeouts++;
    const { pid: workerPid, ...about } = info;
    this.#log.error({ ...about, workerPid, silentFor, workerTimeout: this.#options.workerTimeout }, 'worker timed out');
    const error = workerTimeoutError(info, silentFor, this.#options.workerTimeout);
    // New connections wait for the replacement. The ones routed to it stay with it until its exit
    // (moments away): a worker that woke up in between must not share them with the replacement.
    this.slots.unroute(tracked);
    this.emit('workerTimeout', { ...info, silentFor, error });
    // Only lifecycle kills: the worker is stuck. A blocked loop never runs a SIGTERM handler, so
    // SIGKILL follows after a short grace. The exit takes the crash path: a respawn in the same slot.
    tracked.terminate(KILL_GRACE_MS, () => this.kill(tracked));
  }

  #onExit(tracked: Tracked, code: number | null, signal: string | null): void {
    if (!this.#tracked.delete(tracked.worker)) return;
    this.slots.detach(tracked);
    tracked.markExited(code, this.isStopping ? 'shutdown' : 'exited');
    const isCurrent = this.slots.vacate(tracked);
    // A worker that closed its server may end itself (`server.close(() => process.exit())`): its
    // successor is already on the way.
    const expected = tracked.isRetiring || tracked.hasClosedServer || this.isStopping || !isCurrent;
    const uptime = performance.now() - tracked.forkedAt;
    const isGroupSignal = signal === 'SIGINT' || signal === 'SIGTERM' || code === 130 || code === 143;
    if (expected || !isGroupSignal) {
      this.#reportExit(tracked, code, signal, expected, uptime);
      return;
    }
    // A Ctrl-C or `kill` to the whole process group reaches the workers too, and a busy primary may
    // see a worker's exit before its own signal: the exit is held for a moment, and reported as
    // expected when shutdown begins meanwhile (no error log, no respawn).
    const timer = setTimeout(() => {
      this.#heldExits.delete(tracked);
      this.#reportExit(tracked, code, signal, this.isStopping || this.#isShuttingDown, uptime);
    }, SIGNAL_GRACE_MS);
    this.#heldExits.set(tracked, () => {
      clearTimeout(timer);
      this.#reportExit(tracked, code, signal, true, uptime);
    });
  }

  /** Shutdown began: the exits held by #onExit were part of it. */
  #releaseHeldExits(): void {
    const held = [...this.#heldExits.values()];
    this.#heldExits.clear();
    for (const report of held) report();
  }

  #reportExit(tracked: Tracked, code: number | null, signal: string | null, expected: boolean, uptime: number): void {
    const info = { ...this.#info(tracked), code, signal, expected };
    if (!expected) this.#log.error({ workerId: info.workerId, exitCode: code, signal }, 'worker exited unexpectedly');
    this.emit('workerExit', info);
    if (expected || this.slots.view(tracked.slot)?.isProvisional !== false) return;
    this.#scheduleRespawn(tracked.slot, uptime);
  }

  /**
   * Asks the slot owner to respawn the slot, whose worker lived `uptime` ms, after the policy's delay,
   * or to mark it failed.
   */
  #scheduleRespawn(slot: number, uptime: number): void {
    const history = this.slots.view(slot)?.history;
    if (history === undefined) return;
    const successor = this.#startingSuccessor(slot);
    if (successor !== undefined) {
      // A rolling restart's replacement is on its way: it takes the slot, or the topology respawns it.
      this.#log.info({ slot, newWorkerId: successor.worker.id }, 'slot left to its successor: no respawn');
      return;
    }
    const decision = decideRespawn(history, uptime, performance.now(), this.#policy);
    const respawn = (): void => {
      this.restarts++;
      this.startWorker(slot);
    };
    if (decision.action === 'fail') {
      const retryIn = this.#options.failedSlotRetry;
      const crashes = decision.history.crashes.length;
      this.#log.error({ slot, crashes, retryIn }, 'slot failed: too many crashes');
      const error = respawnLimitError(slot, crashes, this.#options.restartWindow, retryIn);
      this.slots.fail(slot, decision.history, retryIn, respawn);
      this.emit('slotFailed', { slot, crashes, retryIn, error });
      return;
    }
    const delay = decision.delay;
    this.#log.debug({ slot, delay }, 'respawn scheduled');
    this.emit('respawnScheduled', { slot, delay, crashes: decision.history.crashes.length });
    this.slots.scheduleRespawn(slot, decision.history, delay, respawn);
  }
}
