import type { Worker } from 'node:cluster';
import type { StickyError } from '../errors.js';
import { WorkerLink } from './worker-link-primary.js';
import { nextLiveSlot } from './routing/index.js';
import type { DataPlane } from './data-plane.js';

// Slot → the slot's ready worker, whatever the plane. Slots are stable: a slot keeps its index while
// its worker dies, respawns or is replaced, so no other client moves. The table holds the routes
// (which link serves each slot, which slots failed) and passes each change to its data plane, chosen
// once when the primary listens (see data-plane.ts): the plane carries the connections. The table
// holds the routing facts of a slot's state (`SlotStateName`, slot-state.ts): a route to a worker is
// `'ready'`; a failed slot is `'failed'`; any other slot's clients wait (the slot owner tells which).

interface Route {
  /** The worker the slot's new clients go to: the slot is `'ready'`. */
  link: WorkerLink | undefined;
  /** Crashed too often (`'failed'`): its clients go to the next `'ready'` slot instead of waiting. */
  isFailed: boolean;
}

const newRoute = (): Route => ({ link: undefined, isFailed: false });

export class SlotTable {
  #slots: Route[];
  #isClosed = false;
  /** Set by close(): the plane's close, once. */
  #closed: Promise<void> | undefined;
  #plane: DataPlane | undefined;

  constructor(count: number) {
    this.#slots = Array.from({ length: count }, newRoute);
  }

  get size(): number {
    return this.#slots.length;
  }

  get isClosed(): boolean {
    return this.#isClosed;
  }

  /** The plane the primary listens with; undefined before it listens. */
  get plane(): DataPlane | undefined {
    return this.#plane;
  }

  /** The primary listens through `plane` from now on (once); routes set before are passed on to it. */
  open(plane: DataPlane): void {
    if (this.#plane !== undefined) throw new Error('the data plane is chosen once');
    this.#plane = plane;
    this.#slots.forEach((route, slot) => {
      if (route.link !== undefined) plane.attach(slot, route.link);
      if (route.isFailed) plane.setFailed(slot, true, this.liveLink(slot + 1));
    });
  }

  /** Creates the link through which the primary reaches a worker of `slot`; routes nothing yet. */
  link(slot: number, worker: Worker): WorkerLink {
    return new WorkerLink(worker, slot);
  }

  /** The link serving the slot now, if the slot is `'ready'`. Hot path. */
  route(slot: number): WorkerLink | undefined {
    return this.#slots[slot]?.link;
  }

  /** The slot's new clients go to `link`: with its worker the slot's current one, the slot is `'ready'`. */
  isRouted(slot: number, link: WorkerLink): boolean {
    return this.#slots[slot]?.link === link;
  }

  isFailed(slot: number): boolean {
    return this.#slots[slot]?.isFailed ?? false;
  }

  /** The link of the first `'ready'` slot from `from` on (wrapping). */
  liveLink(from: number): WorkerLink | undefined {
    const slot = nextLiveSlot(this.#slots.length, from, (index) => this.#slots[index]?.link !== undefined);
    return slot === -1 ? undefined : this.#slots[slot]?.link;
  }

  /** Routes the slot to `link` (its worker is ready); the plane hands it what the slot kept waiting. */
  setRoute(slot: number, link: WorkerLink): void {
    const entry = this.#slots[slot];
    if (entry === undefined || !link.isOpen) return;
    entry.link = link;
    this.#plane?.attach(slot, link);
  }

  /** Stops routing to `link`; later sockets of its slot wait for the next route. */
  clearRoute(link: WorkerLink): void {
    const entry = this.#slots[link.slot];
    if (entry?.link === link) entry.link = undefined;
  }

  /**
   * The link's worker takes no more sockets: later ones of its slot wait for the next route, and those
   * queued in the link join them; `message` tells the worker after the socket already in flight.
   */
  withdraw(link: WorkerLink, message: object): void {
    this.clearRoute(link);
    link.recall(message);
  }

  /** Stops routing to the link's worker and re-routes every socket it had not yet passed to Node. */
  detach(link: WorkerLink): void {
    this.clearRoute(link);
    link.close();
  }

  /** Marks a slot failed (its clients go to the next live slot at once) or live again. */
  setFailed(slot: number, isFailed: boolean): void {
    const entry = this.#slots[slot];
    if (entry === undefined) return;
    entry.isFailed = isFailed;
    this.#plane?.setFailed(slot, isFailed, isFailed ? this.liveLink(slot + 1) : undefined);
  }

  /** Connections handed to the slot's workers since the slot was created. */
  handoffs(slot: number): number {
    return this.#plane?.handoffs(slot) ?? 0;
  }

  queueDepth(slot: number): number {
    return this.#plane?.queueDepth(slot) ?? 0;
  }

  /** Why the table cannot grow by a slot now (kernel steering: its socket's place is unverified), or undefined. */
  refuseGrowth(): StickyError | undefined {
    return this.#plane?.refuseGrowth();
  }

  /**
   * Grows or shrinks the table.
   * @throws {StickyError} when the plane cannot place a new slot (the table stays as it was).
   */
  resize(count: number): void {
    const apply = (): void => {
      this.#slots.splice(count);
      while (this.#slots.length < count) this.#slots.push(newRoute());
    };
    if (this.#plane === undefined) apply();
    else this.#plane.resize(count, apply);
  }

  /**
   * Shutdown: no more routing; the plane hands over (when waiting for connections) or closes what waits.
   * Settles once the plane stopped accepting (when waiting, after it took what the kernel queued).
   */
  close(waitForConnections: boolean): Promise<void> {
    this.#closed ??= (async () => {
      // The table still routes while the plane takes what the kernel queued.
      await this.#plane?.close(waitForConnections);
      this.#isClosed = true;
    })();
    return this.#closed;
  }
}
