import type { Socket } from 'node:net';
import type { LogLevel, StickyLogger } from '../logger.js';
import type { MetricsOptions, MetricsRegistry } from './metrics-options.js';
import type { PrehashKey, Steering, StickyRequest } from './routing-options.js';

// What users pass to `listen()`: every field optional, each documented here, once. What internal
// code receives after normalizeListenOptions() is resolved-options.ts.

/** Options of `listen()`. Every field is optional. */
export interface ListenOptions {
  /** Worker processes to keep alive, one per slot. @default os.availableParallelism() */
  workers?: number;
  /**
   * Route by the client address in this request header (any case), e.g. `x-forwarded-for` or
   * `forwarded`. The primary reads the request head of every connection, once per TCP connection.
   */
  proxyHeader?: string;
  /**
   * The count form of `trustedProxies` (Express's numeric `trust proxy`), trusting the header from
   * any peer: `0` takes the first (leftmost) entry, which the client can write; `n > 0` takes the n-th
   * entry from the right, i.e. the number of proxies you run that append to the header. A client that
   * reaches the port directly chooses its address either way: prefer `trustedProxies`. Not together
   * with `trustedProxies`. @default 0
   */
  trustedHops?: number;
  /**
   * The peers (your load balancers and proxies) whose forwarded client address counts: addresses and
   * CIDR ranges, IPv4 and IPv6, e.g. `['10.0.0.0/8', '127.0.0.1', '::1', 'fd00::/8']`. With
   * `proxyProtocol`, a connection from any other peer is closed (counted in
   * `stats().connections.untrustedProxyPeer`); required there. With `proxyHeader`, another peer is
   * routed and reported by its own address (the header is ignored), and the header's entries are walked
   * from the right while they are trusted: the client is the rightmost untrusted entry (the leftmost
   * when all are trusted), as nginx's `set_real_ip_from` with `real_ip_recursive on`.
   * @default undefined (header mode trusts the header from any peer, with a warning at start-up)
   */
  trustedProxies?: readonly string[];
  /**
   * Route by the source address of a PROXY protocol v1/v2 header, which is consumed. Needs
   * `trustedProxies`: only those peers may name a client. With `socketIoSessions`, the primary reads
   * the request head after the header and routes by the session id. @default false
   */
  proxyProtocol?: boolean;
  /**
   * Route Socket.IO (engine.io) sessions by their id: a request whose `sid` query parameter was made
   * by `generateSessionId()` goes to the slot in it; a request without one (the handshake, other
   * pages) goes to a worker chosen per connection, so many clients behind one address spread over
   * the workers. The primary reads the request head of every connection. Combines with
   * `proxyProtocol` (behind a load balancer): the PROXY header first, then the session id; a request
   * without one is spread by the PROXY client's address and port. @default false
   */
  socketIoSessions?: boolean;
  /** Route by a key computed from the parsed request head. */
  generatePrehashArray?: (req: StickyRequest, socket: Socket) => PrehashKey;
  /** Route by a key computed from the socket alone; the primary reads no byte. */
  generatePrehashArrayNoParsing?: (socket: Socket) => PrehashKey;
  /**
   * Extra environment variables for the workers, on top of the primary's own. A variable set to
   * `undefined` is removed: the workers do not inherit it from the primary. @default {}
   */
  env?: Record<string, string | undefined>;
  /** Seed of the routing hash; the same seed maps the same key to the same slot. @default 0 */
  hashSeed?: number;
  /**
   * Length of the public port's accept queue; the kernel caps it at `net.core.somaxconn`. A deeper
   * queue rides out reconnect storms without dropped handshakes. @default 2048
   */
  backlog?: number;
  /**
   * How IP-mode connections reach their worker. `'kernel'`: Linux routes each connection straight to
   * its slot's worker (one `SO_REUSEPORT` socket per slot, held by the primary, and a BPF program
   * mapping the client address to its slot); the primary touches no connection. `'primary'`: the
   * primary accepts each connection and hands it over. `'auto'`: the kernel where it can (Linux with
   * the prebuilt native part, Node >= 20.13), else the primary, logged once with the reason and shown
   * in `stats().steering`. Header, PROXY and custom keys always use the primary. @default 'auto'
   */
  steering?: Steering;
  /**
   * The primary hop (header, PROXY and custom modes, and IP mode without kernel steering): where the
   * native part loads, each worker gets a Unix socket pair of its own, and the primary passes it
   * connections there, every connection routed to it in the same tick with one system call, instead
   * of one acknowledged Node IPC message each. The primary still keeps each connection until the worker
   * says it took it, so fail-over and `slotWaitTimeout` hold as before. `false` keeps Node's IPC.
   * Shown in `stats().steering.handoff`. @default true
   */
  nativeHandoff?: boolean;
  /**
   * Kernel steering: ms between checks that only the cluster's sockets listen on its port. Another
   * process of the same user can join the port's `SO_REUSEPORT` group and replace its routing program;
   * each check re-attaches the program and reports such a listener (`foreignListener` event, error log,
   * `stats().kernel`), so this bounds how long it can take connections unnoticed. Each check reads the
   * port's listeners from /proc (not the connections) and costs tens of microseconds. @default 1000
   */
  groupCheckInterval?: number;
  /** Largest request head (or PROXY header) the primary reads before answering 431. @default 16384 */
  maxHeadBytes?: number;
  /** Ms a client has to send a complete head before the primary answers 408. @default 10000 */
  headTimeout?: number;
  /** Connections that may wait for their head at once; more are answered 503. @default 1024 */
  maxPendingHeads?: number;
  /** Connections that may wait for one slot's worker to become ready; more fail over. @default 512 */
  slotQueueLimit?: number;
  /** Ms a connection waits for its slot's worker before it fails over to another slot. @default 5000 */
  slotWaitTimeout?: number;
  /** Ms the whole shutdown may take before the remaining workers are killed. @default 30000 */
  shutdownTimeout?: number;
  /**
   * Ms a graceful shutdown keeps accepting and serving before the drain starts, while readiness
   * (`/readyz`, `stats().state`) already fails: Kubernetes needs this while endpoints update.
   * A second signal skips what is left. Comes before `shutdownTimeout`, which starts after it.
   * @default 0
   */
  shutdownDelay?: number;
  /**
   * Ms a worker drains (lets in-flight requests finish) during a shutdown that waits for
   * connections; what is still open then is destroyed and the exit hooks run. Must be below
   * `shutdownTimeout`, within which the hooks run. @default 10000, or half of `shutdownTimeout` when that is 10000 or
   * less
   */
  drainTimeout?: number;
  /**
   * Ms a slot may pause in a planned replacement (rolling restart, recycling, the CLI's reload) while
   * its slot state passes to the successor (`onHandover()` / `onAdopt()`): the slot's new clients wait
   * meanwhile. The retiring worker waits half of it for its requests in flight (a long-poll, an SSE
   * stream), then hands the state over anyway; past it the successor starts empty and is routed. Keep
   * it below `slotWaitTimeout`, past which waiting clients go to another slot. @default 2000
   */
  handoverTimeout?: number;
  /**
   * Bytes of serialised slot state a handover carries at most; past it the successor starts empty
   * (a warning, and `stats().handovers`). @default 67108864 (64 MiB)
   */
  handoverMaxBytes?: number;
  /**
   * Install signal handlers in the primary: SIGTERM/SIGINT shut down gracefully (a second one stops
   * waiting), SIGHUP starts a rolling restart, SIGTTIN/SIGTTOU add/remove a slot (not on Windows).
   * @default true
   */
  handleSignals?: boolean;
  /** Ms a new worker has to become ready before it is killed and counted as a crash. @default 30000 */
  readyTimeout?: number;
  /**
   * Ms a ready worker may leave the primary's heartbeat unanswered (its event loop blocked, or its IPC
   * channel no longer read) before it is killed and replaced in its slot, like gunicorn's `timeout`.
   * The heartbeat runs every fifth of this (at most every 5 s). `0` disables the watchdog. @default 30000
   */
  workerTimeout?: number;
  /**
   * When a worker counts as ready: `'listen'` once `listen()` ran in it; `'manual'` once it calls
   * `ready()` after its async start-up (open a DB pool, warm a cache). @default 'listen'
   */
  readiness?: 'listen' | 'manual';
  /**
   * Recycle a worker after it served this many requests (plus up to `maxRequestsJitter`): it is
   * replaced in its slot the way a rolling restart replaces it, without a failed request, and its
   * clients stay on the slot. `0` never recycles. HTTP servers only. @default 0
   */
  maxRequests?: number;
  /**
   * Random extra requests, 0 to this, added to `maxRequests` per worker so workers do not recycle together. @default
   * 0
   */
  maxRequestsJitter?: number;
  /**
   * Recycle a worker whose resident memory (RSS) exceeds this many bytes, checked every
   * `memoryCheckInterval` ms in the worker. `0` never recycles. @default 0
   */
  maxMemory?: number;
  /** Ms between a worker's checks of its memory against `maxMemory`. @default 5000 */
  memoryCheckInterval?: number;
  /**
   * Ms between each worker's reports of its own figures to the primary (connections accepted and
   * open, requests, event-loop lag, CPU, memory), shown per slot in `stats().slots`, `status` and
   * `/metrics`. One small IPC message per worker per interval, never per request. `0` turns them off.
   * @default 1000
   */
  reportInterval?: number;
  /**
   * The application's prom-client registry (`import { register } from 'prom-client'`, or a
   * `new Registry()`), in the worker: its metrics appear in the primary's `/metrics` with a `slot`
   * label. Any object with prom-client's `getMetricsAsJSON()` works. The primary ignores it.
   * @default none
   */
  metricsRegistry?: MetricsRegistry;
  /** Slots replaced at once in a rolling restart. @default 1 */
  reloadConcurrency?: number;
  /** Delay before the second restart in a row of a short-lived worker; doubles each time. @default 100 */
  respawnDelay?: number;
  /** Largest delay between restarts of one slot. @default 30000 */
  maxRespawnDelay?: number;
  /** A worker up this long counts as stable and resets the backoff. @default 5000 */
  minUptime?: number;
  /** More crashes than this within `restartWindow` mark the slot failed. @default 10 */
  maxRestarts?: number;
  /** Window of `maxRestarts`, in ms. @default 60000 */
  restartWindow?: number;
  /** Ms after which a failed slot is tried again with a fresh history. @default 60000 */
  failedSlotRetry?: number;
  /**
   * Ms a bus request (`requestTo()`, `request()`) waits for its response before it rejects with
   * `STICKY_ERR_IPC_TIMEOUT`; a call's own `timeout` overrides it. Workers get the primary's value. @default 10000
   */
  ipcTimeout?: number;
  /**
   * Where the runtime logs its milestones (start, crashes, respawns, reloads, scaling, shutdown):
   * a pino logger, or any object with pino's method shape (`error`, `warn`, `info`, `debug` taking
   * `(fields, message)`, and `child(bindings)` when it has one). `false` logs nothing.
   * @default pino JSON on stderr at `logLevel` (one readable line per record when stderr is a terminal,
   * or as `$STICKY_RUNTIME_LOG_FORMAT` says: `pretty` or `json`)
   */
  logger?: StickyLogger | false;
  /** Serve `/metrics`, `/healthz` and `/readyz` from the primary on their own port. @default off */
  metrics?: MetricsOptions | false;
  /** Level of the default logger, in the primary and the workers. Ignored when `logger` is given. @default 'info' */
  logLevel?: LogLevel;
}
