import { availableParallelism } from 'node:os';
import { isLoggerLike, resolveLogger, type StickyLogger } from '../logger.js';
import {
  MAX_TIMER_MS, assertKnownKeys, booleanOf, checkWorkerCount, integerIn, invalidOption, optionalFunction,
} from './checks.js';
import { DEFAULTS } from './defaults.js';
import type { ListenOptions } from './listen-options.js';
import type { ResolvedListenOptions } from './resolved-options.js';
import {
  checkProxyHeader, resolveDrainTimeout, resolveEnv, resolveLogLevel, resolveMetrics, resolveMetricsRegistry,
  resolveMode, resolveReadiness, resolveReportInterval, resolveSteering, resolveTrustedProxies,
} from './resolvers.js';

// Options are resolved once on each side: normalizeListenOptions() in the primary and in each
// worker, and the primary's lifecycle options passed to its workers through their environment
// (options/worker-env.ts). Internal code receives only the frozen result.

export type { ListenOptions } from './listen-options.js';
export type { ResolvedListenOptions } from './resolved-options.js';
export type { MetricsOptions, MetricsRegistry, ResolvedMetricsOptions } from './metrics-options.js';
export type { PrehashKey, RoutingMode, Steering, StickyRequest } from './routing-options.js';
export { DEFAULTS } from './defaults.js';
export { MAX_TIMER_MS, MAX_WORKERS, checkWorkerCount, describeValue, invalidOption, parsePort } from './checks.js';
export {
  encodeWorkerEnv, inheritedOptions, workerLifecycle, type InheritedOptions, type WorkerLifecycle,
} from './worker-env.js';

const LISTEN_KEYS: ReadonlySet<string> = new Set([
  'workers', 'proxyHeader', 'trustedHops', 'trustedProxies', 'proxyProtocol', 'socketIoSessions',
  'generatePrehashArray', 'generatePrehashArrayNoParsing', 'env', 'hashSeed', 'backlog', 'steering', 'nativeHandoff',
  'groupCheckInterval', 'maxHeadBytes', 'headTimeout', 'maxPendingHeads',
  'slotQueueLimit', 'slotWaitTimeout', 'shutdownTimeout', 'shutdownDelay', 'drainTimeout',
  'handoverTimeout', 'handoverMaxBytes', 'handleSignals',
  'readyTimeout', 'workerTimeout', 'readiness', 'reloadConcurrency', 'maxRequests', 'maxRequestsJitter', 'maxMemory',
  'memoryCheckInterval', 'reportInterval', 'metricsRegistry', 'respawnDelay', 'maxRespawnDelay', 'minUptime',
  'maxRestarts', 'restartWindow', 'failedSlotRetry', 'ipcTimeout', 'logger', 'logLevel', 'metrics',
]);

/** Names users reach for that mean one of ours. */
const RENAMED: Readonly<Record<string, string>> = {
  num: 'workers',
  header: 'proxyHeader',
  proxy: 'proxyHeader',
  seed: 'hashSeed',
  timeout: 'shutdownTimeout',
};

