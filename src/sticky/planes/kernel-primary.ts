import { isIP, type AddressInfo, type Socket } from 'node:net';
import { lookup } from 'node:dns/promises';
import type { Logger } from '../../logger.js';
import { isStickyError, type StickyError } from '../../errors.js';
import type { ResolvedListenOptions } from '../../options/index.js';
import { encodeMessage } from '../../ipc/index.js';
import type { DataPlane } from '../data-plane.js';
import type { LinkCarrier, WorkerLink } from '../worker-link-primary.js';
import { KernelGroup } from './kernel-group-primary.js';
import type { GroupWatchEmit, KernelGroupStats } from './group-watch-primary.js';
import type { NativeListenHandle } from '../../internal/node-internals-primary.js';
import { loadReusePortSockets } from './reuseport-native.js';

// Kernel steering, the primary's half (the worker's is kernel-worker.ts): each slot has its own
// listening socket in the group (kernel-group-primary.ts, watched by group-watch-primary.ts), and the
// kernel's routing program picks the slot from the client address. Attaching a slot gives its worker
// that socket, on which it accepts itself; no connection passes through the primary. A failed slot's
// socket is taken over (the stranded takeover) by the next live slot's worker until it heals.

/** The kernel plane's part of a worker's link: the slot sockets the worker was given. */
class SlotSockets implements LinkCarrier {
  readonly #link: WorkerLink;
  /** Slots whose listening socket the worker was sent: its own, or a failed one's. */
  readonly #slots = new Set<number>();

  constructor(link: WorkerLink) {
    this.#link = link;
    link.carry(this);
  }

  /** The worker accepts itself: nothing waits in the primary. */
  get unacknowledged(): number {
    return 0;
  }

  recall(): void {}
  close(): void {}

  /**
   * Gives the worker a slot's listening socket (its own, or a failed slot's whose queue it takes over),
   * on which it accepts itself from now on. Once per slot; the primary keeps its own copy, so the
   * socket outlives the worker.
   */
  acceptOn(handle: object, backlog: number, slot: number): void {
    const link = this.#link;
    if (this.#slots.has(slot) || !link.isOpen || !link.worker.isConnected()) return;
    this.#slots.add(slot);
    // 'net.Native': Node never closes a bare handle it sent, so the primary's copy stays open. A failed
    // send means the worker is gone: the socket's queue waits for the slot's next worker.
    link.worker.send(encodeMessage('sticky:listen', { backlog, slot }), handle as Socket, link.markGone);
  }

  /** The worker was given the slot's socket, was not told to stop, and can still be told. */
  acceptsOn(slot: number): boolean {
    const link = this.#link;
    return this.#slots.has(slot) && link.isOpen && link.worker.isConnected();
  }

  /** The worker stops accepting on a slot's socket (that slot healed, or its socket goes away). */
  stopAcceptingFor(slot: number): void {
    const link = this.#link;
    if (!this.#slots.delete(slot) || !link.isOpen || !link.worker.isConnected()) return;
    link.worker.send(encodeMessage('sticky:unlisten', { slot }), link.markGone);
  }
}

const socketsOf = (link: WorkerLink): SlotSockets => (link.carrier as SlotSockets | undefined) ?? new SlotSockets(link);

export class KernelPlane implements DataPlane {
  readonly kind = 'kernel';
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

  get address(): AddressInfo {
    return this.#group.address;
  }

  get stats(): KernelGroupStats {
    return { ...this.#group.watch.stats };
  }

  attach(slot: number, link: WorkerLink): void {
    const handle = this.#group.handle(slot);
    if (handle === undefined) return;
    socketsOf(link).acceptOn(handle, this.#backlog, slot);
    this.#hold(slot, link);
  }

  /** A failed slot's buckets go to the next live slot, whose worker takes over its queue; both end when it heals. */
  setFailed(slot: number, isFailed: boolean, live: WorkerLink | undefined): void {
    this.#group.setFailed(slot, isFailed);
    this.#release(slot);
    const handle = this.#group.handle(slot);
    if (!isFailed || handle === undefined || live === undefined || live.slot === slot) return;
    socketsOf(live).acceptOn(handle, this.#backlog, slot);
    this.#stranded.set(slot, live);
    this.#hold(slot, live);
  }

  refuseGrowth(): StickyError | undefined {
    return this.#group.refuseGrowth();
  }

  resize(count: number, apply: () => void): void {
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
    apply();
  }

  handoffs(): number {
    return 0;
  }

  queueDepth(): number {
    return 0;
  }

  /** The primary accepts nothing here: each socket is retired in the background while its workers drain it. */
  close(waitForConnections: boolean): Promise<void> {
    this.#group.release().forEach((handle, slot) => void this.#retire(slot, handle, waitForConnections));
    this.#stranded.clear();
    return Promise.resolve();
  }

  /**
   * A socket that goes away: drained while a worker still accepts on it, then every worker that holds
   * it stops accepting (closing its copy) and the primary closes its own. Without `drain` (shutdown
   * that does not wait), or with nobody accepting, what is queued is reset.
   */
  async #retire(slot: number, handle: NativeListenHandle, drain: boolean): Promise<void> {
    const links = [...this.#holders.get(slot) ?? []];
    this.#holders.delete(slot);
    const isAccepted = links.some((link) => socketsOf(link).acceptsOn(slot));
    if (drain) await this.#group.drain(handle, isAccepted ? this.#drainTimeout : 0);
    for (const link of links) socketsOf(link).stopAcceptingFor(slot);
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
    const link = this.#stranded.get(slot);
    if (link !== undefined) socketsOf(link).stopAcceptingFor(slot);
    this.#stranded.delete(slot);
  }
}

export interface KernelOpenContext {
  readonly options: Readonly<ResolvedListenOptions>;
  readonly log: Logger;
  readonly emit: GroupWatchEmit;
  readonly slots: number;
  readonly isStopped: () => boolean;
  readonly closedWhileBinding: () => Error;
}

/**
 * Opens the group of per-slot sockets; the reason when the kernel cannot route here (no native part,
 * an old Node, a refused program).
 * @throws the bind error (EADDRINUSE…) or a bad address: the caller's problem on either plane.
 */
export async function openKernelPlane(context: KernelOpenContext, port: number, host: string | undefined,
): Promise<{ plane: KernelPlane } | { reason: string | undefined }> {
  const { options } = context;
  const native = loadReusePortSockets();
  if (native.sockets === undefined) return { reason: native.reason };
  // The native part takes numeric addresses; Node's listen() resolves a name to its first address too.
  const numeric = host === undefined || isIP(host) !== 0 ? host : (await lookup(host)).address;
  if (context.isStopped()) throw context.closedWhileBinding();
  try {
    const group = KernelGroup.open(native.sockets, {
      host: numeric, port, backlog: options.backlog, seed: options.hashSeed, slots: context.slots,
      checkInterval: options.groupCheckInterval, log: context.log, emit: context.emit,
    });
    return { plane: new KernelPlane(group, options.backlog, options.drainTimeout) };
  } catch (error) {
    const syscall = (error as { syscall?: unknown }).syscall;
    // A taken port (also by a process that joined the group while it opened) or a bad address
    // is the caller's problem on either plane.
    if (syscall === 'bind' || syscall === 'listen' || error instanceof TypeError || isStickyError(error)) throw error;
    return { reason: `the kernel refused the routing program: ${(error as Error).message}` };
  }
}
