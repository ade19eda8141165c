import type { SlotTable } from '../sticky/index.js';
import { slotStateOf, type SlotStateName } from '../slot-state.js';
import { EMPTY_HISTORY, type CrashHistory } from './respawn-policy.js';
import type { SlotState } from './supervisor-events.js';
import type { Tracked } from './tracked-worker-primary.js';

// The slots and their one owner. A slot is the unit of the cluster: it keeps its index while its
// worker starts, crashes, is respawned or replaced, and its clients stay with it. The owner alone
// changes slots (adds and removes them, installs workers, marks them failed, routes and unroutes them
// in the table, whose data plane delivers the connections); the supervisor (fork, exit, respawn) and
// the topology (reload, scale) ask it, and read slots only through `SlotView`. Longer than 250 lines
// because every change of a slot, and only that, is here.

export interface SlotView {
  readonly index: number;
  /** What the slot does with its new clients now (`slotStateOf` over the owner's and the table's facts). */
  readonly state: SlotStateName;
  /** Removed by scaling down: no longer one of the slots. */
  readonly isRemoved: boolean;
  /** The worker that serves the slot (once ready), or undefined while it has none. */
  readonly current: Tracked | undefined;
  /** Workers that held the slot and have not exited yet (replaced by a rolling restart, or given up on). */
  readonly leaving: readonly Tracked[];
  readonly history: CrashHistory;
  /** Workers installed in this slot so far, minus one (crash respawns and reload replacements). */
  readonly generation: number;
  /** Added by scaling up and not routed yet: a crash there is a failed start, not a respawn case. */
  readonly isProvisional: boolean;
}

class Slot implements SlotView {
  readonly index: number;
  readonly #table: SlotTable;
  current: Tracked | undefined;
  leaving: Tracked[] = [];
  history: CrashHistory = EMPTY_HISTORY;
  /** A pending respawn or failed-slot retry. */
  timer: NodeJS.Timeout | undefined;
  isFailed = false;
  generation = 0;
  hasHadWorker = false;
  isProvisional: boolean;
  isRemoved = false;

  constructor(index: number, isProvisional: boolean, table: SlotTable) {
    this.index = index;
    this.isProvisional = isProvisional;
    this.#table = table;
  }

  get state(): SlotStateName {
    const { current } = this;
    return slotStateOf({
      isFailed: this.isFailed,
      hasWorker: current !== undefined,
      isWorkerReady: current?.isReady === true,
      // A removed slot's index may belong to a slot added since.
      isRouted: !this.isRemoved && current !== undefined && this.#table.isRouted(this.index, current.link),
      isProvisional: this.isProvisional,
      isRespawnPending: this.timer !== undefined,
    });
  }

  clearTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

export class SlotOwner {
  readonly #table: SlotTable;
  readonly #slots: Slot[] = [];
  #isStopping = false;

  /** `table` has a slot for each of the `count` slots the cluster starts with. */
  constructor(table: SlotTable, count: number) {
    this.#table = table;
    for (let index = 0; index < count; index++) this.#slots.push(new Slot(index, false, table));
  }

  get size(): number {
    return this.#slots.length;
  }

  get isStopping(): boolean {
    return this.#isStopping;
  }

  view(slot: number): SlotView | undefined {
    return this.#slots[slot];
  }

  views(): readonly SlotView[] {
    return this.#slots;
  }

