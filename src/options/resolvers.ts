import { ErrorCode, StickyError } from '../errors.js';
import { LOG_LEVELS, type LogLevel } from '../logger.js';
import { MAX_TIMER_MS, integerIn, invalidOption, optionalFunction } from './checks.js';
import { DEFAULTS } from './defaults.js';
import type { ListenOptions } from './listen-options.js';
import type { MetricsRegistry, ResolvedMetricsOptions } from './metrics-options.js';
import type { RoutingMode, Steering } from './routing-options.js';
import { inheritedOptions } from './worker-env.js';
import { AddressRanges, rangeError } from '../internal/address-ranges.js';

// The options that take more than a range check: the routing mode, env, metrics, steering, the
// log level and the drain deadline.

const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** `proxyHeader` as given: an HTTP header name, or undefined. */
export function checkProxyHeader(value: unknown): string | undefined {
  if (value !== undefined && (typeof value !== 'string' || !HEADER_NAME.test(value))) {
    throw invalidOption('proxyHeader', 'an HTTP header name such as "x-forwarded-for"', value);
  }
  return value;
}

export function resolveMode(input: ListenOptions): RoutingMode {
  const chosen: string[] = [];
  if (input.proxyHeader !== undefined) chosen.push('proxyHeader');
  if (input.proxyProtocol === true) chosen.push('proxyProtocol');
  // Behind a load balancer speaking PROXY protocol, session ids route after the PROXY header.
  if (input.socketIoSessions === true && input.proxyProtocol !== true) chosen.push('socketIoSessions');
  if (input.generatePrehashArray !== undefined) chosen.push('generatePrehashArray');
  if (input.generatePrehashArrayNoParsing !== undefined) chosen.push('generatePrehashArrayNoParsing');
  if (chosen.length > 1) {
    throw new StickyError(
      ErrorCode.InvalidOption,
      `Options ${chosen.map((c) => `\`${c}\``).join(' and ')} cannot be combined: `
        + 'each one chooses how connections are routed.',
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

const TRUSTED_EXAMPLE = "trustedProxies: ['10.0.0.0/8', '127.0.0.1', '::1']";

/**
 * `trustedProxies`, compiled once; and the combinations it allows: only with `proxyHeader` or
 * `proxyProtocol`, never with `trustedHops`, and required with `proxyProtocol`.
 */
export function resolveTrustedProxies(raw: Record<string, unknown>, mode: RoutingMode): AddressRanges | undefined {
  const value = raw.trustedProxies;
  if (value === undefined) {
    if (mode === 'proxyProtocol') {
      throw new StickyError(ErrorCode.InvalidOption,
        '`proxyProtocol` needs `trustedProxies`: the addresses of the load balancers that send PROXY headers.', {
          hint: 'A PROXY header names the client, so any peer that reaches the port could claim any address. '
            + `Name your load balancers, e.g. \`${TRUSTED_EXAMPLE}\`.`,
        });
    }
    return undefined;
  }
  if (mode !== 'proxyHeader' && mode !== 'proxyProtocol') {
    throw invalidOption('trustedProxies', 'used together with `proxyHeader` or `proxyProtocol`', value);
  }
  if (raw.trustedHops !== undefined) {
    throw new StickyError(ErrorCode.InvalidOption, 'Options `trustedHops` and `trustedProxies` cannot be combined.', {
      hint: '`trustedProxies` names your proxies and walks the header from the right while they are trusted; '
        + '`trustedHops` is the count form without a list. Keep `trustedProxies`.',
    });
  }
  const expected = 'a non-empty array of addresses and CIDR ranges';
  if (!Array.isArray(value) || value.length === 0) {
    throw invalidOption('trustedProxies', expected, value, `For example \`${TRUSTED_EXAMPLE}\`.`);
  }
  value.forEach((entry: unknown, index) => {
    const reason = typeof entry === 'string' ? rangeError(entry.trim()) : 'it is not a string';
    if (reason !== undefined) {
      const what = 'an IPv4 or IPv6 address or CIDR range such as "10.0.0.0/8" or "fd00::/8"';
      const why = `${reason.charAt(0).toUpperCase()}${reason.slice(1)}.`;
      throw invalidOption(`trustedProxies[${index}]`, what, entry, why);
    }
  });
  return new AddressRanges((value as string[]).map((entry) => entry.trim()));
}

/** The workers' extra variables; an `undefined` value is kept: it removes the variable from the workers. */
export function resolveEnv(value: unknown): Readonly<Record<string, string | undefined>> {
  if (value === undefined) return Object.freeze({});
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw invalidOption('env', 'an object of strings', value);
  }
  const env: Record<string, string | undefined> = {};
  for (const [key, entry] of Object.entries(value)) {
    if (entry === undefined) {
      env[key] = undefined;
      continue;
    }
    if (typeof entry !== 'string' && typeof entry !== 'number' && typeof entry !== 'boolean') {
      throw invalidOption(`env.${key}`, 'a string', entry);
    }
    env[key] = String(entry);
  }
  return Object.freeze(env);
}

export function resolveReadiness(value: unknown): 'listen' | 'manual' {
  if (value === undefined) return DEFAULTS.readiness;
  if (value !== 'listen' && value !== 'manual') throw invalidOption('readiness', '"listen" or "manual"', value);
  return value;
}

