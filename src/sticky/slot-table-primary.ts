import type { Worker } from 'node:cluster';
import type { StickyError } from '../errors.js';
import { WorkerLink } from './worker-link-primary.js';
import { nextLiveSlot } from './route.js';
import type { Connection } from './connection.js';
import type { KernelGroup } from './kernel-group-primary.js';
import { KernelPlane, PrimaryHopPlane, type DataPlane } from './data-plane-primary.js';

// Slot → the slot's ready worker. Slots are stable: a slot keeps its index while its worker dies,
// respawns or is replaced, so no other client moves. A slot without a ready worker queues its
// sockets (bounded, with a deadline) and then fails them over to the next live slot.
//
// How connections reach a routed slot is the table's data plane (see data-plane-primary.ts): the
// primary hop, where the table hands each connection to the slot's link, or the kernel's per-slot
// sockets, where routing a slot gives its worker the slot's socket and no connection passes here.

export interface SlotTableOptions {
  slotQueueLimit: number;
  slotWaitTimeout: number;
  /** Called for a socket no worker can take; header modes answer 503 there. */
  reject: (socket: Connection) => void;
}

export interface SlotTableStats {
  routed: number;
  queued: number;
  failedOver: number;
  rejected: number;
}

interface Slot {
  link: WorkerLink | undefined;
  /** Crashed too often: its sockets fail over at once instead of waiting. */
  isFailed: boolean;
  waiting: Waiting[];
  timer: NodeJS.Timeout | undefined;
  /** Connections handed to this slot's workers. */
  handoffs: number;
}

interface Waiting {
  socket: Connection;
  bytes: string | undefined;
  since: number;
}

const newSlot = (): Slot => ({ link: undefined, isFailed: false, waiting: [], timer: undefined, handoffs: 0 });

export class SlotTable {
  readonly stats: SlotTableStats = { routed: 0, queued: 0, failedOver: 0, rejected: 0 };
  #slots: Slot[];
  #isClosed = false;
  readonly #options: SlotTableOptions;
  #plane: DataPlane = new PrimaryHopPlane();

  constructor(count: number, options: SlotTableOptions) {
    this.#slots = Array.from({ length: count }, newSlot);
    this.#options = options;
  }

  get size(): number {
    return this.#slots.length;
  }

  /**
   * Kernel steering: from now on each slot's worker accepts on the slot's socket in `group`; a socket
   * that goes away is drained for at most `drainTimeout` ms.
   */
  useKernel(group: KernelGroup, backlog: number, drainTimeout: number): void {
    this.#plane = new KernelPlane(group, backlog, drainTimeout);
  }

