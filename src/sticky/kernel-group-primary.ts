import { isIP, type AddressInfo } from 'node:net';
import { bucketTable } from './bucket-table.js';
import { encodeProgram, generateReusePortProgram } from './reuseport-program.js';
import { holdListeningFd, type NativeListenHandle } from '../internal/node-internals-primary.js';
import type { ReusePortSockets } from './reuseport-native.js';
import { nextLiveSlot } from './route.js';

// The kernel data plane: one SO_REUSEPORT listening socket per slot, all on the public address,
// created and held by the primary for its whole life, and a BPF program that sends each new
// connection to the socket of its client's slot. A slot's worker accepts on that socket itself.
//
// Socket index in the group = order of listen(); closing a socket moves the last one into its
// index. So a slot's socket is never closed while the primary lives, except the last one on
// scale-down, and the table never names a slot the group lacks (the kernel would silently hash).
// Closing a listener resets what waits in its queue, so a dead worker's clients wait in the queue
// the primary keeps open until the replacement accepts them.
//
// Trust boundary: any process of the same user can join the group (SO_REUSEPORT checks only the
// uid) and replace its program. The plain-bind probe keeps an occupied port failing with EADDRINUSE.

export interface KernelGroupOptions {
  host: string | undefined;
  port: number;
  backlog: number;
  seed: number;
  slots: number;
}

interface Member {
  fd: number;
  handle: NativeListenHandle;
}

export class KernelGroup {
  readonly address: AddressInfo;
  readonly #sockets: ReusePortSockets;
  readonly #host: string;
  readonly #isIPv6Only: boolean;
  readonly #backlog: number;
  readonly #seed: number;
  readonly #members: Member[] = [];
  readonly #failed = new Set<number>();
  /** Slots the attached table spreads clients over. */
  #routed = 0;

  /**
   * Probes the address with a plain bind (so an occupied port fails with EADDRINUSE), opens one
   * socket per slot and attaches the table. On any failure closes what it opened and throws.
   */
  static open(sockets: ReusePortSockets, options: KernelGroupOptions): KernelGroup {
    const host = options.host ?? '::';
    // As Node does for `listen(port)`: a `::` listener also takes IPv4 clients (as mapped addresses).
    let port: number;
    let bindHost = host;
    try {
      port = sockets.probeBind(bindHost, options.port, false);
    } catch (error) {
      if (options.host !== undefined || !isFamilyError(error)) throw error;
      bindHost = '0.0.0.0';
      port = sockets.probeBind(bindHost, options.port, false);
    }
    const group = new KernelGroup(sockets, bindHost, port, options);
    try {
      for (let slot = 0; slot < options.slots; slot++) group.grow();
      group.route(options.slots);
    } catch (error) {
      group.close();
      throw error;
    }
    return group;
  }

  private constructor(sockets: ReusePortSockets, host: string, port: number, options: KernelGroupOptions) {
    this.#sockets = sockets;
    this.#host = host;
    this.#isIPv6Only = false;
    this.#backlog = options.backlog;
    this.#seed = options.seed;
    this.address = { address: host, family: isIP(host) === 6 ? 'IPv6' : 'IPv4', port };
  }

  get size(): number {
    return this.#members.length;
  }

  /** The slot's listening handle, to send to its worker. */
  handle(slot: number): NativeListenHandle | undefined {
    return this.#members[slot]?.handle;
  }

  /** Opens the next slot's socket; it gets no client until `route()` includes it. */
  grow(): void {
    const { fd } = this.#sockets.listen(this.#host, this.address.port, this.#backlog, this.#isIPv6Only);
    try {
      this.#members.push({ fd, handle: holdListeningFd(fd) });
    } catch (error) {
      this.#sockets.close(fd);
      throw error;
    }
  }

  /** Spreads clients over the first `slots` sockets (attaching the table for that many slots). */
  route(slots: number): void {
    this.#routed = Math.min(slots, this.#members.length);
    this.#attach();
  }

  /** Closes the last socket (scale-down, after `route()` stopped sending it clients). */
  shrink(): void {
    const member = this.#members.pop();
    if (member !== undefined) this.#failed.delete(this.#members.length);
    // The worker that still holds the socket keeps accepting from it until it closes its copy.
    member?.handle.close();
  }

  /** A failed slot's buckets go to the next live slot until it heals. */
  setFailed(slot: number, isFailed: boolean): void {
    if (isFailed === this.#failed.has(slot)) return;
    if (isFailed) this.#failed.add(slot);
    else this.#failed.delete(slot);
    this.#attach();
  }

  close(): void {
    for (const member of this.#members.splice(0)) member.handle.close();
  }

  #attach(): void {
    const first = this.#members[0];
    if (first === undefined || this.#routed === 0) return;
    const count = this.#routed;
    const base = bucketTable(count, this.#seed);
    let table: ArrayLike<number> = base;
    if (this.#failed.size > 0) {
      const isLive = (slot: number): boolean => !this.#failed.has(slot);
      table = base.map((slot) => {
        if (isLive(slot)) return slot;
        const next = nextLiveSlot(count, slot + 1, isLive);
        return next === -1 ? slot : next;
      });
    }
    this.#sockets.attach(first.fd, encodeProgram(generateReusePortProgram(table, this.#seed, this.#members.length)));
  }
}

function isFamilyError(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return code === 'EAFNOSUPPORT' || code === 'EADDRNOTAVAIL' || code === 'EPROTONOSUPPORT';
}
