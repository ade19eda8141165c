import { availableParallelism } from 'node:os';
import type { Socket } from 'node:net';
import { ErrorCode, StickyError } from './errors.js';
import { LOG_LEVELS, isLoggerLike, resolveLogger, type LogLevel, type Logger, type StickyLogger } from './logger.js';

/** What a custom key function may return; it is hashed to pick the worker. */
export type PrehashKey = readonly number[] | string | Uint8Array;

/** The parsed request head handed to `generatePrehashArray`. */
export interface StickyRequest {
  method: string;
  url: string;
  httpVersion: string;
  /** Header names lower-cased; repeated headers joined with `, ` (`set-cookie` too). */
  headers: Record<string, string>;
  /** Names and values as received, alternating. */
  rawHeaders: string[];
}

/** The primary's operations endpoint: `/metrics`, `/healthz`, `/readyz`. */
export interface MetricsOptions {
  /** Port of the endpoint; `0` picks a free one (see `primary.metricsAddress()`). */
  port: number;
  /** Address to bind. Keep it off the public network, or firewall it. @default '127.0.0.1' */
  host?: string;
  /**
   * Application metrics, appended to every `/metrics` answer: return Prometheus text (for example
   * gathered from the workers over IPC). A failure is logged and leaves them out of that scrape.
   */
  collect?: () => string | Promise<string>;
}

export interface ResolvedMetricsOptions {
  port: number;
  host: string;
  collect: (() => string | Promise<string>) | undefined;
}

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
   * Which entry of a comma-separated `proxyHeader` is the client: `0` takes the first (leftmost)
   * entry; `n > 0` takes the n-th entry from the right, i.e. the number of proxies you run that
   * append to the header. @default 0
   */
  trustedHops?: number;
  /** Route by the source address of a PROXY protocol v1/v2 header, which is consumed. @default false */
  proxyProtocol?: boolean;
  /**
   * Route Socket.IO (engine.io) sessions by their id: a request whose `sid` query parameter was made
   * by `generateSessionId()` goes to the slot in it; a request without one (the handshake, other
   * pages) goes to a worker chosen per connection, so many clients behind one address spread over
   * the workers. The primary reads the request head of every connection. @default false
   */
  socketIoSessions?: boolean;
  /** Route by a key computed from the parsed request head. */
  generatePrehashArray?: (req: StickyRequest, socket: Socket) => PrehashKey;
  /** Route by a key computed from the socket alone; the primary reads no byte. */
  generatePrehashArrayNoParsing?: (socket: Socket) => PrehashKey;
  /** Extra environment variables for the workers. @default {} */
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
   * connections; what is still open then is destroyed and the exit hooks run. @default 10000
   */
  drainTimeout?: number;
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
  /** Random extra requests, 0 to this, added to `maxRequests` per worker so workers do not recycle together. @default 0 */
  maxRequestsJitter?: number;
  /**
   * Recycle a worker whose resident memory (RSS) exceeds this many bytes, checked every
   * `memoryCheckInterval` ms in the worker. `0` never recycles. @default 0
   */
  maxMemory?: number;
  /** Ms between a worker's checks of its memory against `maxMemory`. @default 5000 */
  memoryCheckInterval?: number;
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
   * @default pino JSON on stderr at `logLevel` (pretty on a TTY when `pino-pretty` is installed)
   */
  logger?: StickyLogger | false;
  /** Serve `/metrics`, `/healthz` and `/readyz` from the primary on their own port. @default off */
  metrics?: MetricsOptions | false;
  /** Level of the default logger, in the primary and the workers. Ignored when `logger` is given. @default 'info' */
  logLevel?: LogLevel;
}

/** How IP-mode connections reach their worker; see `ListenOptions.steering`. */
export type Steering = 'auto' | 'kernel' | 'primary';

export type RoutingMode = 'ip' | 'proxyHeader' | 'proxyProtocol' | 'socketIoSessions' | 'custom' | 'customNoParsing';

