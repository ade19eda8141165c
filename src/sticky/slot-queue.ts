import type { Connection } from './connection.js';
import { DeadlineQueue } from './deadline-queue.js';

// Where a connection goes once its slot is known, on a plane that carries connections itself: to the
// slot's worker if the slot is `'ready'`, else into the slot's queue (bounded by `slotQueueLimit`); past
// `slotWaitTimeout`, or with the slot `'failed'`, to the next live (`'ready'`) slot (affinity lost for
// that client only). Slot states: `SlotStateName` (slot-state.ts). Belongs to no plane and to no side:
// the primary hop uses it, and so can a plane in workers.

/** Where the queue hands a connection: a worker's link as the plane carries it. */
export interface QueueTarget {
  readonly slot: number;
  /** Connections waiting in the target itself (behind the one in flight). */
  readonly queueDepth: number;
  /** The target made no progress for `slotWaitTimeout`. */
  isStalled(now: number): boolean;
  send(socket: Connection, bytes: string | undefined): void;
}

/** The routes the queue follows: the slot table's, seen through the plane's targets. */
export interface QueueRoutes<T extends QueueTarget> {
  readonly size: number;
  readonly isClosed: boolean;
  target(slot: number): T | undefined;
  isFailed(slot: number): boolean;
  /** The first `'ready'` slot from `from` on (wrapping). */
  liveTarget(from: number): T | undefined;
}

export interface SlotQueueOptions {
  slotQueueLimit: number;
  slotWaitTimeout: number;
  /** Called for a connection no worker can take; the header modes answer 503 there. */
  reject: (socket: Connection) => void;
}

export interface SlotQueueStats {
  /** Connections handed to a worker (also after waiting in a slot queue or failing over). */
  routed: number;
  /** Connections that had to wait in a slot queue for their slot's worker to become ready. */
  queued: number;
  /** Connections given to another slot's worker because theirs stayed unavailable (affinity lost). */
  failedOver: number;
  /** Connections no worker could take (503 in the header modes, closed otherwise). */
  rejected: number;
}

interface Waiting {
  socket: Connection;
  bytes: string | undefined;
}

interface QueuedSlot {
  waiting: DeadlineQueue<Waiting>;
  /** Connections handed to this slot's workers. */
  handoffs: number;
}

export class SlotQueue<T extends QueueTarget> {
  readonly stats: SlotQueueStats = { routed: 0, queued: 0, failedOver: 0, rejected: 0 };
  readonly #routes: QueueRoutes<T>;
  readonly #options: SlotQueueOptions;
  #slots: QueuedSlot[] = [];

  constructor(routes: QueueRoutes<T>, options: SlotQueueOptions) {
    this.#routes = routes;
    this.#options = options;
    this.resize(routes.size);
  }

  /** Connections handed to the slot's workers since the slot was created. */
  handoffs(slot: number): number {
    return this.#slots[slot]?.handoffs ?? 0;
  }

  depth(slot: number): number {
    return this.#slots[slot]?.waiting.size ?? 0;
  }

  /** Hot path: the socket goes to the slot's worker, or waits for it. */
  dispatch(slot: number, socket: Connection, bytes: string | undefined): void {
    const entry = this.#slots[slot];
    if (entry === undefined || this.#routes.isClosed) {
      this.reject(socket);
      return;
    }
    const target = this.#routes.target(slot);
    if (target !== undefined && entry.waiting.size === 0) {
      // A worker that stopped acknowledging (hung, or not reading its channel) holds at most
      // `slotQueueLimit` connections beyond the one in flight (each for `slotWaitTimeout` at most);
      // the rest fail over. A healthy worker in a burst is never stalled and keeps its clients.
      if (target.queueDepth >= this.#options.slotQueueLimit && target.isStalled(performance.now())) {
        this.#failOver(slot, socket, bytes);
        return;
      }
      this.stats.routed++;
      entry.handoffs++;
      target.send(socket, bytes);
      return;
    }
    if (target !== undefined) {
      // Keep arrival order behind sockets that already wait for this route.
      entry.waiting.push({ socket, bytes });
      this.flush(slot, target);
      return;
    }
    if (this.#routes.isFailed(slot) || entry.waiting.size >= this.#options.slotQueueLimit) {
      this.#failOver(slot, socket, bytes);
      return;
    }
    this.stats.queued++;
    entry.waiting.push({ socket, bytes });
  }

  /** The slot is routed to `target`: it gets the sockets the slot kept waiting. */
  flush(slot: number, target: T): void {
    const entry = this.#slots[slot];
    if (entry === undefined) return;
    const waiting = entry.waiting.take();
    entry.handoffs += waiting.length;
    for (const item of waiting) {
      this.stats.routed++;
      target.send(item.socket, item.bytes);
    }
  }

  /** The slot failed: what waits for it fails over at once. */
  failWaiting(slot: number): void {
    for (const item of this.#slots[slot]?.waiting.take() ?? []) this.#failOver(slot, item.socket, item.bytes);
  }

  /** A connection that waited `slotWaitTimeout` in a stuck worker's link goes to another live worker. */
  expired(from: T, socket: Connection, bytes: string | undefined): void {
    const target = this.#routes.isClosed ? undefined : this.#routes.liveTarget(from.slot + 1);
    // With no other live worker, waiting longer in the same stuck link would only hold the fd.
    if (target === undefined || target === from) {
      this.reject(socket);
      return;
    }
    this.stats.failedOver++;
    target.send(socket, bytes);
  }

  /** Grows or shrinks to `count` slots; sockets waiting on removed slots fail over. */
  resize(count: number): void {
    const removed = this.#slots.splice(count);
    while (this.#slots.length < count) {
      const slot = this.#slots.length;
      this.#slots.push({
        waiting: new DeadlineQueue<Waiting>(this.#options.slotWaitTimeout,
          (item) => this.#failOver(slot, item.socket, item.bytes)),
        handoffs: 0,
      });
    }
    for (const entry of removed) for (const item of entry.waiting.take()) this.#failOver(-1, item.socket, item.bytes);
  }

  /**
   * Shutdown, before the routes close: connections still waiting are handed to any live worker when
   * waiting for connections, else rejected.
   */
  close(waitForConnections: boolean): void {
    this.#slots.forEach((entry, slot) => {
      // A slot with waiting sockets has no ready worker: the next live slot serves them while it drains.
      for (const item of entry.waiting.take()) {
        if (waitForConnections) this.#failOver(slot, item.socket, item.bytes);
        else this.reject(item.socket);
      }
    });
  }

  reject(socket: Connection): void {
    this.stats.rejected++;
    this.#options.reject(socket);
  }

  /** Affinity is lost for this client only; service is kept. */
  #failOver(slot: number, socket: Connection, bytes: string | undefined): void {
    const target = this.#routes.isClosed ? undefined : this.#routes.liveTarget(slot + 1);
    if (target === undefined) {
      this.reject(socket);
      return;
    }
    this.stats.failedOver++;
    const entry = this.#slots[target.slot];
    if (entry !== undefined) entry.handoffs++;
    target.send(socket, bytes);
  }
}