/** Applies defaults and validates once; internal code only sees the frozen result. */
export function normalizeListenOptions(input: ListenOptions = {}): Readonly<ResolvedListenOptions> {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw invalidOption('options', 'an object', input);
  }
  assertKnownKeys(input, LISTEN_KEYS, RENAMED);
  const raw = input as Record<string, unknown>;
  const proxyHeader = checkProxyHeader(raw.proxyHeader);
  if (raw.proxyProtocol !== undefined) booleanOf(raw, 'proxyProtocol', false);
  if (raw.socketIoSessions !== undefined) booleanOf(raw, 'socketIoSessions', false);
  const mode = resolveMode(input);
  if (raw.trustedHops !== undefined && mode !== 'proxyHeader') {
    throw invalidOption('trustedHops', 'used together with `proxyHeader`', raw.trustedHops);
  }
  const trustedProxies = resolveTrustedProxies(raw, mode);
  const unlimited = Number.MAX_SAFE_INTEGER;
  const logger = raw.logger;
  if (logger !== undefined && logger !== false && !isLoggerLike(logger)) {
    throw invalidOption('logger',
      'a pino logger, an object with its methods (error, warn, info, debug) or false', logger);
  }
  const logLevel = resolveLogLevel(raw.logLevel);
  const shutdownTimeout = integerIn(raw, 'shutdownTimeout', DEFAULTS.shutdownTimeout, 0, MAX_TIMER_MS, ' (ms)');
  return Object.freeze({
    workers: checkWorkerCount(raw.workers ?? availableParallelism()),
    mode,
    socketIoSessions: mode === 'socketIoSessions' || (mode === 'proxyProtocol' && raw.socketIoSessions === true),
    proxyHeader: proxyHeader?.toLowerCase() ?? '',
    trustedHops: integerIn(raw, 'trustedHops', DEFAULTS.trustedHops, 0, 64),
    trustedProxies,
    generatePrehashArray: optionalFunction<ResolvedListenOptions['generatePrehashArray']>(raw, 'generatePrehashArray'),
    generatePrehashArrayNoParsing:
      optionalFunction<ResolvedListenOptions['generatePrehashArrayNoParsing']>(raw, 'generatePrehashArrayNoParsing'),
    env: resolveEnv(raw.env),
    hashSeed: integerIn(raw, 'hashSeed', DEFAULTS.hashSeed, 0, 0xffff_ffff),
    backlog: integerIn(raw, 'backlog', DEFAULTS.backlog, 1, 65_535),
    steering: resolveSteering(raw.steering, mode),
    nativeHandoff: booleanOf(raw, 'nativeHandoff', DEFAULTS.nativeHandoff),
    groupCheckInterval: integerIn(raw, 'groupCheckInterval', DEFAULTS.groupCheckInterval, 10, 60_000, ' (ms)'),
    maxHeadBytes: integerIn(raw, 'maxHeadBytes', DEFAULTS.maxHeadBytes, 256, 1024 * 1024, ' (bytes)'),
    headTimeout: integerIn(raw, 'headTimeout', DEFAULTS.headTimeout, 1, MAX_TIMER_MS, ' (ms)'),
    maxPendingHeads: integerIn(raw, 'maxPendingHeads', DEFAULTS.maxPendingHeads, 1, unlimited),
    slotQueueLimit: integerIn(raw, 'slotQueueLimit', DEFAULTS.slotQueueLimit, 0, unlimited),
    slotWaitTimeout: integerIn(raw, 'slotWaitTimeout', DEFAULTS.slotWaitTimeout, 0, MAX_TIMER_MS, ' (ms)'),
    shutdownTimeout,
    shutdownDelay: integerIn(raw, 'shutdownDelay', DEFAULTS.shutdownDelay, 0, MAX_TIMER_MS, ' (ms)'),
    drainTimeout: resolveDrainTimeout(raw, shutdownTimeout),
    handoverTimeout: integerIn(raw, 'handoverTimeout', DEFAULTS.handoverTimeout, 1, MAX_TIMER_MS, ' (ms)'),
    handoverMaxBytes: integerIn(raw, 'handoverMaxBytes', DEFAULTS.handoverMaxBytes, 0, 2 ** 31 - 1, ' (bytes)'),
    handleSignals: booleanOf(raw, 'handleSignals', DEFAULTS.handleSignals),
    readyTimeout: integerIn(raw, 'readyTimeout', DEFAULTS.readyTimeout, 1, MAX_TIMER_MS, ' (ms)'),
    workerTimeout: integerIn(raw, 'workerTimeout', DEFAULTS.workerTimeout, 0, MAX_TIMER_MS, ' (ms)'),
    readiness: resolveReadiness(raw.readiness),
    reloadConcurrency: integerIn(raw, 'reloadConcurrency', DEFAULTS.reloadConcurrency, 1, 1024),
    maxRequests: integerIn(raw, 'maxRequests', DEFAULTS.maxRequests, 0, unlimited),
    maxRequestsJitter: integerIn(raw, 'maxRequestsJitter', DEFAULTS.maxRequestsJitter, 0, unlimited),
    maxMemory: integerIn(raw, 'maxMemory', DEFAULTS.maxMemory, 0, unlimited, ' (bytes)'),
    memoryCheckInterval: integerIn(raw, 'memoryCheckInterval', DEFAULTS.memoryCheckInterval, 10, MAX_TIMER_MS, ' (ms)'),
    reportInterval: resolveReportInterval(raw),
    metricsRegistry: resolveMetricsRegistry(raw.metricsRegistry),
    respawnDelay: integerIn(raw, 'respawnDelay', DEFAULTS.respawnDelay, 0, MAX_TIMER_MS, ' (ms)'),
    maxRespawnDelay: integerIn(raw, 'maxRespawnDelay', DEFAULTS.maxRespawnDelay, 0, MAX_TIMER_MS, ' (ms)'),
    minUptime: integerIn(raw, 'minUptime', DEFAULTS.minUptime, 0, MAX_TIMER_MS, ' (ms)'),
    maxRestarts: integerIn(raw, 'maxRestarts', DEFAULTS.maxRestarts, 0, unlimited),
    restartWindow: integerIn(raw, 'restartWindow', DEFAULTS.restartWindow, 1, MAX_TIMER_MS, ' (ms)'),
    failedSlotRetry: integerIn(raw, 'failedSlotRetry', DEFAULTS.failedSlotRetry, 0, MAX_TIMER_MS, ' (ms)'),
    ipcTimeout: integerIn(raw, 'ipcTimeout', DEFAULTS.ipcTimeout, 1, MAX_TIMER_MS, ' (ms)'),
    logLevel,
    logger: resolveLogger(logger as StickyLogger | false | undefined, logLevel),
    metrics: resolveMetrics(raw.metrics),
  });
}

