import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from '../../logger.js';
import type { ResolvedListenOptions } from '../../options/index.js';
import {
  HeadReader, HeadVerdict, answerAndClose, slotOfAddress,
  type HeadStrategy, type Refusal, type RoutingStrategy, type SocketStrategy,
} from '../routing/index.js';
import { closeConnection, type Connection, type TcpHandle } from '../connection.js';
import type { DataPlane } from '../data-plane.js';
import type { SlotQueueStats } from '../slot-queue.js';
import type { SlotTable } from '../slot-table-primary.js';
import type { WorkerLink } from '../worker-link-primary.js';
import { HopDelivery } from './hop-delivery-primary.js';
import { takeSocketHandle } from '../../internal/node-internals-primary.js';
import { HopListener } from './hop-listener-primary.js';
import { loadFdPassing } from './reuseport-native.js';

// The primary hop, the primary's half (the worker's is hop-worker.ts): the primary owns the public
// port (hop-listener-primary.ts), reads what the mode's strategy needs (the head reader, on the bare
// handle), and hands each connection over IPC to its slot's worker through the slot queue and the
// worker's handoff link. Only the modes that give the connection to a key function without reading
// (generatePrehashArrayNoParsing) accept net.Sockets. Hot path: no logging and no per-connection
// allocation beyond what Node makes; outcomes are counted.

/** The balancer's counters this plane adds to (see BalancerStats for their meaning). */
export type HopCounts = Record<'accepted' | 'acceptErrors' | 'keyFallbacks' | Refusal, number>;

export interface HopContext {
  readonly options: Readonly<ResolvedListenOptions>;
  readonly log: Logger;
  readonly strategy: RoutingStrategy;
  readonly table: SlotTable;
  readonly counts: HopCounts;
  /** The primary stopped accepting: a listen still binding closes what it bound. */
  readonly isStopped: () => boolean;
  readonly closedWhileBinding: () => Error;
}

/** Reused for every getpeername() call: the address is read out before the next connection. */
const PEER: { address?: string; port?: number; family?: string } = {};
/** The peer of a bare handle into PEER; false when the peer is already gone. */
const readPeer = (handle: TcpHandle): boolean => handle.getpeername(PEER) === 0 && PEER.address !== undefined;

export class HopPlane implements DataPlane {
  readonly kind = 'primary';
  /** How connections reach the workers: native fd passing (each worker's own socket pair), or Node's IPC. */
  readonly handoff: 'native' | 'ipc';
  readonly #listener: HopListener;
  readonly #table: SlotTable;
  readonly #strategy: RoutingStrategy;
  readonly #counts: HopCounts;
  readonly #hashSeed: number;
  readonly #delivery: HopDelivery;
  readonly #heads: HeadReader | undefined;

