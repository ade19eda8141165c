import type { StickyError } from '../errors.js';
import { LOG_LEVELS, type LogLevel } from '../logger.js';
import { invalidOption } from './checks.js';
import { AddressRanges } from '../internal/address-ranges.js';
import { STATE_PROTOCOL } from '../internal/state-frame.js';
import { DEFAULTS } from './defaults.js';
import type { ResolvedListenOptions } from './resolved-options.js';
import { ROUTING_MODES, type RoutingMode } from './routing-options.js';

// The primary's options govern every worker's lifecycle, whatever options the worker code passes:
// the primary encodes them into each worker's environment when it forks it, and the worker decodes
// them here, once. Nothing else reads these variables.

const NAMES = {
  slot: 'STICKY_RUNTIME_SLOT',
  readiness: 'STICKY_RUNTIME_READINESS',
  shutdownTimeout: 'STICKY_RUNTIME_SHUTDOWN_TIMEOUT',
  drainTimeout: 'STICKY_RUNTIME_DRAIN_TIMEOUT',
  proxyHeader: 'STICKY_RUNTIME_PROXY_HEADER',
  trustedHops: 'STICKY_RUNTIME_TRUSTED_HOPS',
  trustedProxies: 'STICKY_RUNTIME_TRUSTED_PROXIES',
  mode: 'STICKY_RUNTIME_MODE',
  logLevel: 'STICKY_RUNTIME_LOG_LEVEL',
  ipcTimeout: 'STICKY_RUNTIME_IPC_TIMEOUT',
  maxRequests: 'STICKY_RUNTIME_MAX_REQUESTS',
  maxMemory: 'STICKY_RUNTIME_MAX_MEMORY',
  memoryCheckInterval: 'STICKY_RUNTIME_MEMORY_CHECK_INTERVAL',
  reportInterval: 'STICKY_RUNTIME_REPORT_INTERVAL',
  metrics: 'STICKY_RUNTIME_METRICS',
  handover: 'STICKY_RUNTIME_HANDOVER',
} as const;

/** What a worker takes from the primary that forked it. `undefined`: not set (a process it did not fork). */
export interface InheritedOptions {
  slot: number | undefined;
  readiness: 'listen' | 'manual' | undefined;
  shutdownTimeout: number | undefined;
  drainTimeout: number | undefined;
  ipcTimeout: number | undefined;
  logLevel: LogLevel | undefined;
  /** The header that carries the client address in header mode; `''` in other modes. */
  proxyHeader: string;
  trustedHops: number;
  /** The peers whose forwarding header counts; undefined: every peer (the count form). */
  trustedProxies: AddressRanges | undefined;
  /** The primary's routing mode: the worker watches for proxies that reuse a connection for several keys. */
  mode: RoutingMode | undefined;
  /** This worker's own request limit, jitter included; `0` never recycles. */
  maxRequests: number;
  maxMemory: number;
  memoryCheckInterval: number;
  /** Ms between the worker's figure reports; `0`: none (also in a process the runtime did not fork). */
  reportInterval: number;
  /** The primary serves `/metrics`: the worker gathers prom-client's default metrics for it. */
  isScraped: boolean;
  /** The slot state handover protocol the primary speaks; undefined: none (an older primary). */
  handoverProtocol: number | undefined;
}

/**
 * The environment of a worker forked for `slot`: the application's `env`, then ours. `cluster.fork`
 * lays it over the primary's environment, and child_process leaves out a variable whose value is
 * `undefined`: so `env: { NAME: undefined }` keeps the primary's NAME from the workers. `random`
 * draws this worker's share of `maxRequestsJitter`, so that workers started together do not
 * recycle together.
 */
export function encodeWorkerEnv(
  options: Readonly<ResolvedListenOptions>, slot: number, random: () => number = Math.random,
): Record<string, string | undefined> {
  // (Capped: a huge `maxRequests` meant as "never" plus its jitter must still read back as an integer.)
  const maxRequests = options.maxRequests === 0 ? 0
    : Math.min(Number.MAX_SAFE_INTEGER, options.maxRequests + Math.floor(random() * (options.maxRequestsJitter + 1)));
  return {
    ...options.env,
    [NAMES.slot]: String(slot),
    [NAMES.readiness]: options.readiness,
    [NAMES.shutdownTimeout]: String(options.shutdownTimeout),
    [NAMES.drainTimeout]: String(options.drainTimeout),
    // clientAddress(req) in a worker reads the client from the header by the primary's rule.
    [NAMES.proxyHeader]: options.mode === 'proxyHeader' ? options.proxyHeader : '',
    [NAMES.trustedHops]: String(options.trustedHops),
    // (Entries hold no comma: each was checked to be an address or range.)
    [NAMES.trustedProxies]: options.trustedProxies?.entries.join(',') ?? '',
    [NAMES.mode]: options.mode,
    // Workers log at the primary's level unless their own options say otherwise.
    [NAMES.logLevel]: options.logLevel,
    [NAMES.ipcTimeout]: String(options.ipcTimeout),
    [NAMES.maxRequests]: String(maxRequests),
    [NAMES.maxMemory]: String(options.maxMemory),
    [NAMES.memoryCheckInterval]: String(options.memoryCheckInterval),
    [NAMES.reportInterval]: String(options.reportInterval),
    [NAMES.metrics]: options.metrics === undefined ? '0' : '1',
    [NAMES.handover]: String(STATE_PROTOCOL),
  };
}