  /** Creates the link through which a worker of `slot` receives sockets; routes nothing yet. */
  link(slot: number, worker: Worker): WorkerLink {
    return new WorkerLink(worker, slot, { slotWaitTimeout: this.#options.slotWaitTimeout, undeliverable: this.#onUndeliverable, expired: this.#onExpired });
  }

  /** Routes the slot to `link` (its worker is ready) and hands it the sockets the slot kept waiting. */
  setRoute(slot: number, link: WorkerLink): void {
    const entry = this.#slots[slot];
    if (entry === undefined || !link.isOpen) return;
    entry.link = link;
    this.#plane.attach(slot, link);
    this.#flushWaiting(entry, link);
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

  /** Marks a slot failed (its sockets fail over at once) or live again. */
  setFailed(slot: number, isFailed: boolean): void {
    const entry = this.#slots[slot];
    if (entry === undefined) return;
    entry.isFailed = isFailed;
    this.#plane.setFailed(slot, isFailed, isFailed ? this.#liveLink(slot + 1) : undefined);
    if (!isFailed) return;
    if (entry.timer !== undefined) clearTimeout(entry.timer);
    entry.timer = undefined;
    const waiting = entry.waiting;
    entry.waiting = [];
    for (const item of waiting) this.#failOver(slot, item.socket, item.bytes);
  }

  /** Connections handed to the slot's workers since the slot was created. */
  handoffs(slot: number): number {
    return this.#slots[slot]?.handoffs ?? 0;
  }

  queueDepth(slot: number): number {
    return this.#slots[slot]?.waiting.length ?? 0;
  }

  /** Hot path: the socket goes to the slot's worker, or waits for it. */
  dispatch(slot: number, socket: Connection, bytes: string | undefined): void {
    const entry = this.#slots[slot];
    if (entry === undefined || this.#isClosed) {
      this.#reject(socket);
      return;
    }
    const link = entry.link;
    if (link !== undefined && entry.waiting.length === 0) {
      // A worker that stopped acknowledging (hung, or not reading its channel) holds at most
      // `slotQueueLimit` connections beyond the one in flight (each for `slotWaitTimeout` at most);
      // the rest fail over. A healthy worker in a burst is never stalled and keeps its clients.
      if (link.queueDepth >= this.#options.slotQueueLimit && link.isStalled(performance.now())) {
        this.#failOver(slot, socket, bytes);
        return;
      }
      this.stats.routed++;
      entry.handoffs++;
      link.send(socket, bytes);
      return;
    }
    if (link !== undefined) {
      // Keep arrival order behind sockets that already wait for this route.
      entry.waiting.push({ socket, bytes, since: performance.now() });
      this.#flushWaiting(entry, link);
      return;
    }
    if (entry.isFailed || entry.waiting.length >= this.#options.slotQueueLimit) {
      this.#failOver(slot, socket, bytes);
      return;
    }
    this.stats.queued++;
    entry.waiting.push({ socket, bytes, since: performance.now() });
    if (entry.timer === undefined) this.#armTimer(slot, entry);
  }

  /** Why the table cannot grow by a slot now (kernel steering: its socket's place is unverified), or undefined. */
  refuseGrowth(): StickyError | undefined {
    return this.#plane.refuseGrowth();
  }

  /**
   * Grows or shrinks the table; sockets waiting on removed slots are re-dispatched.
   * @throws {StickyError} when the plane cannot place a new slot (the table stays as it was).
   */
  resize(count: number): void {
    this.#plane.resize(count);
    const removed = this.#slots.splice(count);
    while (this.#slots.length < count) this.#slots.push(newSlot());
    for (const entry of removed) {
      if (entry.timer !== undefined) clearTimeout(entry.timer);
      for (const waiting of entry.waiting) this.#failOver(-1, waiting.socket, waiting.bytes);
    }
  }

  /**
   * Shutdown: no more routing. Connections still waiting are handed to any live worker when
   * `handOff` is true, else closed.
   */
  close(handOff: boolean): void {
    if (this.#isClosed) return;
    this.#plane.close(handOff);
    this.#slots.forEach((entry, slot) => {
      if (entry.timer !== undefined) clearTimeout(entry.timer);
      entry.timer = undefined;
      const waiting = entry.waiting;
      entry.waiting = [];
      // A slot with waiting sockets has no ready worker: the next live slot serves them while it drains.
      for (const item of waiting) {
        if (handOff) this.#failOver(slot, item.socket, item.bytes);
        else this.#reject(item.socket);
      }
    });
    this.#isClosed = true;
  }

  #flushWaiting(entry: Slot, link: WorkerLink): void {
    if (entry.timer !== undefined) clearTimeout(entry.timer);
    entry.timer = undefined;
    const waiting = entry.waiting;
    entry.waiting = [];
    entry.handoffs += waiting.length;
    for (const item of waiting) {
      this.stats.routed++;
      link.send(item.socket, item.bytes);
    }
  }

  #armTimer(slot: number, entry: Slot): void {
    const oldest = entry.waiting[0];
    if (oldest === undefined) return;
    const delay = Math.max(0, oldest.since + this.#options.slotWaitTimeout - performance.now());
    entry.timer = setTimeout(() => this.#expire(slot, entry), delay);
    entry.timer.unref();
  }

  #expire(slot: number, entry: Slot): void {
    entry.timer = undefined;
    const deadline = performance.now() - this.#options.slotWaitTimeout;
    let expired = 0;
    while (expired < entry.waiting.length && (entry.waiting[expired] as Waiting).since <= deadline) expired++;
    const late = entry.waiting.splice(0, expired);
    for (const item of late) this.#failOver(slot, item.socket, item.bytes);
    this.#armTimer(slot, entry);
  }

  #liveLink(from: number): WorkerLink | undefined {
    const slot = nextLiveSlot(this.#slots.length, from, (index) => this.#slots[index]?.link !== undefined);
    return slot === -1 ? undefined : this.#slots[slot]?.link;
  }

  /** Affinity is lost for this client only; service is kept. */
  #failOver(slot: number, socket: Connection, bytes: string | undefined): void {
    const link = this.#isClosed ? undefined : this.#liveLink(slot + 1);
    if (link === undefined) {
      this.#reject(socket);
      return;
    }
    this.stats.failedOver++;
    const target = this.#slots[link.slot];
    if (target !== undefined) target.handoffs++;
    link.send(socket, bytes);
  }

  #reject(socket: Connection): void {
    this.stats.rejected++;
    this.#options.reject(socket);
  }

  #onExpired = (link: WorkerLink, socket: Connection, bytes: string | undefined): void => {
    const target = this.#isClosed ? undefined : this.#liveLink(link.slot + 1);
    // With no other live worker, waiting longer in the same stuck link would only hold the fd.
    if (target === undefined || target === link) {
      this.#reject(socket);
      return;
    }
    this.stats.failedOver++;
    target.send(socket, bytes);
  };

  #onUndeliverable = (link: WorkerLink, socket: Connection, bytes: string | undefined): void => {
    this.clearRoute(link);
    this.dispatch(link.slot, socket, bytes);
  };
}
