import { createServer, isIP, type AddressInfo, type Server, type Socket } from 'node:net';
import { lookup } from 'node:dns/promises';
import type { Logger } from '../logger.js';
import { ErrorCode, StickyError } from '../errors.js';
import type { ResolvedListenOptions } from '../options.js';
import { parseRequestHead, findHeadEnd, looksLikeHttp, isRequestLine } from './http-head.js';
import { parseProxyHeader } from './proxy-protocol.js';
import { clientAddressFromHeader, parseAddressEntry } from './address.js';
import { slotOfAddress, slotOfKey } from './route.js';
import { HeadReader, type HeadVerdict } from './head-reader-primary.js';
import { SlotTable } from './slot-table-primary.js';
import { RESPONSES, answerAndClose } from './responses.js';
import { closeConnection, isSocket, setProxiedClient, type TcpHandle } from './connection.js';
import { slotOfSessionUrl } from './session-id.js';
import { KernelGroup } from './kernel-group-primary.js';
import { loadReusePortSockets } from './reuseport-native.js';
import { AcceptGuard } from './accept-guard-primary.js';
import { acceptBareHandles } from '../internal/node-internals-primary.js';

// The public port. Accepts with pauseOnConnect, derives the routing key by mode and hands the socket
// to its slot. Hot path: no logging and no per-connection allocation beyond what Node makes; the
// outcomes are counted in `stats`.

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

/** Reused for every getpeername() call: the address is read out before the next connection. */
const PEER: { address?: string; port?: number; family?: string } = {};

const READ_MORE: HeadVerdict = 0;
const DONE: HeadVerdict = 1;
const REJECT: HeadVerdict = 2;