export interface ResolvedListenOptions {
  workers: number;
  mode: RoutingMode;
  proxyHeader: string;
  trustedHops: number;
  generatePrehashArray: ((req: StickyRequest, socket: Socket) => PrehashKey) | undefined;
  generatePrehashArrayNoParsing: ((socket: Socket) => PrehashKey) | undefined;
  env: Readonly<Record<string, string>>;
  hashSeed: number;
  backlog: number;
  steering: Steering;
  maxHeadBytes: number;
  headTimeout: number;
  maxPendingHeads: number;
  slotQueueLimit: number;
  slotWaitTimeout: number;
  shutdownTimeout: number;
  shutdownDelay: number;
  drainTimeout: number;
  handleSignals: boolean;
  readyTimeout: number;
  workerTimeout: number;
  readiness: 'listen' | 'manual';
  reloadConcurrency: number;
  maxRequests: number;
  maxRequestsJitter: number;
  maxMemory: number;
  memoryCheckInterval: number;
  respawnDelay: number;
  maxRespawnDelay: number;
  minUptime: number;
  maxRestarts: number;
  restartWindow: number;
  failedSlotRetry: number;
  logLevel: LogLevel;
  ipcTimeout: number;
  logger: Logger;
  metrics: Readonly<ResolvedMetricsOptions> | undefined;
}

export const DEFAULTS = Object.freeze({
  trustedHops: 0,
  hashSeed: 0,
  backlog: 2048,
  steering: 'auto',
  maxHeadBytes: 16_384,
  headTimeout: 10_000,
  maxPendingHeads: 1024,
  slotQueueLimit: 512,
  slotWaitTimeout: 5_000,
  shutdownTimeout: 30_000,
  shutdownDelay: 0,
  drainTimeout: 10_000,
  handleSignals: true,
  readyTimeout: 30_000,
  workerTimeout: 30_000,
  readiness: 'listen',
  reloadConcurrency: 1,
  maxRequests: 0,
  maxRequestsJitter: 0,
  maxMemory: 0,
  memoryCheckInterval: 5_000,
  respawnDelay: 100,
  maxRespawnDelay: 30_000,
  minUptime: 5_000,
  maxRestarts: 10,
  restartWindow: 60_000,
  failedSlotRetry: 60_000,
  logLevel: 'info',
  ipcTimeout: 10_000,
});

const LISTEN_KEYS: ReadonlySet<string> = new Set([
  'workers', 'proxyHeader', 'trustedHops', 'proxyProtocol', 'socketIoSessions', 'generatePrehashArray',
  'generatePrehashArrayNoParsing', 'env', 'hashSeed', 'backlog', 'steering', 'maxHeadBytes', 'headTimeout', 'maxPendingHeads',
  'slotQueueLimit', 'slotWaitTimeout', 'shutdownTimeout', 'shutdownDelay', 'drainTimeout', 'handleSignals', 'readyTimeout', 'workerTimeout', 'readiness', 'reloadConcurrency',
  'maxRequests', 'maxRequestsJitter', 'maxMemory', 'memoryCheckInterval',
  'respawnDelay', 'maxRespawnDelay', 'minUptime', 'maxRestarts', 'restartWindow', 'failedSlotRetry', 'ipcTimeout', 'logger', 'logLevel', 'metrics',
]);

/** Names users reach for that mean one of ours. */
const RENAMED: Readonly<Record<string, string>> = {
  num: 'workers',
  header: 'proxyHeader',
  proxy: 'proxyHeader',
  seed: 'hashSeed',
  timeout: 'shutdownTimeout',
};

export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return `${JSON.stringify(value)} (string)`;
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return `${String(value)} (${typeof value})`;
}

