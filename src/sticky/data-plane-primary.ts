import type { StickyError } from '../errors.js';
import type { NativeListenHandle } from '../internal/node-internals-primary.js';
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
  /**
   * Shutdown: no new connection reaches any slot through this plane; with `drain`, what the kernel
   * already queued is still accepted first.
   */
  close(drain: boolean): void;
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
  /** Per slot: the links that were given its socket (told to stop when the socket goes away). */
  readonly #holders = new Map<number, Set<WorkerLink>>();
  readonly #drainTimeout: number;

  constructor(group: KernelGroup, backlog: number, drainTimeout: number) {
    this.#group = group;
    this.#backlog = backlog;
    this.#drainTimeout = drainTimeout;
  }

  attach(slot: number, link: WorkerLink): void {
    const handle = this.#group.handle(slot);
    if (handle === undefined) return;
    link.acceptOn(handle, this.#backlog);
    this.#hold(slot, link);
  }

  /** A failed slot's buckets go to the next live slot, whose worker takes over its queue; both end when it heals. */
  setFailed(slot: number, isFailed: boolean, live: WorkerLink | undefined): void {
    this.#group.setFailed(slot, isFailed);
    this.#release(slot);
    const handle = this.#group.handle(slot);
    if (!isFailed || handle === undefined || live === undefined || live.slot === slot) return;
    live.acceptOn(handle, this.#backlog, slot);
    this.#stranded.set(slot, live);
    this.#hold(slot, live);
  }

  refuseGrowth(): StickyError | undefined {
    return this.#group.refuseGrowth();
  }

  resize(count: number): void {
    // Up: open the new slot's socket, then attach the larger table. Down: attach the smaller table
    // first, then drain the last socket: its workers accept what it queued, then close their copies.
    while (this.#group.size < count) this.#group.grow();
    this.#group.route(count);
    while (this.#group.size > count) {
      const slot = this.#group.size - 1;
      const handle = this.#group.shrink();
      this.#stranded.delete(slot);
      if (handle !== undefined) void this.#retire(slot, handle, true);
    }
  }

  close(drain: boolean): void {
    this.#group.release().forEach((handle, slot) => void this.#retire(slot, handle, drain));
    this.#stranded.clear();
  }

  /**
   * A socket that goes away: drained while a worker still accepts on it, then every worker that holds
   * it stops accepting (closing its copy) and the primary closes its own. Without `drain` (shutdown
   * that does not wait), or with nobody accepting, what is queued is reset.
   */
  async #retire(slot: number, handle: NativeListenHandle, drain: boolean): Promise<void> {
    const links = [...this.#holders.get(slot) ?? []];
    this.#holders.delete(slot);
    const isAccepted = links.some((link) => link.acceptsOn(slot));
    if (drain) await this.#group.drain(handle, isAccepted ? this.#drainTimeout : 0);
    for (const link of links) link.stopAcceptingFor(slot);
    handle.close();
  }

  #hold(slot: number, link: WorkerLink): void {
    let links = this.#holders.get(slot);
    if (links === undefined) this.#holders.set(slot, links = new Set());
    // Links of exited workers leave the set as new ones join.
    for (const held of links) if (!held.isOpen) links.delete(held);
    links.add(link);
  }

  #release(slot: number): void {
    this.#stranded.get(slot)?.stopAcceptingFor(slot);
    this.#stranded.delete(slot);
  }
}