export class Balancer {
  readonly server: Server;
  readonly slots: SlotTable;
  readonly #options: Readonly<ResolvedListenOptions>;
  readonly #heads: HeadReader;
  readonly #counts = {
    accepted: 0, acceptErrors: 0, badRequest: 0, headTimeout: 0, headTooLarge: 0, overloaded: 0, invalidProxyHeader: 0, keyFallbacks: 0,
    upstreamReuseRequests: 0, upstreamReuseConnections: 0,
  };
  #sweep: NodeJS.Timeout | undefined;
  readonly #log: Logger;
  #steering: SteeringState;
  readonly #guard: AcceptGuard;
  /** Where the primary hop listens, to listen there again after a pause. */
  #listenAt: { port: number; host: string | undefined } | undefined;

  constructor(options: Readonly<ResolvedListenOptions>, log: Logger) {
    this.#options = options;
    this.#log = log;
    this.#steering = {
      plane: 'primary',
      reason: options.mode !== 'ip' ? 'the routing key is in bytes the kernel never sees'
        : options.steering === 'primary' ? '`steering` is "primary"' : undefined,
    };
    const speaksHttp = options.mode === 'proxyHeader' || options.mode === 'custom' || options.mode === 'socketIoSessions';
    this.slots = new SlotTable(options.workers, {
      slotQueueLimit: options.slotQueueLimit,
      slotWaitTimeout: options.slotWaitTimeout,
      // Header modes hold sockets and can answer 503; IP mode may hold bare handles.
      // (A connection taken back from a dead worker may be a bare handle in any mode: just closed.)
      reject: speaksHttp ? (socket) => (isSocket(socket) ? answerAndClose(socket, RESPONSES.unavailable) : closeConnection(socket)) : closeConnection,
    });
    this.#heads = new HeadReader({
      inspect: options.mode === 'proxyProtocol' ? this.#inspectProxy : this.#inspectHttp,
      onHead: options.mode === 'proxyProtocol' ? this.#routeProxy : this.#routeHttp,
      onTooLarge: (socket) => {
        this.#counts.headTooLarge++;
        if (options.mode === 'proxyProtocol') closeConnection(socket);
        else answerAndClose(socket, RESPONSES.headersTooLarge);
      },
      onReject: (socket) => {
        if (options.mode === 'proxyProtocol') {
          this.#counts.invalidProxyHeader++;
          closeConnection(socket);
        } else {
          this.#counts.badRequest++;
          answerAndClose(socket, RESPONSES.badRequest);
        }
      },
      onAbort: closeConnection,
    }, options.maxHeadBytes);
    const onConnection = options.mode === 'ip' ? this.#onIpConnection
      : options.mode === 'customNoParsing' ? this.#onCustomNoParsing
      : this.#onReadingConnection;
    this.server = createServer({ pauseOnConnect: true, noDelay: true }, onConnection);
    this.#guard = new AcceptGuard({
      stop: () => {
        if (this.server.listening) this.server.close();
      },
      listen: () => this.#listenAgain(),
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
    if (this.#options.mode === 'ip' && this.#options.steering !== 'primary') {
      const address = await this.#listenInKernel(port, host);
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
      try {
        const group = KernelGroup.open(native.sockets, { host: numeric, port, backlog: this.#options.backlog, seed: this.#options.hashSeed, slots: this.slots.size });
        this.slots.useKernel(group, this.#options.backlog);
        this.#steering = { plane: 'kernel', reason: undefined };
        this.#log.info({ steering: 'kernel', slots: this.slots.size }, 'kernel steering: workers accept on their slot sockets');
        return group.address;
      } catch (error) {
        const syscall = (error as { syscall?: unknown }).syscall;
        // A taken port or a bad address is the caller's problem on either plane.
        if (syscall === 'bind' || syscall === 'listen' || error instanceof TypeError) throw error;
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

  #listenInPrimary(port: number, host: string | undefined): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const onError = (error: Error): void => reject(error);
      this.server.once('error', onError);
      this.server.listen({ port, host, backlog: this.#options.backlog }, () => {
        this.server.removeListener('error', onError);
        // After listen, a server 'error' is a failed accept or a failed listen after a pause for lack
        // of descriptors (see accept-guard-primary.ts): counted, never fatal to the primary.
        this.server.on('error', () => { this.#counts.acceptErrors++; });
        if (this.#options.mode === 'ip') this.#acceptBareHandles();
        const address = this.server.address() as AddressInfo;
        this.#listenAt = { port: address.port, host };
        this.#guard.start();
        resolve(address);
      });
    });
  }

  /** Opens the public port again after a pause for lack of descriptors, on the port it had. */
  #listenAgain(): Promise<void> {
    const at = this.#listenAt;
    if (at === undefined) return Promise.reject(new Error('the primary never listened'));
    return new Promise((resolve, reject) => {
      const onError = (error: Error): void => reject(error);
      this.server.once('error', onError);
      this.server.listen({ port: at.port, host: at.host, backlog: this.#options.backlog }, () => {
        this.server.removeListener('error', onError);
        if (this.#options.mode === 'ip') this.#acceptBareHandles();
        resolve();
      });
    });
  }

  /**
   * IP mode reads nothing and needs only the peer address, so the listening handle's accept callback
   * is taken over: each connection stays the bare TCP handle libuv accepted, with no net.Socket,
   * stream state or listeners built in the primary, and travels to the worker as 'net.Native'.
   * An accept error, should Node report one, is counted instead of surfacing as a server 'error'.
   */
  #acceptBareHandles(): void {
    acceptBareHandles(this.server, this.#onBareConnection);
  }

  /** Stops accepting. Sockets reading a head are closed; sockets waiting for a worker are handed off or closed. */
  stopAccepting(handOffWaiting: boolean): void {
    this.#guard.stop();
    if (this.server.listening) this.server.close();
    this.#stopSweep();
    // A client still sending its head has a request on the way: when waiting for connections it goes,
    // with what was read, to the worker of its socket address, which answers it while draining.
    for (const { socket, buffer } of this.#heads.drain()) {
      // (A partial PROXY header is no request a worker could read: closed.)
      if (handOffWaiting && this.#options.mode !== 'proxyProtocol') {
        this.#dispatchWithFallback(undefined, socket, buffer.length > 0 ? buffer.toString('base64') : undefined);
      } else {
        closeConnection(socket);
      }
    }
    this.slots.close(handOffWaiting);
  }

  /**
   * The slot this balancer routes a key to now, by the same function as its connections: a client
   * address in the address modes (written any way a header may carry it), the custom key in the
   * custom modes. Undefined for a key that cannot be routed in the mode.
   */
  slotOfKey(key: string | readonly number[]): number | undefined {
    const options = this.#options;
    if (options.mode === 'custom' || options.mode === 'customNoParsing') return slotOfKey(key, options.hashSeed, this.slots.size);
    const address = typeof key === 'string' ? parseAddressEntry(key) : undefined;
    return address === undefined ? undefined : slotOfAddress(address, options.hashSeed, this.slots.size);
  }

  /** Adds what a worker reported of requests on connections routed by another key. */
  countUpstreamReuse(requests: number, connections: number): void {
    this.#counts.upstreamReuseRequests += requests;
    this.#counts.upstreamReuseConnections += connections;
  }

  stats(): BalancerStats {
    // (Kernel steering: the primary accepts nothing; these stay 0 and the workers count their own.)
    return {
      ...this.#counts, ...this.slots.stats, pendingHeads: this.#heads.size, acceptPauses: this.#guard.pauses, acceptPaused: this.#guard.isPaused ? 1 : 0,
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

  #onIpConnection = (socket: Socket): void => {
    this.#counts.accepted++;
    const address = socket.remoteAddress;
    // undefined when the peer is already gone: nothing to route.
    if (address === undefined) {
      closeConnection(socket);
      return;
    }
    this.slots.dispatch(slotOfAddress(address, this.#options.hashSeed, this.slots.size), socket, undefined);
  };

  #onCustomNoParsing = (socket: Socket): void => {
    this.#counts.accepted++;
    let slot: number | undefined;
    try {
      slot = slotOfKey((this.#options.generatePrehashArrayNoParsing as (s: Socket) => unknown)(socket), this.#options.hashSeed, this.slots.size);
    } catch {
      // A throwing key function falls back to the socket address; counted, never logged here.
      slot = undefined;
    }
    this.#dispatchWithFallback(slot, socket, undefined);
  };

  #onReadingConnection = (socket: Socket): void => {
    this.#counts.accepted++;
    if (this.#heads.size >= this.#options.maxPendingHeads) {
      this.#counts.overloaded++;
      if (this.#options.mode === 'proxyProtocol') closeConnection(socket);
      else answerAndClose(socket, RESPONSES.unavailable);
      return;
    }
    this.#heads.start(socket, performance.now());
    if (this.#sweep === undefined) this.#startSweep();
  };

  #inspectHttp = (buffer: Buffer): HeadVerdict => {
    if (!looksLikeHttp(buffer[0] as number)) return REJECT;
    if (findHeadEnd(buffer) !== -1) return DONE;
    // The head is not complete yet: refuse a broken request line now rather than at the deadline.
    const lineEnd = buffer.indexOf('\r\n');
    return lineEnd !== -1 && !isRequestLine(buffer.toString('latin1', 0, lineEnd)) ? REJECT : READ_MORE;
  };

  #inspectProxy = (buffer: Buffer): HeadVerdict => {
    const result = parseProxyHeader(buffer, this.#options.maxHeadBytes);
    return result.kind === 'incomplete' ? READ_MORE : result.kind === 'invalid' ? REJECT : DONE;
  };

  #routeHttp = (buffer: Buffer, socket: Socket): void => {
    const end = findHeadEnd(buffer);
    // The reader measures only heads still incomplete; one that completed within a single read is
    // measured here, so the limit does not depend on how the bytes were split into packets.
    if (end > this.#options.maxHeadBytes) {
      this.#counts.headTooLarge++;
      answerAndClose(socket, RESPONSES.headersTooLarge);
      return;
    }
    const request = parseRequestHead(buffer.toString('latin1', 0, end - 4));
    if (request === undefined) {
      this.#counts.badRequest++;
      answerAndClose(socket, RESPONSES.badRequest);
      return;
    }
    let slot: number | undefined;
    const options = this.#options;
    // Nothing a client sends may throw here: any failure to derive a key falls back to the socket.
    try {
      if (options.mode === 'proxyHeader') {
        const address = clientAddressFromHeader(request.headers[options.proxyHeader], options.trustedHops, options.proxyHeader === 'forwarded');
        if (address !== undefined) slot = slotOfAddress(address, options.hashSeed, this.slots.size);
      } else if (options.mode === 'socketIoSessions') {
        // A session's requests go to the slot in its id; anything else may go anywhere, so it is
        // spread per connection (many clients behind one NAT address reach different workers).
        slot = slotOfSessionUrl(request.url, this.slots.size) ??
          slotOfKey(`${socket.remoteAddress ?? ''}:${socket.remotePort ?? 0}`, options.hashSeed, this.slots.size);
      } else {
        slot = slotOfKey((options.generatePrehashArray as (r: typeof request, s: Socket) => unknown)(request, socket), options.hashSeed, this.slots.size);
      }
    } catch {
      slot = undefined;
    }
    this.#dispatchWithFallback(slot, socket, buffer.toString('base64'));
  };

  #routeProxy = (buffer: Buffer, socket: Socket): void => {
    const result = parseProxyHeader(buffer, this.#options.maxHeadBytes);
    if (result.kind !== 'ok') return;
    const rest = buffer.length > result.length ? buffer.toString('base64', result.length) : undefined;
    // The worker's socket reports the client, not the load balancer (see receiver-worker.ts).
    if (result.address !== undefined) setProxiedClient(socket, { address: result.address, port: result.port });
    const slot = result.address === undefined ? undefined : slotOfAddress(result.address, this.#options.hashSeed, this.slots.size);
    this.#dispatchWithFallback(slot, socket, rest);
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

  #startSweep(): void {
    const timeout = this.#options.headTimeout;
    const interval = Math.max(10, Math.min(1000, Math.floor(timeout / 4)));
    this.#sweep = setInterval(() => {
      if (this.#heads.size === 0) {
        this.#stopSweep();
        return;
      }
      const late = [...this.#heads.olderThan(performance.now() - timeout)];
      for (const socket of late) {
        this.#heads.release(socket);
        this.#counts.headTimeout++;
        if (this.#options.mode === 'proxyProtocol') closeConnection(socket);
        else answerAndClose(socket, RESPONSES.requestTimeout);
      }
    }, interval);
    this.#sweep.unref();
  }

  #stopSweep(): void {
    if (this.#sweep !== undefined) clearInterval(this.#sweep);
    this.#sweep = undefined;
  }
}
