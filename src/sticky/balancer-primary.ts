import { createServer, isIP, type AddressInfo, type Server, type Socket } from 'node:net';
import { lookup } from 'node:dns/promises';
import type { Logger } from '../logger.js';
import { ErrorCode, StickyError, isStickyError } from '../errors.js';
import type { ResolvedListenOptions } from '../options.js';
import { slotOfAddress } from './route.js';
import { HeadReader, HeadVerdict, type Refusal } from './head-reader-primary.js';
import {
  createRoutingStrategy, type HeadStrategy, type RoutingStrategy, type SocketStrategy,
} from './routing-strategy-primary.js';
import { SlotTable } from './slot-table-primary.js';
import { answerAndClose } from './responses.js';
import { closeConnection, isSocket, type TcpHandle } from './connection.js';
import { KernelGroup } from './kernel-group-primary.js';
import type { GroupWatchEmit, KernelGroupStats } from './group-watch-primary.js';
import { loadReusePortSockets } from './reuseport-native.js';
import { AcceptGuard } from './accept-guard-primary.js';
import { acceptBareHandles, listeningFd } from '../internal/node-internals-primary.js';
import { drainListener } from './listener-drain-primary.js';

// The public port. Accepts with pauseOnConnect, lets the mode's routing strategy (chosen once, see
// routing-strategy-primary.ts) derive the slot and hands the socket to it. Hot path: no logging and
// no per-connection allocation beyond what Node makes; the outcomes are counted in `stats`.

/** Counters of the public port, since the primary started (except `pendingHeads` and `acceptPaused`, levels). */
export interface BalancerStats {
  /** Connections accepted on the public port. */
  accepted: number;
  /**
   * Errors Node reported on the listening socket after it opened: a failed accept() (current Node
   * versions report none, see `acceptPauses`) or a failed attempt to listen again after a pause.
   */
  acceptErrors: number;
  /** Times the primary closed its public port because it had no file descriptor left (then listened again by itself). */
  acceptPauses: number;
  /** 1 while the public port is closed for lack of file descriptors, else 0 (a level). */
  acceptPaused: number;
  /** Connections handed to a worker (also after waiting in a slot queue or failing over). */
  routed: number;
  /** Connections that had to wait in a slot queue for their slot's worker to become ready. */
  queued: number;
  /** Connections given to another slot's worker because theirs stayed unavailable (affinity lost). */
  failedOver: number;
  /** Connections no worker could take (503 in the header modes, closed otherwise). */
  rejected: number;
  /** Malformed or non-HTTP request heads (400) in the header and parsed custom modes. */
  badRequest: number;
  /** Heads not complete within `headTimeout` (408, or closed in PROXY mode). */
  headTimeout: number;
  /** Heads larger than `maxHeadBytes` (431, or closed in PROXY mode). */
  headTooLarge: number;
  /** Connections refused because `maxPendingHeads` were already reading their head (503, or closed). */
  overloaded: number;
  /** Connections closed for an invalid PROXY protocol header. */
  invalidProxyHeader: number;
  /** PROXY mode: connections closed because their peer is not in `trustedProxies` (none of their bytes read). */
  untrustedProxyPeer: number;
  /** Connections routed by their socket address because the key was missing, not an address, or the key function threw. */
  keyFallbacks: number;
  /**
   * Requests that reached a worker on a connection routed by another key (header and parsed custom
   * modes): a proxy in front shares its upstream connections between clients. Reported by the
   * workers, at once for the first and then at most every 10 s.
   */
  upstreamReuseRequests: number;
  /** Connections that carried such requests. */
  upstreamReuseConnections: number;
  /** Connections reading their head in the primary right now. */
  pendingHeads: number;
}

/** Which data plane carries connections to the workers, and why not the kernel when it is not. */
export interface SteeringState {
  plane: 'kernel' | 'primary';
  reason: string | undefined;
}

const closedWhileBinding = (): StickyError => new StickyError(ErrorCode.InvalidState, 'The primary was closed while it was binding its port.',
  { hint: 'Await `listen()` before `close()`, or ignore this error when closing during start-up is intended.' });