  constructor(context: HopContext) {
    const { options, strategy, table } = context;
    this.#table = table;
    this.#strategy = strategy;
    this.#counts = context.counts;
    this.#hashSeed = options.hashSeed;
    const unavailable = strategy.answers.rejected;
    const native = options.nativeHandoff ? loadFdPassing() : undefined;
    this.handoff = native === undefined ? 'ipc' : 'native';
    this.#delivery = new HopDelivery(table, {
      fdPassing: native,
      slotQueueLimit: options.slotQueueLimit,
      slotWaitTimeout: options.slotWaitTimeout,
      // Modes that speak HTTP answer 503 (a bare handle gets a socket to write it); the others close.
      reject: unavailable === undefined ? closeConnection : (connection) => answerAndClose(connection, unavailable),
    });
    this.#heads = strategy.reads === 'nothing' ? undefined : new HeadReader(strategy as HeadStrategy, table, {
      onHead: (connection, peer, slot, bytes) => this.#dispatchWithFallback(slot, connection, peer, bytes),
      onRefuse: this.#refuse,
    }, options);
    // A key that is the peer address, or that comes from the first bytes, needs no net.Socket.
    const isBare = strategy.isKeyedByPeerAddress || this.#heads !== undefined;
    this.#listener = new HopListener({
      backlog: options.backlog, drainTimeout: options.drainTimeout, log: context.log,
      onSocket: strategy.reads === 'nothing' ? this.#onSocket : this.#onHeadSocket,
      onBareHandle: isBare ? this.#onBareConnection : undefined,
      onError: () => { this.#counts.acceptErrors++; },
      isStopped: context.isStopped, closedWhileBinding: context.closedWhileBinding,
    });
  }

  get stats(): SlotQueueStats {
    return this.#delivery.stats;
  }

  get pendingHeads(): number {
    return this.#heads?.size ?? 0;
  }

  get acceptPauses(): number {
    return this.#listener.pauses;
  }

  get isAcceptPaused(): boolean {
    return this.#listener.isPaused;
  }

  /** Binds the public port. @throws the bind error (EADDRINUSE…). */
  listen(port: number, host: string | undefined): Promise<AddressInfo> {
    return this.#listener.listen(port, host);
  }

  attach(slot: number, link: WorkerLink): void {
    this.#delivery.attach(slot, link);
  }

  setFailed(slot: number, isFailed: boolean): void {
    this.#delivery.setFailed(slot, isFailed);
  }

  refuseGrowth(): undefined {
    return undefined;
  }

  resize(count: number, apply: () => void): void {
    this.#delivery.resize(count, apply);
  }

  handoffs(slot: number): number {
    return this.#delivery.handoffs(slot);
  }

  queueDepth(slot: number): number {
    return this.#delivery.queueDepth(slot);
  }

  /**
   * Stops accepting. When waiting for connections, the public port first refuses new handshakes and
   * keeps accepting (and routing) until its accept queue is empty, so closing it resets no connection
   * the kernel completed (listener-drain-primary.ts). Sockets reading a head are then closed or handed
   * off; sockets waiting for a worker are handed off or closed.
   */
  async close(waitForConnections: boolean): Promise<void> {
    await this.#listener.close(waitForConnections);
    // A client still sending its HTTP head has a request on the way: when waiting for connections it
    // goes, with what was read, to the worker of its socket address, which answers it while draining.
    // (A partial PROXY header is no request a worker could read: closed.)
    const isRequest = waitForConnections && this.#strategy.reads === 'httpHead';
    for (const { connection, peerAddress: peer, buffer } of this.#heads?.drain() ?? []) {
      const read = buffer.length === 0 ? undefined : buffer.toString('base64');
      if (!isRequest) closeConnection(connection);
      else this.#dispatchWithFallback(undefined, connection, peer, read);
    }
    await this.#delivery.close(waitForConnections);
  }

  /** An accept error (EMFILE) is counted instead of surfacing as a server 'error' that would crash. */
  #onBareConnection = (status: number, handle: TcpHandle | undefined): void => {
    if (status !== 0 || handle === undefined) {
      this.#counts.acceptErrors++;
      return;
    }
    this.#counts.accepted++;
    this.#routeHandle(handle);
  };

  /** A head mode where Node's accept callback could not be taken over: the handle out of its socket. */
  #onHeadSocket = (socket: Socket): void => {
    this.#counts.accepted++;
    const handle = takeSocketHandle(socket);
    socket.destroy();
    if (handle !== null) this.#routeHandle(handle);
  };

  /** IP mode routes by the peer address; the head modes read the head on the handle first. */
  #routeHandle(handle: TcpHandle): void {
    // The peer is already gone: nothing to route.
    if (!readPeer(handle)) return void handle.close();
    const address = PEER.address as string;
    const heads = this.#heads;
    if (heads === undefined) {
      return this.#delivery.dispatch(slotOfAddress(address, this.#hashSeed, this.#table.size), handle, undefined);
    }
    const admits = (this.#strategy as HeadStrategy).admitsPeer;
    // Counted, never logged: a scan of the port must not flood the log. Closed before a byte is read.
    if (admits !== undefined && !admits(address)) return this.#refuse(handle, HeadVerdict.untrustedProxyPeer);
    heads.start(handle, address, PEER.port ?? 0, performance.now());
  }

  /** Modes that read no byte: the strategy keys the socket itself. */
  #onSocket = (socket: Socket): void => {
    this.#counts.accepted++;
    let slot: number | undefined;
    try {
      slot = (this.#strategy as SocketStrategy).slotOfSocket(socket, this.#table.size);
    } catch {
      // A throwing key function falls back to the socket address; counted, never logged here.
      slot = undefined;
    }
    this.#dispatchWithFallback(slot, socket, socket.remoteAddress, undefined);
  };

  #refuse = (connection: Connection, refusal: Refusal): void => {
    this.#counts[refusal]++;
    const answer = this.#strategy.answers[refusal];
    if (answer === undefined) closeConnection(connection);
    else answerAndClose(connection, answer);
  };

  /** No usable key (missing header, not an address, a key function that threw): route by the socket address. */
  #dispatchWithFallback(
    slot: number | undefined, connection: Connection, peerAddress: string | undefined, bytes: string | undefined,
  ): void {
    if (slot === undefined) {
      this.#counts.keyFallbacks++;
      if (peerAddress === undefined) return closeConnection(connection);
      slot = slotOfAddress(peerAddress, this.#hashSeed, this.#table.size);
    }
    this.#delivery.dispatch(slot, connection, bytes);
  }
}