export function invalidOption(name: string, expected: string, value: unknown, hint?: string): StickyError {
  return new StickyError(
    ErrorCode.InvalidOption,
    `Expected \`${name}\` to be ${expected}, received ${describeValue(value)}.`,
    hint === undefined ? {} : { hint },
  );
}

export function assertKnownKeys(input: object, known: ReadonlySet<string>): void {
  for (const key of Object.keys(input)) {
    if (known.has(key)) continue;
    const renamed = RENAMED[key];
    const hint = renamed === undefined
      ? `Known options: ${[...known].map((k) => `\`${k}\``).join(', ')}.`
      : `Use \`${renamed}\` instead.`;
    throw new StickyError(ErrorCode.InvalidOption, `Unknown option \`${key}\`.`, { hint });
  }
}

function integerIn(input: Record<string, unknown>, name: string, fallback: number, min: number, max: number, unit = '', label = name): number {
  const value = input[name] ?? fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer from ${min} to ${max}`;
    throw invalidOption(label, `${range}${unit}`, value);
  }
  return value;
}

function optionalFunction<T>(input: Record<string, unknown>, name: string, label = name): T | undefined {
  const value = input[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'function') throw invalidOption(label, 'a function', value);
  return value as T;
}

function booleanOf(input: Record<string, unknown>, name: string, fallback: boolean): boolean {
  const value = input[name] ?? fallback;
  if (typeof value !== 'boolean') throw invalidOption(name, 'a boolean', value);
  return value;
}

const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function resolveMode(input: ListenOptions): RoutingMode {
  const chosen: string[] = [];
  if (input.proxyHeader !== undefined) chosen.push('proxyHeader');
  if (input.proxyProtocol === true) chosen.push('proxyProtocol');
  if (input.socketIoSessions === true) chosen.push('socketIoSessions');
  if (input.generatePrehashArray !== undefined) chosen.push('generatePrehashArray');
  if (input.generatePrehashArrayNoParsing !== undefined) chosen.push('generatePrehashArrayNoParsing');
  if (chosen.length > 1) {
    throw new StickyError(
      ErrorCode.InvalidOption,
      `Options ${chosen.map((c) => `\`${c}\``).join(' and ')} cannot be combined: each one chooses how connections are routed.`,
      { hint: 'Pick one routing mode.' },
    );
  }
  switch (chosen[0]) {
    case 'proxyHeader': return 'proxyHeader';
    case 'proxyProtocol': return 'proxyProtocol';
    case 'socketIoSessions': return 'socketIoSessions';
    case 'generatePrehashArray': return 'custom';
    case 'generatePrehashArrayNoParsing': return 'customNoParsing';
    default: return 'ip';
  }
}

function resolveEnv(value: unknown): Readonly<Record<string, string>> {
  if (value === undefined) return Object.freeze({});
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw invalidOption('env', 'an object of strings', value);
  }
  const env: Record<string, string> = {};
  for (const [key, entry] of Object.entries(value)) {
    if (entry === undefined) continue;
    if (typeof entry !== 'string' && typeof entry !== 'number' && typeof entry !== 'boolean') {
      throw invalidOption(`env.${key}`, 'a string', entry);
    }
    env[key] = String(entry);
  }
  return Object.freeze(env);
}

function resolveReadiness(value: unknown): 'listen' | 'manual' {
  if (value === undefined) return DEFAULTS.readiness;
  if (value !== 'listen' && value !== 'manual') throw invalidOption('readiness', '"listen" or "manual"', value);
  return value;
}

const METRICS_KEYS: ReadonlySet<string> = new Set(['port', 'host', 'collect']);

function resolveMetrics(value: unknown): Readonly<ResolvedMetricsOptions> | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw invalidOption('metrics', 'an object such as { port: 9464 }, or false', value);
  }
  const raw = value as Record<string, unknown>;
  for (const key of Object.keys(raw)) {
    if (!METRICS_KEYS.has(key)) {
      throw new StickyError(ErrorCode.InvalidOption, `Unknown option \`metrics.${key}\`.`, { hint: 'Known: `port`, `host`, `collect`.' });
    }
  }
  if (raw.port === undefined) throw invalidOption('metrics.port', 'an integer from 0 to 65535', undefined, 'Name the port of the endpoint, e.g. { port: 9464 }.');
  const host = raw.host ?? '127.0.0.1';
  if (typeof host !== 'string' || host.length === 0) throw invalidOption('metrics.host', 'an address to bind, such as "127.0.0.1"', host);
  return Object.freeze({
    port: integerIn(raw, 'port', 0, 0, 65_535, '', 'metrics.port'),
    host,
    collect: optionalFunction<ResolvedMetricsOptions['collect']>(raw, 'collect', 'metrics.collect'),
  });
}