/**
 * Reads what `encodeWorkerEnv` wrote. @throws {StickyError} `STICKY_ERR_INVALID_OPTION` for a value it cannot have
 * written.
 */
export function decodeWorkerEnv(env: Readonly<Record<string, string | undefined>>): InheritedOptions {
  const integer = (name: string, min: number): number | undefined => {
    const text = env[name];
    if (text === undefined || text === '') return undefined;
    const value = /^\d+$/.test(text) ? Number(text) : Number.NaN;
    if (!Number.isSafeInteger(value) || value < min) throw invalidInherited(name, `an integer >= ${min}`, text);
    return value;
  };
  const oneOf = <T extends string>(name: string, allowed: readonly T[]): T | undefined => {
    const text = env[name];
    if (text === undefined || text === '') return undefined;
    if (!(allowed as readonly string[]).includes(text)) {
      throw invalidInherited(name, `one of ${allowed.map((a) => `"${a}"`).join(', ')}`, text);
    }
    return text as T;
  };
  const ranges = (name: string): AddressRanges | undefined => {
    const text = env[name];
    if (text === undefined || text === '') return undefined;
    try {
      return new AddressRanges(text.split(','));
    } catch {
      throw invalidInherited(name, 'a comma-separated list of addresses and CIDR ranges', text);
    }
  };
  return {
    slot: integer(NAMES.slot, 0),
    readiness: oneOf(NAMES.readiness, ['listen', 'manual'] as const),
    shutdownTimeout: integer(NAMES.shutdownTimeout, 0),
    drainTimeout: integer(NAMES.drainTimeout, 0),
    ipcTimeout: integer(NAMES.ipcTimeout, 1),
    logLevel: oneOf(NAMES.logLevel, LOG_LEVELS),
    proxyHeader: env[NAMES.proxyHeader] ?? '',
    trustedHops: integer(NAMES.trustedHops, 0) ?? 0,
    trustedProxies: ranges(NAMES.trustedProxies),
    mode: oneOf(NAMES.mode, ROUTING_MODES),
    maxRequests: integer(NAMES.maxRequests, 0) ?? 0,
    maxMemory: integer(NAMES.maxMemory, 0) ?? 0,
    memoryCheckInterval: integer(NAMES.memoryCheckInterval, 10) ?? DEFAULTS.memoryCheckInterval,
    reportInterval: integer(NAMES.reportInterval, 0) ?? 0,
    isScraped: oneOf(NAMES.metrics, ['0', '1'] as const) === '1',
    handoverProtocol: integer(NAMES.handover, 1),
  };
}

function invalidInherited(name: string, expected: string, text: string): StickyError {
  return invalidOption(name, expected, text,
    'The primary sets it for each worker it forks; remove it from the environment you start the process with.');
}


let inherited: Readonly<InheritedOptions> | undefined;

/** This process's inherited options, decoded from `process.env` on first use. */
export function inheritedOptions(): Readonly<InheritedOptions> {
  inherited ??= Object.freeze(decodeWorkerEnv(process.env));
  return inherited;
}

/** How a worker runs its lifecycle: by the primary's options, or (in a process it did not fork) by its own. */
export interface WorkerLifecycle {
  readiness: 'listen' | 'manual';
  shutdownTimeout: number;
  drainTimeout: number;
  maxRequests: number;
  maxMemory: number;
  memoryCheckInterval: number;
}

export function workerLifecycle(
  own: Readonly<ResolvedListenOptions>, inherited: Readonly<InheritedOptions> = inheritedOptions(),
): Readonly<WorkerLifecycle> {
  return Object.freeze({
    readiness: inherited.readiness ?? own.readiness,
    shutdownTimeout: inherited.shutdownTimeout ?? own.shutdownTimeout,
    drainTimeout: inherited.drainTimeout ?? own.drainTimeout,
    // Recycling is the primary's to ask for: a worker it did not fork has nobody to ask.
    maxRequests: inherited.maxRequests,
    maxMemory: inherited.maxMemory,
    memoryCheckInterval: inherited.memoryCheckInterval,
  });
}
