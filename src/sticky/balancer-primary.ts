import type { AddressInfo } from 'node:net';
import type { Logger } from '../logger.js';
import { ErrorCode, StickyError } from '../errors.js';
import type { ResolvedListenOptions } from '../options/index.js';
import { createRoutingStrategy, type RoutingStrategy } from './routing/index.js';
import { SlotTable } from './slot-table-primary.js';
import {
  openDataPlane, steeringBeforeListen,
  type GroupWatchEmit, type HopCounts, type KernelGroupStats, type OpenedPlane, type SteeringState,
} from './planes/index.js';

// The primary's data path as the rest of the primary sees it: the mode's routing strategy (chosen once,
// see routing/routing-strategy-primary.ts), the slot table, the counters, and the data plane it opens
// when the primary listens (planes/open-plane-primary.ts chooses it, once). Everything that touches a
// connection is the plane's.

/** Counters of the public port, since the primary started (except `pendingHeads` and `acceptPaused`, levels). */
export interface BalancerStats {
  /** Connections accepted on the public port. */
  accepted: number;
  /**
   * Errors Node reported on the listening socket after it opened: a failed accept() (current Node
   * versions report none, see `acceptPauses`) or a failed attempt to listen again after a pause.
   */
  acceptErrors: number;
  /**
   * Times the primary closed its public port because it had no file descriptor left (then listened
   * again by itself).
   */
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
  /**
   * Connections routed by their socket address because the key was missing, not an address, or the key
   * function threw.
   */
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

const closedWhileBinding = (): StickyError => new StickyError(ErrorCode.InvalidState,
  'The primary was closed while it was binding its port.',
  { hint: 'Await `listen()` before `close()`, or ignore this error when closing during start-up is intended.' });

const UNTRUSTED_HEADER_HINT = 'a client that reaches the port directly, or writes the header itself, chooses its '
  + 'worker and clientAddress(req): set `trustedProxies` to your proxies\' addresses, e.g. '
  + 'trustedProxies: [\'10.0.0.0/8\', \'127.0.0.1\'] (--trusted-proxies 10.0.0.0/8,127.0.0.1)';

const NO_KERNEL_STATS: KernelGroupStats = {
  foreignListeners: 0, intrusions: 0, groupChecks: 0, programRestores: 0, refusedScales: 0,
};

export class Balancer {
  readonly slots: SlotTable;
  readonly #options: Readonly<ResolvedListenOptions>;
  readonly #strategy: RoutingStrategy;
  readonly #counts: HopCounts & { upstreamReuseRequests: number; upstreamReuseConnections: number } = {
    accepted: 0, acceptErrors: 0, badRequest: 0, headTimeout: 0, headTooLarge: 0, overloaded: 0, invalidProxyHeader: 0,
    untrustedProxyPeer: 0, keyFallbacks: 0,
    upstreamReuseRequests: 0, upstreamReuseConnections: 0,
  };
  readonly #log: Logger;
  readonly #emit: GroupWatchEmit;
  #steering: SteeringState;
  #opened: OpenedPlane | undefined;
  /** stopAccepting() ran: a listen still binding closes what it bound. */
  #isStopped = false;

  /** `emit` receives the kernel plane's reports about foreign listeners on the port. */
  constructor(options: Readonly<ResolvedListenOptions>, log: Logger, emit: GroupWatchEmit = () => undefined) {
    this.#options = options;
    this.#log = log;
    this.#emit = emit;
    this.#strategy = createRoutingStrategy(options);
    this.#steering = steeringBeforeListen(this.#strategy, options);
    if (options.mode === 'proxyHeader' && options.trustedProxies === undefined) {
      // Once per primary: the count form believes the header from any peer, as sticky-session-custom did.
      log.warn({ proxyHeader: options.proxyHeader, trustedHops: options.trustedHops, hint: UNTRUSTED_HEADER_HINT },
        'proxy header trusted from any peer');
    }
    this.slots = new SlotTable(options.workers);
  }

  get steering(): SteeringState {
    return this.#steering;
  }

  /**
   * Opens the public port on the data plane chosen now (see planes/open-plane-primary.ts).
   * @throws {StickyError} `STICKY_ERR_STEERING_UNAVAILABLE` when `steering: 'kernel'` cannot be had;
   * the bind error (EADDRINUSE…) when the port is taken.
   */
  async listen(port: number, host: string | undefined): Promise<AddressInfo> {
    if (this.#isStopped) throw closedWhileBinding();
    const opened = await openDataPlane({
      options: this.#options, log: this.#log, strategy: this.#strategy, table: this.slots, counts: this.#counts,
      emit: this.#emit, isStopped: () => this.#isStopped, closedWhileBinding,
    }, port, host);
    this.#opened = opened;
    this.#steering = opened.steering;
    return opened.address;
  }

  /**
   * Stops accepting. When waiting for connections, what the kernel already queued on a listening socket
   * is still accepted (and routed) first, so closing it resets nothing (planes/listener-drain-primary.ts).
   * Sockets reading a head are closed; sockets waiting for a worker are handed off or closed.
   */
  async stopAccepting(waitForConnections: boolean): Promise<void> {
    this.#isStopped = true;
    await this.slots.close(waitForConnections);
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
    const plane = this.#opened?.plane;
    return plane?.kind === 'kernel' ? plane.stats : { ...NO_KERNEL_STATS };
  }

  stats(): BalancerStats {
    // (Kernel steering: the primary accepts nothing; these stay 0 and the workers count their own.)
    const plane = this.#opened?.plane;
    const hop = plane?.kind === 'primary' ? plane : undefined;
    return {
      ...this.#counts,
      routed: hop?.stats.routed ?? 0, queued: hop?.stats.queued ?? 0,
      failedOver: hop?.stats.failedOver ?? 0, rejected: hop?.stats.rejected ?? 0,
      pendingHeads: hop?.pendingHeads ?? 0, acceptPauses: hop?.acceptPauses ?? 0,
      acceptPaused: hop?.isAcceptPaused === true ? 1 : 0,
    };
  }
}