const UNTRUSTED_HEADER_HINT = 'a client that reaches the port directly, or writes the header itself, chooses its '
  + 'worker and clientAddress(req): set `trustedProxies` to your proxies\' addresses, e.g. '
  + 'trustedProxies: [\'10.0.0.0/8\', \'127.0.0.1\'] (--trusted-proxies 10.0.0.0/8,127.0.0.1)';

/** Reused for every getpeername() call: the address is read out before the next connection. */
const PEER: { address?: string; port?: number; family?: string } = {};

export class Balancer {
  readonly server: Server;
  readonly slots: SlotTable;
  readonly #options: Readonly<ResolvedListenOptions>;
  readonly #strategy: RoutingStrategy;
  readonly #heads: HeadReader | undefined;
  readonly #counts = {
    accepted: 0, acceptErrors: 0, badRequest: 0, headTimeout: 0, headTooLarge: 0, overloaded: 0, invalidProxyHeader: 0,
    untrustedProxyPeer: 0, keyFallbacks: 0,
    upstreamReuseRequests: 0, upstreamReuseConnections: 0,
  };
  readonly #log: Logger;
  #steering: SteeringState;
  readonly #guard: AcceptGuard;
  /** Where the primary hop listens, to listen there again after a pause. */
  #listenAt: { port: number; host: string | undefined } | undefined;
  /** stopAccepting() ran: a listen still binding closes what it bound. */
  #isStopped = false;
  #group: KernelGroup | undefined;
  readonly #emit: GroupWatchEmit;

  /** `emit` receives the kernel plane's reports about foreign listeners on the port. */
  constructor(options: Readonly<ResolvedListenOptions>, log: Logger, emit: GroupWatchEmit = () => undefined) {
    this.#options = options;
    this.#log = log;
    this.#emit = emit;
    const strategy = createRoutingStrategy(options);
    this.#strategy = strategy;
    this.#steering = {
      plane: 'primary',
      reason: !strategy.isKeyedByPeerAddress ? 'the routing key is in bytes the kernel never sees'
        : options.steering === 'primary' ? '`steering` is "primary"' : undefined,
    };
    if (options.mode === 'proxyHeader' && options.trustedProxies === undefined) {
      // Once per primary: the count form believes the header from any peer, as sticky-session-custom did.
      log.warn({ proxyHeader: options.proxyHeader, trustedHops: options.trustedHops, hint: UNTRUSTED_HEADER_HINT },
        'proxy header trusted from any peer');
    }
    const unavailable = strategy.answers.rejected;
    this.slots = new SlotTable(options.workers, {
      slotQueueLimit: options.slotQueueLimit,
      slotWaitTimeout: options.slotWaitTimeout,
      // Modes that speak HTTP hold sockets and can answer 503; IP mode may hold bare handles.
      // (A connection taken back from a dead worker may be a bare handle in any mode: just closed.)
      reject: unavailable === undefined ? closeConnection : (socket) => (isSocket(socket) ? answerAndClose(socket, unavailable) : closeConnection(socket)),
    });
    this.#heads = strategy.reads === 'nothing' ? undefined : new HeadReader(strategy, this.slots, {
      onHead: (socket, slot, bytes) => this.#dispatchWithFallback(slot, socket, bytes),
      onRefuse: this.#refuse,
    }, options);
    this.server = createServer({ pauseOnConnect: true }, strategy.reads === 'nothing' ? this.#onSocket : this.#onHeadConnection);
    this.#guard = new AcceptGuard({
      stop: () => {
        if (this.server.listening) this.server.close();
      },
      listen: () => this.#open(this.#listenAt),
    }, log);
  }

  get steering(): SteeringState {
    return this.#steering;
  }

  /**
   * Opens the public port: the kernel group of per-slot sockets when IP mode may use the kernel and
   * can, else the primary's own server.
   * @throws {StickyError} `STICKY_ERR_STEERING_UNAVAILABLE` when `steering: 'kernel'` cannot be had;
   * the bind error (EADDRINUSE…) when the port is taken.
   */
  async listen(port: number, host: string | undefined): Promise<AddressInfo> {
    if (this.#isStopped) throw closedWhileBinding();
    if (this.#strategy.isKeyedByPeerAddress && this.#options.steering !== 'primary') {
      const address = await this.#listenInKernel(port, host);
      if (address !== undefined && this.#isStopped) throw closedWhileBinding();
      if (address !== undefined) return address;
    }
    return this.#listenInPrimary(port, host);
  }

  async #listenInKernel(port: number, host: string | undefined): Promise<AddressInfo | undefined> {
    const native = loadReusePortSockets();
    let reason = native.reason;
    if (native.sockets !== undefined) {
      // The native part takes numeric addresses; Node's listen() resolves a name to its first address too.
      const numeric = host === undefined || isIP(host) !== 0 ? host : (await lookup(host)).address;
      if (this.#isStopped) throw closedWhileBinding();
      try {
        const group = KernelGroup.open(native.sockets, {
          host: numeric, port, backlog: this.#options.backlog, seed: this.#options.hashSeed, slots: this.slots.size,
          checkInterval: this.#options.groupCheckInterval, log: this.#log, emit: this.#emit,
        });
        this.#group = group;
        this.slots.useKernel(group, this.#options.backlog, this.#options.drainTimeout);
        this.#steering = { plane: 'kernel', reason: undefined };
        this.#log.info({ steering: 'kernel', slots: this.slots.size }, 'kernel steering: workers accept on their slot sockets');
        return group.address;
      } catch (error) {
        const syscall = (error as { syscall?: unknown }).syscall;
        // A taken port (also by a process that joined the group while it opened) or a bad address
        // is the caller's problem on either plane.
        if (syscall === 'bind' || syscall === 'listen' || error instanceof TypeError || isStickyError(error)) throw error;
        reason = `the kernel refused the routing program: ${(error as Error).message}`;
      }
    }
    if (this.#options.steering === 'kernel') {
      throw new StickyError(ErrorCode.SteeringUnavailable, `Kernel steering is unavailable: ${reason ?? 'unknown reason'}.`, {
        hint: 'Use `steering: "auto"` to fall back to the primary hop, or run on Linux x64/arm64 with Node >= 20.13.',
      });
    }
    this.#steering = { plane: 'primary', reason };
    this.#log.info({ steering: 'primary', reason }, 'kernel steering unavailable: the primary hands connections over');
    return undefined;
  }

  async #listenInPrimary(port: number, host: string | undefined): Promise<AddressInfo> {
    await this.#open({ port, host });
    // After listen, a server 'error' is a failed accept or a failed listen after a pause for lack
    // of descriptors (see accept-guard-primary.ts): counted, never fatal to the primary.
    this.server.on('error', () => { this.#counts.acceptErrors++; });
    const address = this.server.address() as AddressInfo;
    this.#listenAt = { port: address.port, host };
    this.#guard.start();
    return address;
  }

  /** Listens on `at`: first, and again on the port it had after a pause for lack of descriptors. */
  #open(at: { port: number; host: string | undefined } | undefined): Promise<void> {
    if (at === undefined) return Promise.reject(new Error('the primary never listened'));
    return new Promise((resolve, reject) => {
      const onError = (error: Error): void => reject(error);
      this.server.once('error', onError);
      this.server.listen({ port: at.port, host: at.host, backlog: this.#options.backlog }, () => {
        this.server.removeListener('error', onError);
        // Closed while binding: nobody else would close it.
        if (this.#isStopped) return void this.server.close(() => reject(closedWhileBinding()));
        // A key that is the peer address needs no byte nor net.Socket: the listening handle's accept
        // callback is taken over, so each connection stays the bare TCP handle libuv accepted (no
        // stream state or listeners built in the primary) and travels to the worker as 'net.Native'.
        if (this.#strategy.isKeyedByPeerAddress) acceptBareHandles(this.server, this.#onBareConnection);
        resolve();
      });
    });
  }

  /**
   * Stops accepting. With `handOffWaiting`, the public port first refuses new handshakes and keeps
   * accepting (and routing) until its accept queue is empty, so closing it resets no connection the
   * kernel completed (listener-drain-primary.ts). Sockets reading a head are then closed or handed
   * off; sockets waiting for a worker are handed off or closed.
   */
  async stopAccepting(handOffWaiting: boolean): Promise<void> {
    this.#isStopped = true;
    this.#guard.stop();
    if (handOffWaiting && this.server.listening) {
      await drainListener(loadReusePortSockets().sockets, listeningFd(this.server), this.#options.drainTimeout);
    }
    this.#closeListeners(handOffWaiting);
  }

  #closeListeners(handOffWaiting: boolean): void {
    if (this.server.listening) this.server.close();
    // A client still sending its HTTP head has a request on the way: when waiting for connections it
    // goes, with what was read, to the worker of its socket address, which answers it while draining.
    // (A partial PROXY header is no request a worker could read: closed.)
    const isRequest = handOffWaiting && this.#strategy.reads === 'httpHead';
    for (const { socket, buffer } of this.#heads?.drain() ?? []) {
      if (isRequest) this.#dispatchWithFallback(undefined, socket, buffer.length > 0 ? buffer.toString('base64') : undefined);
      else closeConnection(socket);
    }
    this.slots.close(handOffWaiting);
  }

  /**
   * The slot this balancer routes a key to now, by the same function as its connections: a client
   * address in the address modes (written any way a header may carry it), the custom key in the
   * custom modes. Undefined for a key that cannot be routed in the mode.
   */
  slotOfKey(key: string | readonly number[]): number | undefined {
    return this.#strategy.slotOfKey(key, this.slots.size);
  }

  /** Adds what a worker reported of requests on connections routed by another key. */
  countUpstreamReuse(requests: number, connections: number): void {
    this.#counts.upstreamReuseRequests += requests;
    this.#counts.upstreamReuseConnections += connections;
  }

  /** The kernel plane's group checks (zeros on the primary hop). */
  kernelStats(): KernelGroupStats {
    return this.#group === undefined ? { foreignListeners: 0, intrusions: 0, groupChecks: 0, programRestores: 0, refusedScales: 0 }
      : { ...this.#group.watch.stats };
  }

  stats(): BalancerStats {
    // (Kernel steering: the primary accepts nothing; these stay 0 and the workers count their own.)
    return {
      ...this.#counts, ...this.slots.stats, pendingHeads: this.#heads?.size ?? 0, acceptPauses: this.#guard.pauses, acceptPaused: this.#guard.isPaused ? 1 : 0,
    };
  }

  /** An accept error (EMFILE) is counted instead of surfacing as a server 'error' that would crash. */
  #onBareConnection = (status: number, handle: TcpHandle | undefined): void => {
    if (status !== 0 || handle === undefined) {
      this.#counts.acceptErrors++;
      return;
    }
    this.#counts.accepted++;
    if (handle.getpeername(PEER) !== 0 || PEER.address === undefined) {
      // The peer is already gone: nothing to route.
      handle.close();
      return;
    }
    this.slots.dispatch(slotOfAddress(PEER.address, this.#options.hashSeed, this.slots.size), handle, undefined);
  };

  /** Modes that read no byte: the strategy keys the socket itself. */
  #onSocket = (socket: Socket): void => {
    this.#counts.accepted++;
    let slot: number | undefined;
    try {
      slot = (this.#strategy as SocketStrategy).slotOfSocket(socket, this.slots.size);
    } catch {
      // A throwing key function falls back to the socket address; counted, never logged here.
      slot = undefined;
    }
    this.#dispatchWithFallback(slot, socket, undefined);
  };

  /** Modes that read a head: the head reader asks the strategy after every chunk. */
  #onHeadConnection = (socket: Socket): void => {
    this.#counts.accepted++;
    const admits = (this.#strategy as HeadStrategy).admitsPeer;
    // Counted, never logged: a scan of the port must not flood the log.
    if (admits !== undefined && !admits(socket)) return this.#refuse(socket, HeadVerdict.untrustedProxyPeer);
    (this.#heads as HeadReader).start(socket, performance.now());
  };

  #refuse = (socket: Socket, refusal: Refusal): void => {
    this.#counts[refusal]++;
    const answer = this.#strategy.answers[refusal];
    if (answer === undefined) closeConnection(socket);
    else answerAndClose(socket, answer);
  };

  /** No usable key (missing header, not an address, a key function that threw): route by the socket address. */
  #dispatchWithFallback(slot: number | undefined, socket: Socket, bytes: string | undefined): void {
    if (slot === undefined) {
      this.#counts.keyFallbacks++;
      const address = socket.remoteAddress;
      if (address === undefined) {
        closeConnection(socket);
        return;
      }
      slot = slotOfAddress(address, this.#options.hashSeed, this.slots.size);
    }
    this.slots.dispatch(slot, socket, bytes);
  }
}