  readyCount(): number {
    let count = 0;
    for (const slot of this.#slots) if (slot.current?.isReady === true) count++;
    return count;
  }

  states(): SlotState[] {
    return this.#slots.map((slot) => ({
      slot: slot.index,
      state: slot.state,
      workerId: slot.current?.worker.id,
      pid: slot.current?.worker.process.pid,
      isReady: slot.current?.isReady ?? false,
      isFailed: slot.isFailed,
      generation: slot.generation,
      isRespawnPending: slot.timer !== undefined,
      uptime: slot.current === undefined ? undefined : Math.round(performance.now() - slot.current.forkedAt),
    }));
  }

  /** Shutdown: nothing is routed from now on, and no pending respawn or retry runs. */
  stop(): void {
    this.#isStopping = true;
    for (const slot of this.#slots) slot.clearTimer();
  }

  /**
   * Adds a provisional slot at the end, outside the table until `confirmLast()`; returns its index.
   * @throws {StickyError} when the table's data plane cannot place another slot now.
   */
  add(): number {
    const refusal = this.#table.refuseGrowth();
    if (refusal !== undefined) throw refusal;
    this.#slots.push(new Slot(this.#slots.length, true, this.#table));
    return this.#slots.length - 1;
  }

  /**
   * The last slot's worker started: the table grows to include it, and its crashes are respawned.
   * @throws {StickyError} when the table cannot grow after all; the slot stays provisional.
   */
  confirmLast(): void {
    const slot = this.#slots.at(-1);
    if (slot === undefined || !slot.isProvisional) return;
    this.#table.resize(this.#slots.length);
    slot.isProvisional = false;
    if (slot.current?.isReady === true) this.#route(slot, slot.current);
  }

  /**
   * Removes the last slot (the table shrinks first, so no client is routed to it any more) and returns
   * its worker, which the caller retires.
   */
  removeLast(): Tracked | undefined {
    const slot = this.#slots.at(-1);
    if (slot === undefined) return undefined;
    if (!slot.isProvisional) this.#table.resize(this.#slots.length - 1);
    this.#slots.pop();
    slot.clearTimer();
    slot.isRemoved = true;
    return slot.current;
  }

  /**
   * Makes `tracked` its slot's worker; the slot routes to it once it is ready (at once if it is). A
   * worker it displaces (a rolling restart's old worker) joins `leaving` until it exits.
   */
  install(tracked: Tracked): void {
    const slot = this.#live(tracked.slot);
    if (slot === undefined) return;
    // The slot has a worker again: a pending respawn or failed-slot retry must not fork another.
    slot.clearTimer();
    if (slot.hasHadWorker) slot.generation++;
    slot.hasHadWorker = true;
    if (slot.current !== undefined && slot.current !== tracked) slot.leaving.push(slot.current);
    slot.current = tracked;
    if (tracked.isReady) this.#route(slot, tracked);
  }

  /** The worker is ready: its slot routes to it if it is the slot's worker. */
  ready(tracked: Tracked): void {
    const slot = this.#live(tracked.slot);
    if (slot?.current === tracked) this.#route(slot, tracked);
  }

  /** New connections of the worker's slot wait for its next worker; the ones routed to it stay. */
  unroute(tracked: Tracked): void {
    this.#table.clearRoute(tracked.link);
  }

  /**
   * The worker's application closed its server: never routed again; what its link still queued waits
   * in the slot for its next worker, and `message` reaches it after the socket already on its way.
   */
  withdraw(tracked: Tracked, message: object): void {
    this.#table.withdraw(tracked.link, message);
  }

  /** The worker's channel is gone: unrouted, and what its link had not passed to Node is re-routed. */
  detach(tracked: Tracked): void {
    this.#table.detach(tracked.link);
  }

  /** The worker exited; true if it was its slot's worker. */
  vacate(tracked: Tracked): boolean {
    const slot = this.#live(tracked.slot);
    if (slot === undefined) return false;
    slot.leaving = slot.leaving.filter((leaving) => leaving !== tracked);
    if (slot.current !== tracked) return false;
    slot.current = undefined;
    return true;
  }

  /** The runtime gave up on its slot's worker, which leaves the slot (it is `leaving` until its exit). */
  release(tracked: Tracked): boolean {
    const slot = this.#live(tracked.slot);
    if (slot === undefined || slot.current !== tracked) return false;
    slot.current = undefined;
    slot.leaving.push(tracked);
    return true;
  }

  /** The slot respawns its worker in `delay` ms (`respawn` installs it), unless removed or stopped first. */
  scheduleRespawn(index: number, history: CrashHistory, delay: number, respawn: () => void): void {
    const slot = this.#live(index);
    if (slot === undefined) return;
    slot.history = history;
    slot.clearTimer();
    if (delay === 0) this.#respawn(slot, respawn);
    else slot.timer = setTimeout(() => this.#respawn(slot, respawn), delay);
  }

  /**
   * The slot crashed too often: its clients fail over to other slots at once. It is tried again, with
   * a fresh crash history, after `retryIn` ms, or when a rolling restart installs a worker.
   */
  fail(index: number, history: CrashHistory, retryIn: number, respawn: () => void): void {
    const slot = this.#live(index);
    if (slot === undefined) return;
    slot.history = history;
    slot.isFailed = true;
    this.#table.setFailed(index, true);
    slot.clearTimer();
    slot.timer = setTimeout(() => {
      slot.history = EMPTY_HISTORY;
      this.#respawn(slot, respawn);
    }, retryIn);
    slot.timer.unref();
  }

  #respawn(slot: Slot, respawn: () => void): void {
    slot.timer = undefined;
    if (this.#isStopping || slot.isRemoved) return;
    respawn();
  }

  #live(index: number): Slot | undefined {
    const slot = this.#slots[index];
    return slot === undefined || slot.isRemoved ? undefined : slot;
  }

  /**
   * The only path to a route: never during shutdown, never to a slot outside the table, never to a
   * worker that closed its server, healing a failed slot.
   */
  #route(slot: Slot, tracked: Tracked): void {
    if (this.#isStopping || slot.isProvisional || tracked.hasClosedServer) return;
    if (slot.isFailed) {
      slot.isFailed = false;
      this.#table.setFailed(slot.index, false);
    }
    this.#table.setRoute(slot.index, tracked.link);
  }
}