function resolveSteering(value: unknown, mode: RoutingMode): Steering {
  if (value === undefined) return DEFAULTS.steering as Steering;
  if (value !== 'auto' && value !== 'kernel' && value !== 'primary') throw invalidOption('steering', '"auto", "kernel" or "primary"', value);
  if (value === 'kernel' && mode !== 'ip') {
    throw invalidOption('steering', '"auto" or "primary" with `proxyHeader`, `proxyProtocol` or a custom key', value,
      'The kernel sees only addresses, not the bytes these keys come from; such modes always use the primary.');
  }
  return value;
}

function resolveLogLevel(value: unknown): LogLevel {
  // A worker inherits the primary's level unless its own options name one.
  const level = value ?? process.env.STICKY_RUNTIME_LOG_LEVEL ?? DEFAULTS.logLevel;
  if (!(LOG_LEVELS as readonly unknown[]).includes(level)) {
    throw invalidOption('logLevel', `one of ${LOG_LEVELS.map((l) => `"${l}"`).join(', ')}`, level);
  }
  return level as LogLevel;
}

/** Applies defaults and validates once; internal code only sees the frozen result. */
export function normalizeListenOptions(input: ListenOptions = {}): Readonly<ResolvedListenOptions> {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw invalidOption('options', 'an object', input);
  }
  assertKnownKeys(input, LISTEN_KEYS);
  const raw = input as Record<string, unknown>;
  const proxyHeader = raw.proxyHeader;
  if (proxyHeader !== undefined && (typeof proxyHeader !== 'string' || !HEADER_NAME.test(proxyHeader))) {
    throw invalidOption('proxyHeader', 'an HTTP header name such as "x-forwarded-for"', proxyHeader);
  }
  if (raw.proxyProtocol !== undefined) booleanOf(raw, 'proxyProtocol', false);
  if (raw.socketIoSessions !== undefined) booleanOf(raw, 'socketIoSessions', false);
  const mode = resolveMode(input);
  if (raw.trustedHops !== undefined && mode !== 'proxyHeader') {
    throw invalidOption('trustedHops', 'used together with `proxyHeader`', raw.trustedHops);
  }
  const unlimited = Number.MAX_SAFE_INTEGER;
  const logger = raw.logger;
  if (logger !== undefined && logger !== false && !isLoggerLike(logger)) {
    throw invalidOption('logger', 'a pino logger, an object with its methods (error, warn, info, debug) or false', logger);
  }
  const logLevel = resolveLogLevel(raw.logLevel);
  return Object.freeze({
    workers: integerIn(raw, 'workers', availableParallelism(), 1, 1024),
    mode,
    proxyHeader: typeof proxyHeader === 'string' ? proxyHeader.toLowerCase() : '',
    trustedHops: integerIn(raw, 'trustedHops', DEFAULTS.trustedHops, 0, 64),
    generatePrehashArray: optionalFunction<ResolvedListenOptions['generatePrehashArray']>(raw, 'generatePrehashArray'),
    generatePrehashArrayNoParsing: optionalFunction<ResolvedListenOptions['generatePrehashArrayNoParsing']>(raw, 'generatePrehashArrayNoParsing'),
    env: resolveEnv(raw.env),
    hashSeed: integerIn(raw, 'hashSeed', DEFAULTS.hashSeed, 0, 0xffff_ffff),
    backlog: integerIn(raw, 'backlog', DEFAULTS.backlog, 1, 65_535),
    steering: resolveSteering(raw.steering, mode),
    maxHeadBytes: integerIn(raw, 'maxHeadBytes', DEFAULTS.maxHeadBytes, 256, 1024 * 1024, ' (bytes)'),
    headTimeout: integerIn(raw, 'headTimeout', DEFAULTS.headTimeout, 1, unlimited, ' (ms)'),
    maxPendingHeads: integerIn(raw, 'maxPendingHeads', DEFAULTS.maxPendingHeads, 1, unlimited),
    slotQueueLimit: integerIn(raw, 'slotQueueLimit', DEFAULTS.slotQueueLimit, 0, unlimited),
    slotWaitTimeout: integerIn(raw, 'slotWaitTimeout', DEFAULTS.slotWaitTimeout, 0, unlimited, ' (ms)'),
    shutdownTimeout: integerIn(raw, 'shutdownTimeout', DEFAULTS.shutdownTimeout, 0, unlimited, ' (ms)'),
    shutdownDelay: integerIn(raw, 'shutdownDelay', DEFAULTS.shutdownDelay, 0, unlimited, ' (ms)'),
    drainTimeout: integerIn(raw, 'drainTimeout', DEFAULTS.drainTimeout, 0, unlimited, ' (ms)'),
    handleSignals: booleanOf(raw, 'handleSignals', DEFAULTS.handleSignals),
    readyTimeout: integerIn(raw, 'readyTimeout', DEFAULTS.readyTimeout, 1, unlimited, ' (ms)'),
    workerTimeout: integerIn(raw, 'workerTimeout', DEFAULTS.workerTimeout, 0, unlimited, ' (ms)'),
    readiness: resolveReadiness(raw.readiness),
    reloadConcurrency: integerIn(raw, 'reloadConcurrency', DEFAULTS.reloadConcurrency, 1, 1024),
    maxRequests: integerIn(raw, 'maxRequests', DEFAULTS.maxRequests, 0, unlimited),
    maxRequestsJitter: integerIn(raw, 'maxRequestsJitter', DEFAULTS.maxRequestsJitter, 0, unlimited),
    maxMemory: integerIn(raw, 'maxMemory', DEFAULTS.maxMemory, 0, unlimited, ' (bytes)'),
    memoryCheckInterval: integerIn(raw, 'memoryCheckInterval', DEFAULTS.memoryCheckInterval, 10, unlimited, ' (ms)'),
    respawnDelay: integerIn(raw, 'respawnDelay', DEFAULTS.respawnDelay, 0, unlimited, ' (ms)'),
    maxRespawnDelay: integerIn(raw, 'maxRespawnDelay', DEFAULTS.maxRespawnDelay, 0, unlimited, ' (ms)'),
    minUptime: integerIn(raw, 'minUptime', DEFAULTS.minUptime, 0, unlimited, ' (ms)'),
    maxRestarts: integerIn(raw, 'maxRestarts', DEFAULTS.maxRestarts, 0, unlimited),
    restartWindow: integerIn(raw, 'restartWindow', DEFAULTS.restartWindow, 1, unlimited, ' (ms)'),
    failedSlotRetry: integerIn(raw, 'failedSlotRetry', DEFAULTS.failedSlotRetry, 0, unlimited, ' (ms)'),
    ipcTimeout: integerIn(raw, 'ipcTimeout', DEFAULTS.ipcTimeout, 1, 2_147_483_647, ' (ms)'),
    logLevel,
    logger: resolveLogger(logger as StickyLogger | false | undefined, logLevel),
    metrics: resolveMetrics(raw.metrics),
  });
}