const METRICS_KEYS: ReadonlySet<string> = new Set(['port', 'host', 'collect', 'maxConnections', 'token']);
/** Default of `metrics.maxConnections`: scrapers and probes hold a few connections each. */
const METRICS_MAX_CONNECTIONS = 64;
/** A bearer token as `Authorization` carries it: visible ASCII, long enough not to be guessed. */
const METRICS_TOKEN = /^[\x21-\x7e]{16,4096}$/;

export function resolveMetrics(value: unknown): Readonly<ResolvedMetricsOptions> | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw invalidOption('metrics', 'an object such as { port: 9464 }, or false', value);
  }
  const raw = value as Record<string, unknown>;
  for (const key of Object.keys(raw)) {
    if (!METRICS_KEYS.has(key)) {
      throw new StickyError(ErrorCode.InvalidOption, `Unknown option \`metrics.${key}\`.`,
        { hint: 'Known: `port`, `host`, `collect`, `maxConnections`, `token`.' });
    }
  }
  if (raw.port === undefined) {
    throw invalidOption('metrics.port', 'an integer from 0 to 65535', undefined,
      'Name the port of the endpoint, e.g. { port: 9464 }.');
  }
  const host = raw.host ?? '127.0.0.1';
  if (typeof host !== 'string' || host.length === 0) {
    throw invalidOption('metrics.host', 'an address to bind, such as "127.0.0.1"', host);
  }
  return Object.freeze({
    port: integerIn(raw, 'port', 0, 0, 65_535, '', 'metrics.port'),
    host,
    collect: optionalFunction<ResolvedMetricsOptions['collect']>(raw, 'collect', 'metrics.collect'),
    maxConnections: integerIn(raw, 'maxConnections', METRICS_MAX_CONNECTIONS, 1, 65_535, '', 'metrics.maxConnections'),
    token: metricsToken(raw.token),
  });
}

function metricsToken(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !METRICS_TOKEN.test(value)) {
    // The message names the type only: the value is a secret.
    throw new StickyError(ErrorCode.InvalidOption,
      `Expected \`metrics.token\` to be 16 to 4096 visible ASCII characters (no spaces), received a ${typeof value}${
        typeof value === 'string' ? ` of ${value.length} characters` : ''}.`,
      { hint: 'Generate one, e.g. `openssl rand -hex 32`.' });
  }
  return value;
}

export function resolveSteering(value: unknown, mode: RoutingMode): Steering {
  if (value === undefined) return DEFAULTS.steering as Steering;
  if (value !== 'auto' && value !== 'kernel' && value !== 'primary') {
    throw invalidOption('steering', '"auto", "kernel" or "primary"', value);
  }
  if (value === 'kernel' && mode !== 'ip') {
    throw invalidOption('steering', '"auto" or "primary" with `proxyHeader`, `proxyProtocol` or a custom key', value,
      'The kernel sees only addresses, not the bytes these keys come from; such modes always use the primary.');
  }
  return value;
}

export function resolveLogLevel(value: unknown): LogLevel {
  // A worker inherits the primary's level unless its own options name one.
  const level = value ?? inheritedOptions().logLevel ?? DEFAULTS.logLevel;
  if (!(LOG_LEVELS as readonly unknown[]).includes(level)) {
    throw invalidOption('logLevel', `one of ${LOG_LEVELS.map((l) => `"${l}"`).join(', ')}`, level);
  }
  return level as LogLevel;
}

/**
 * The drain must end before the shutdown deadline: the exit hooks run after it, and a worker still
 * draining at `shutdownTimeout` is killed before any hook ran. Without an explicit `drainTimeout`, a
 * `shutdownTimeout` at or below the default drain gets half of it.
 */
export function resolveDrainTimeout(raw: Record<string, unknown>, shutdownTimeout: number): number {
  if (raw.drainTimeout === undefined) {
    return DEFAULTS.drainTimeout < shutdownTimeout ? DEFAULTS.drainTimeout : Math.floor(shutdownTimeout / 2);
  }
  const drainTimeout = integerIn(raw, 'drainTimeout', DEFAULTS.drainTimeout, 0, MAX_TIMER_MS, ' (ms)');
  if (drainTimeout >= shutdownTimeout) {
    throw invalidOption('drainTimeout', `below \`shutdownTimeout\` (${shutdownTimeout} ms)`, drainTimeout,
      'The exit hooks run after the drain, within the shutdown deadline: '
        + 'lower `drainTimeout` or raise `shutdownTimeout`.');
  }
  return drainTimeout;
}

/** The shortest `reportInterval` other than 0: reports stay cheap. */
export const MIN_REPORT_INTERVAL = 100;

export function resolveReportInterval(raw: Record<string, unknown>): number {
  const value = integerIn(raw, 'reportInterval', DEFAULTS.reportInterval, 0, MAX_TIMER_MS, ' (ms)');
  if (value !== 0 && value < MIN_REPORT_INTERVAL) {
    throw invalidOption('reportInterval', `0 (off) or at least ${MIN_REPORT_INTERVAL} (ms)`, value);
  }
  return value;
}

export function resolveMetricsRegistry(value: unknown): MetricsRegistry | undefined {
  if (value === undefined) return undefined;
  const getMetricsAsJSON = typeof value === 'object' && value !== null
    ? (value as { getMetricsAsJSON?: unknown }).getMetricsAsJSON : undefined;
  if (typeof getMetricsAsJSON !== 'function') {
    throw invalidOption('metricsRegistry', 'a prom-client registry (an object with `getMetricsAsJSON()`)', value,
      'Pass `register` from prom-client, or the `new Registry()` your metrics are registered in.');
  }
  return value as MetricsRegistry;
}
