import { fstatSync } from 'node:fs';
import { isIP, type AddressInfo } from 'node:net';
import type { Logger } from '../../logger.js';
import type { StickyError } from '../../errors.js';
import { bucketTable, nextLiveSlot } from '../routing/index.js';
import { encodeProgram, generateReusePortProgram } from './reuseport-program.js';
import { holdListeningFd, type NativeListenHandle } from '../../internal/node-internals-primary.js';
import type { ReusePortSockets } from './reuseport-native.js';
import { GroupWatch, type GroupWatchEmit } from './group-watch-primary.js';
import { drainListener, type DrainResult } from './listener-drain-primary.js';

// The kernel data plane's group: one SO_REUSEPORT listening socket per slot, all on the public
// address, created and held by the primary for its whole life, and a BPF program that sends each new
// connection to the socket of its client's slot. A slot's worker accepts on that socket itself.
//
// Socket index in the group = order of listen(); closing a socket moves the last one into its
// index. So a slot's socket is never closed while the primary lives, except the last one on
// scale-down, and the table never names a slot the group lacks (the kernel would silently hash).
// Closing a listener resets what waits in its queue, so a dead worker's clients wait in the queue
// the primary keeps open until the replacement accepts them, and a socket that goes away (the last
// one on scale-down, all at shutdown) is drained first: it refuses new handshakes while its workers
// accept what is queued (listener-drain-primary.ts).
//
// What else listens on the port is the watch's (group-watch-primary.ts, with the trust boundary):
// the group asks it before and after each grow and before each shrink, and its periodic check has
// the group attach its program again. The plain-bind probe at open keeps an occupied port failing with
// EADDRINUSE. A shrink closes the last of our indices, which the smaller table no longer names: a
// joiner moving into it gets no client.

export interface KernelGroupOptions {
  host: string | undefined;
  port: number;
  backlog: number;
  seed: number;
  slots: number;
  /** Ms between periodic checks of the group's members. */
  checkInterval: number;
  log: Logger;
  emit: GroupWatchEmit;
}

interface Member {
  fd: number;
  handle: NativeListenHandle;
  /** The socket's inode, as the port's listener table names it. */
  inode: number;
}

export class KernelGroup {
  readonly address: AddressInfo;
  readonly watch: GroupWatch;
  readonly #sockets: ReusePortSockets;
  readonly #host: string;
  readonly #isIPv6Only: boolean;
  readonly #backlog: number;
  readonly #seed: number;
  readonly #members: Member[] = [];
  readonly #failed = new Set<number>();
  /** Slots the attached table spreads clients over. */
  #routed = 0;
  /** The program attached last, attached again by each periodic check. */
  #program: Uint32Array | undefined;

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
      group.watch.start(options.checkInterval, group.#attachAgain);
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
    this.watch = new GroupWatch({
      port, host, log: options.log, emit: options.emit,
      members: () => this.#members.map((member) => member.inode),
    });
  }

  get size(): number {
    return this.#members.length;
  }

  /** The slot's listening handle, to send to its worker. */
  handle(slot: number): NativeListenHandle | undefined {
    return this.#members[slot]?.handle;
  }

  /**
   * Opens the next slot's socket; it gets no client until `route()` includes it.
   * @throws {StickyError} when its index in the group cannot be verified (see `refuseGrowth`).
   */
  grow(): void {
    const before = this.refuseGrowth();
    if (before !== undefined) throw before;
    const { fd } = this.#sockets.listen(this.#host, this.address.port, this.#backlog, this.#isIPv6Only);
    let member: Member;
    try {
      member = { fd, handle: holdListeningFd(fd), inode: fstatSync(fd).ino };
    } catch (error) {
      this.#sockets.close(fd);
      throw error;
    }
    this.#members.push(member);
    // A process that joined between the two looks holds the index this socket was meant to have.
    const after = this.refuseGrowth();
    if (after === undefined) return;
    this.#members.pop();
    member.handle.close();
    throw after;
  }

  /** Why a new socket's index cannot be verified now (the watch's `refusal`); undefined when it can. */
  refuseGrowth(): StickyError | undefined {
    return this.watch.refusal();
  }

  /** Spreads clients over the first `slots` sockets (attaching the table for that many slots). */
  route(slots: number): void {
    this.#routed = Math.min(slots, this.#members.length);
    this.#attach();
  }

  /**
   * Takes the last socket out of the group's indices (scale-down, after `route()` stopped sending it
   * clients) and returns its handle, which the caller drains and closes (`drain`).
   */
  shrink(): NativeListenHandle | undefined {
    this.watch.inspect();
    const member = this.#members.pop();
    if (member === undefined) return undefined;
    this.#failed.delete(this.#members.length);
    this.watch.retire(member.inode);
    return member.handle;
  }

  /**
   * Refuses new handshakes on a socket that is going away and resolves once its queue is empty (its
   * workers keep accepting), at most after `timeout` ms; see listener-drain-primary.ts.
   */
  drain(handle: NativeListenHandle, timeout: number): Promise<DrainResult> {
    return drainListener(this.#sockets, handle.fd, timeout);
  }

  /** A failed slot's buckets go to the next live slot until it heals. */
  setFailed(slot: number, isFailed: boolean): void {
    if (isFailed === this.#failed.has(slot)) return;
    if (isFailed) this.#failed.add(slot);
    else this.#failed.delete(slot);
    this.#attach();
  }

  close(): void {
    for (const handle of this.release()) handle.close();
  }

  /** Shutdown: stops the checks and hands over every socket's handle (by slot), for the caller to drain and close. */
  release(): NativeListenHandle[] {
    this.watch.stop();
    return this.#members.splice(0).map((member) => member.handle);
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
    const program = encodeProgram(generateReusePortProgram(table, this.#seed, this.#members.length));
    this.#sockets.attach(first.fd, program);
    this.#program = program;
  }

  /** The watch's periodic check: the program attached last, again (a replaced one is undone). */
  #attachAgain = (): boolean => {
    const first = this.#members[0];
    if (first === undefined || this.#program === undefined) return false;
    this.#sockets.attach(first.fd, this.#program);
    return true;
  };
}

function isFamilyError(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return code === 'EAFNOSUPPORT' || code === 'EADDRNOTAVAIL' || code === 'EPROTONOSUPPORT';
}
