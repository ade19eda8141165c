import type { StickyError } from '../errors.js';
import type { KernelGroup } from './kernel-group-primary.js';
import type { WorkerLink } from './worker-link-primary.js';

// How connections reach a slot's worker: the slot's data plane. The slot table keeps what both planes
// share (which link serves each slot, failed slots, the bounded per-slot wait and fail-over for the
// connections it is given) and calls these hooks where the planes differ, so no caller asks which one runs.

export interface DataPlane {
  /** The slot is routed to `link`: its worker is ready to take the slot's connections. */
  attach(slot: number, link: WorkerLink): void;
  /** The slot failed (its clients go to the next live slot, served by `live`) or healed (`live` undefined). */
  setFailed(slot: number, isFailed: boolean, live: WorkerLink | undefined): void;
  /** Why the table cannot grow by a slot now (logged and counted), or undefined. */
  refuseGrowth(): StickyError | undefined;
  /** The table is about to hold `count` slots; throws, leaving it as it was, when it cannot grow. */
  resize(count: number): void;
  /** Shutdown: no new connection reaches any slot through this plane. */
  close(): void;
}

/**
 * The primary hop: the primary accepts every connection and the table hands it to the slot's link
 * (`WorkerLink.send`), so routing and failing over are the table's own work and these hooks have none.
 */
export class PrimaryHopPlane implements DataPlane {
  attach(): void {}
  setFailed(): void {}
  refuseGrowth(): undefined {
    return undefined;
  }

  resize(): void {}
  close(): void {}
}

/**
 * Kernel steering: each slot has its own listening socket in `group`; attaching a slot gives its worker
 * that socket, on which it accepts itself. No connection passes through the table.
 */
export class KernelPlane implements DataPlane {
  readonly #group: KernelGroup;
  readonly #backlog: number;
  /** Per failed slot: the live slot's worker that also accepts what waits on the failed slot's socket. */
  readonly #stranded = new Map<number, WorkerLink>();

  constructor(group: KernelGroup, backlog: number) {
    this.#group = group;
    this.#backlog = backlog;
  }

  attach(slot: number, link: WorkerLink): void {
    const handle = this.#group.handle(slot);
    if (handle !== undefined) link.acceptOn(handle, this.#backlog);
  }

  /** A failed slot's buckets go to the next live slot, whose worker takes over its queue; both end when it heals. */
  setFailed(slot: number, isFailed: boolean, live: WorkerLink | undefined): void {
    this.#group.setFailed(slot, isFailed);
    this.#release(slot);
    const handle = this.#group.handle(slot);
    if (!isFailed || handle === undefined || live === undefined || live.slot === slot) return;
    live.acceptOn(handle, this.#backlog, slot);
    this.#stranded.set(slot, live);
  }

  refuseGrowth(): StickyError | undefined {
    return this.#group.refuseGrowth();
  }

  resize(count: number): void {
    // Up: open the new slot's socket, then attach the larger table. Down: attach the smaller table
    // first; the last socket closes once its worker, which drains what it queued, closes its copy.
    while (this.#group.size < count) this.#group.grow();
    this.#group.route(count);
    while (this.#group.size > count) this.#group.shrink();
    // The socket of a removed slot must close: no other worker keeps its stranded queue open.
    for (const slot of [...this.#stranded.keys()]) if (slot >= count) this.#release(slot);
  }

  close(): void {
    // The workers keep their copies of the slot sockets until they stop accepting.
    this.#group.close();
  }

  #release(slot: number): void {
    this.#stranded.get(slot)?.stopAcceptingFor(slot);
    this.#stranded.delete(slot);
  }
}
