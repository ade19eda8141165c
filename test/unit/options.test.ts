import { availableParallelism } from 'node:os';
import { pino, type Logger as PinoLogger } from 'pino';
import { describe, expect, it } from 'vitest';
import { DEFAULTS, normalizeListenOptions, type ListenOptions } from '../../src/options/index.js';
import { isStickyError } from '../../src/errors.js';

/** Calls normalizeListenOptions with input the types would refuse, and returns what it threw. */
function thrownBy(input: unknown): Error & { code?: unknown } {
  try {
    normalizeListenOptions(input as ListenOptions);
  } catch (error) {
    expect(isStickyError(error)).toBe(true);
    expect(error).toMatchObject({ code: 'STICKY_ERR_INVALID_OPTION' });
    return error as Error;
  }
  throw new Error(`expected ${JSON.stringify(input)} to be rejected`);
}

describe('normalizeListenOptions: defaults', () => {
  it('applies every default', () => {
    const resolved = normalizeListenOptions();
    const { logger, ...rest } = resolved;
    // Literal values: a change of DEFAULTS must show here.
    expect(rest).toEqual({
      trustedHops: 0, hashSeed: 0, backlog: 2048, steering: 'auto', nativeHandoff: true, groupCheckInterval: 1000, maxHeadBytes: 16_384, headTimeout: 10_000,
      maxPendingHeads: 1024, slotQueueLimit: 512, slotWaitTimeout: 5_000, shutdownTimeout: 30_000, shutdownDelay: 0,
      drainTimeout: 10_000, handoverTimeout: 2_000, handoverMaxBytes: 64 * 1024 * 1024, handleSignals: true, readyTimeout: 30_000, workerTimeout: 30_000, readiness: 'listen',
      reloadConcurrency: 1, maxRequests: 0, maxRequestsJitter: 0, maxMemory: 0, memoryCheckInterval: 5_000,
      reportInterval: 1_000, metricsRegistry: undefined, respawnDelay: 100, maxRespawnDelay: 30_000, minUptime: 5_000, maxRestarts: 10, restartWindow: 60_000,
      failedSlotRetry: 60_000, logLevel: 'info', ipcTimeout: 10_000,
      workers: availableParallelism(),
      mode: 'ip',
      socketIoSessions: false,
      proxyHeader: '',
      generatePrehashArray: undefined,
      generatePrehashArrayNoParsing: undefined,
      env: {},
    });
    expect(typeof logger.child).toBe('function');
    // The default logger: pino at `info`.
    // The public type is the narrow StickyLogger; the default is a pino logger underneath.
    expect((logger as unknown as PinoLogger).level).toBe('info');
  });

  it('documents the default values', () => {
    expect(DEFAULTS).toMatchObject({
      trustedHops: 0, hashSeed: 0, maxHeadBytes: 16_384, headTimeout: 10_000, maxPendingHeads: 1024,
      slotQueueLimit: 512, slotWaitTimeout: 5_000, shutdownTimeout: 30_000, drainTimeout: 10_000,
      handleSignals: true, readyTimeout: 30_000, workerTimeout: 30_000, respawnDelay: 100, maxRespawnDelay: 30_000, minUptime: 5_000,
      maxRestarts: 10, restartWindow: 60_000, failedSlotRetry: 60_000,
    });
    expect(Object.isFrozen(DEFAULTS)).toBe(true);
  });

  it('treats {} like no options', () => {
    const { logger: _a, ...fromEmpty } = normalizeListenOptions({});
    const { logger: _b, ...fromNothing } = normalizeListenOptions();
    expect(fromEmpty).toEqual(fromNothing);
  });

  it('returns a frozen result, with a frozen env', () => {
    const resolved = normalizeListenOptions({ env: { A: 'x' } });
    expect(Object.isFrozen(resolved)).toBe(true);
    expect(Object.isFrozen(resolved.env)).toBe(true);
    expect(() => { (resolved as { workers: number }).workers = 3; }).toThrow(TypeError);
  });

  it('keeps given values', () => {
    const resolved = normalizeListenOptions({
      workers: 3, hashSeed: 0xffff_ffff, maxHeadBytes: 256, headTimeout: 1, slotQueueLimit: 0, drainTimeout: 0,
      handleSignals: false, maxRestarts: 0, restartWindow: 1,
    });
    expect(resolved).toMatchObject({
      workers: 3, hashSeed: 0xffff_ffff, maxHeadBytes: 256, headTimeout: 1, slotQueueLimit: 0, drainTimeout: 0,
      handleSignals: false, maxRestarts: 0, restartWindow: 1,
    });
  });

  it('keeps a given pino logger', () => {
    const logger = pino({ enabled: false });
    expect(normalizeListenOptions({ logger }).logger).toBe(logger);
  });
});

describe('normalizeListenOptions: unknown and renamed keys', () => {
  it('rejects an unknown key, naming it in backticks and listing the known ones', () => {
    const error = thrownBy({ drainTimout: 5 });
    expect(error.message).toContain('Unknown option `drainTimout`.');
    expect(error.message).toContain('`drainTimeout`');
    expect(error.message).toContain('`workers`');
  });

  it.each([
    ['num', 'workers'],
    ['header', 'proxyHeader'],
    ['proxy', 'proxyHeader'],
    ['seed', 'hashSeed'],
    ['timeout', 'shutdownTimeout'],
  ])('names the replacement of `%s`', (key, replacement) => {
    const error = thrownBy({ [key]: 1 });
    expect(error.message).toBe(`Unknown option \`${key}\`. Hint: Use \`${replacement}\` instead.`);
    expect(error).toMatchObject({ hint: `Use \`${replacement}\` instead.` });
  });

  it('rejects options that are not an object', () => {
    expect(thrownBy(null).message).toBe('Expected `options` to be an object, received null.');
    expect(thrownBy([]).message).toBe('Expected `options` to be an object, received an array.');
    expect(thrownBy('ip').message).toBe('Expected `options` to be an object, received "ip" (string).');
  });
});

describe('normalizeListenOptions: numeric options', () => {
  const numeric = [
    'workers', 'hashSeed', 'maxHeadBytes', 'headTimeout', 'maxPendingHeads', 'slotQueueLimit', 'slotWaitTimeout',
    'shutdownTimeout', 'drainTimeout', 'readyTimeout', 'workerTimeout', 'respawnDelay', 'maxRespawnDelay', 'minUptime', 'maxRestarts',
    'restartWindow', 'failedSlotRetry',
  ] as const;
  const bad: readonly [unknown, string][] = [
    [-1, '-1 (number)'],
    [1.5, '1.5 (number)'],
    ['10', '"10" (string)'],
    [Number.NaN, 'NaN (number)'],
    [Number.POSITIVE_INFINITY, 'Infinity (number)'],
    [true, 'true (boolean)'],
    [{}, 'an object'],
  ];
  const cases = numeric.flatMap((name) => bad.map(([value, received]) => [name, value, received] as const));

  it.each(['headTimeout', 'slotWaitTimeout', 'shutdownTimeout', 'shutdownDelay', 'drainTimeout', 'readyTimeout', 'workerTimeout',
    'memoryCheckInterval', 'respawnDelay', 'maxRespawnDelay', 'minUptime', 'restartWindow', 'failedSlotRetry', 'ipcTimeout'])(
    'rejects `%s` above the longest delay a Node timer keeps (2^31 - 1 ms)', (name) => {
      expect(thrownBy({ [name]: 2 ** 31 }).message).toMatch(new RegExp(`^Expected \`${name}\` to be an integer from \\d+ to 2147483647 \\(ms\\)`));
    });

  it.each(cases)('rejects `%s: %j`, saying what was expected and received', (name, value, received) => {
    const error = thrownBy({ [name]: value });
    expect(error.message).toMatch(new RegExp(`^Expected \`${name}\` to be an integer .*, received ${received.replace(/[.()]/g, '\\$&')}\\.$`));
  });

  it('states the range and unit', () => {
    expect(thrownBy({ workers: 0 }).message).toBe('Expected `workers` to be an integer from 1 to 1024, received 0 (number).');
    expect(thrownBy({ drainTimeout: -1 }).message).toBe('Expected `drainTimeout` to be an integer from 0 to 2147483647 (ms), received -1 (number).');
    expect(thrownBy({ maxHeadBytes: 255 }).message).toBe('Expected `maxHeadBytes` to be an integer from 256 to 1048576 (bytes), received 255 (number).');
  });

  it.each([
    ['workers', 1025], ['maxHeadBytes', 1024 * 1024 + 1], ['hashSeed', 2 ** 32], ['headTimeout', 0], ['readyTimeout', 0],
    ['restartWindow', 0], ['maxPendingHeads', 0],
  ])('rejects `%s: %j` (out of range)', (name, value) => {
    expect(thrownBy({ [name]: value }).message).toContain(`\`${name}\``);
  });

  it('validates trustedHops with proxyHeader', () => {
    expect(normalizeListenOptions({ proxyHeader: 'x-forwarded-for', trustedHops: 2 }).trustedHops).toBe(2);
    for (const [value, received] of [[-1, '-1 (number)'], [1.5, '1.5 (number)'], ['1', '"1" (string)'], [65, '65 (number)']] as const) {
      expect(thrownBy({ proxyHeader: 'x-forwarded-for', trustedHops: value }).message)
        .toBe(`Expected \`trustedHops\` to be an integer from 0 to 64, received ${received}.`);
    }
  });
});

describe('normalizeListenOptions: routing modes', () => {
  it('derives the mode from the option that chooses it', () => {
    const key = (): string => 'k';
    expect(normalizeListenOptions({ proxyHeader: 'X-Forwarded-For' })).toMatchObject({ mode: 'proxyHeader', proxyHeader: 'x-forwarded-for' });
    expect(normalizeListenOptions({ proxyProtocol: true, trustedProxies: ['10.0.0.0/8'] }).mode).toBe('proxyProtocol');
    expect(normalizeListenOptions({ proxyProtocol: false }).mode).toBe('ip');
    expect(normalizeListenOptions({ socketIoSessions: true }).mode).toBe('socketIoSessions');
    expect(normalizeListenOptions({ socketIoSessions: false }).mode).toBe('ip');
    expect(normalizeListenOptions({ socketIoSessions: true })).toMatchObject({ mode: 'socketIoSessions', socketIoSessions: true });
    expect(normalizeListenOptions({ proxyProtocol: true, trustedProxies: ['10.0.0.0/8'] }).socketIoSessions).toBe(false);
    // Behind a load balancer: the PROXY header first, then the session id.
    expect(normalizeListenOptions({ proxyProtocol: true, socketIoSessions: true, trustedProxies: ['10.0.0.0/8'] }))
      .toMatchObject({ mode: 'proxyProtocol', socketIoSessions: true });
    expect(thrownBy({ proxyProtocol: true, socketIoSessions: true }).message).toContain('`proxyProtocol` needs `trustedProxies`');
    expect(normalizeListenOptions({ generatePrehashArray: key })).toMatchObject({ mode: 'custom', generatePrehashArray: key });
    expect(normalizeListenOptions({ generatePrehashArrayNoParsing: key })).toMatchObject({ mode: 'customNoParsing', generatePrehashArrayNoParsing: key });
  });

  it.each([
    [{ proxyHeader: 'x-forwarded-for', proxyProtocol: true }, '`proxyHeader` and `proxyProtocol`'],
    [{ proxyHeader: 'x-forwarded-for', socketIoSessions: true }, '`proxyHeader` and `socketIoSessions`'],
    [{ proxyHeader: 'x-forwarded-for', generatePrehashArray: (): string => 'k' }, '`proxyHeader` and `generatePrehashArray`'],
    [{ proxyProtocol: true, generatePrehashArrayNoParsing: (): string => 'k' }, '`proxyProtocol` and `generatePrehashArrayNoParsing`'],
    [{ generatePrehashArray: (): string => 'k', generatePrehashArrayNoParsing: (): string => 'k' }, '`generatePrehashArray` and `generatePrehashArrayNoParsing`'],
  ])('rejects combining two modes: %o', (input, names) => {
    const error = thrownBy(input);
    expect(error.message).toContain(`Options ${names} cannot be combined`);
    expect(error).toMatchObject({ hint: 'Pick one routing mode.' });
  });

  it('requires trustedProxies with proxyProtocol, naming it with an example', () => {
    const error = thrownBy({ proxyProtocol: true });
    expect(error.message).toMatch(/^`proxyProtocol` needs `trustedProxies`: the addresses of the load balancers that send PROXY headers\. Hint: /);
    expect(error).toMatchObject({ hint: expect.stringContaining("trustedProxies: ['10.0.0.0/8', '127.0.0.1', '::1']") as string });
  });

  it('compiles trustedProxies with proxyHeader or proxyProtocol, and refuses it elsewhere and next to trustedHops', () => {
    const resolved = normalizeListenOptions({ proxyHeader: 'x-forwarded-for', trustedProxies: ['10.0.0.0/8', '::1'] });
    expect(resolved.trustedProxies?.entries).toEqual(['10.0.0.0/8', '::1']);
    expect(resolved.trustedProxies?.has('10.2.3.4')).toBe(true);
    expect(normalizeListenOptions({ proxyHeader: 'x-forwarded-for' }).trustedProxies).toBeUndefined();
    expect(thrownBy({ trustedProxies: ['10.0.0.0/8'] }).message)
      .toBe('Expected `trustedProxies` to be used together with `proxyHeader` or `proxyProtocol`, received an array.');
    expect(thrownBy({ socketIoSessions: true, trustedProxies: ['10.0.0.0/8'] }).message).toContain('`trustedProxies`');
    const both = thrownBy({ proxyHeader: 'x-forwarded-for', trustedHops: 1, trustedProxies: ['10.0.0.0/8'] });
    expect(both.message).toMatch(/^Options `trustedHops` and `trustedProxies` cannot be combined\./);
    expect(both).toMatchObject({ hint: expect.stringContaining('Keep `trustedProxies`') as string });
  });

  it.each([
    [[], 'Expected `trustedProxies` to be a non-empty array of addresses and CIDR ranges, received an array.'],
    ['10.0.0.0/8', 'Expected `trustedProxies` to be a non-empty array of addresses and CIDR ranges, received "10.0.0.0/8" (string).'],
    [['10.0.0.0/33'], 'Expected `trustedProxies[0]` to be an IPv4 or IPv6 address or CIDR range such as "10.0.0.0/8" or "fd00::/8", received "10.0.0.0/33" (string).'],
    [['::1', 'localhost'], 'Expected `trustedProxies[1]` to be an IPv4 or IPv6 address or CIDR range such as "10.0.0.0/8" or "fd00::/8", received "localhost" (string).'],
    [['::1', 7], 'Expected `trustedProxies[1]` to be an IPv4 or IPv6 address or CIDR range such as "10.0.0.0/8" or "fd00::/8", received 7 (number).'],
  ])('rejects trustedProxies %j with the entry and why', (trustedProxies, message) => {
    const error = thrownBy({ proxyProtocol: true, trustedProxies });
    expect(error.message.startsWith(message)).toBe(true);
    expect((error as Error & { hint?: string }).hint).toMatch(/^(For example|The prefix length|Host names are not resolved|It is not a string)/);
  });

  it('allows proxyProtocol: false next to another mode', () => {
    expect(normalizeListenOptions({ proxyHeader: 'forwarded', proxyProtocol: false }).mode).toBe('proxyHeader');
  });

  it('rejects trustedHops without proxyHeader', () => {
    expect(thrownBy({ trustedHops: 1 }).message).toBe('Expected `trustedHops` to be used together with `proxyHeader`, received 1 (number).');
    expect(thrownBy({ proxyProtocol: true, trustedHops: 0 }).message).toContain('`trustedHops`');
  });

  it.each(['', 'x forwarded for', 'x-forwarded-for:', 'x(y)', 'x-forwarded-for\r\n', 'é', 1, true, null, ['x-forwarded-for']])(
    'rejects the header name %j', (proxyHeader) => {
      const error = thrownBy({ proxyHeader });
      expect(error.message).toMatch(/^Expected `proxyHeader` to be an HTTP header name such as "x-forwarded-for", received /);
    },
  );

  it('rejects a non-boolean proxyProtocol', () => {
    expect(thrownBy({ proxyProtocol: 'yes' }).message).toBe('Expected `proxyProtocol` to be a boolean, received "yes" (string).');
  });

  it('rejects key functions that are not functions', () => {
    expect(thrownBy({ generatePrehashArray: 'ip' }).message).toBe('Expected `generatePrehashArray` to be a function, received "ip" (string).');
    expect(thrownBy({ generatePrehashArrayNoParsing: [] }).message).toBe('Expected `generatePrehashArrayNoParsing` to be a function, received an array.');
  });

  it('rejects a non-boolean handleSignals', () => {
    expect(thrownBy({ handleSignals: 1 }).message).toBe('Expected `handleSignals` to be a boolean, received 1 (number).');
  });
});

describe('normalizeListenOptions: env', () => {
  it('keeps strings, and undefined entries (they remove the variable from the workers)', () => {
    const { env } = normalizeListenOptions({ env: { A: 'x', B: undefined, C: '' } });
    expect(env).toStrictEqual({ A: 'x', B: undefined, C: '' });
    expect(Object.keys(env)).toEqual(['A', 'B', 'C']);
  });

  it('turns numbers and booleans into strings, as process.env would', () => {
    // A JavaScript caller's non-string values.
    const env = { PORT: 8080, DEBUG: false } as unknown as Record<string, string>;
    expect(normalizeListenOptions({ env }).env).toEqual({ PORT: '8080', DEBUG: 'false' });
  });

  it.each([
    [{ A: {} }, 'Expected `env.A` to be a string, received an object.'],
    [{ A: null }, 'Expected `env.A` to be a string, received null.'],
    [{ A: ['x'] }, 'Expected `env.A` to be a string, received an array.'],
    [{ A: () => 'x' }, 'Expected `env.A` to be a string, received a function.'],
  ])('rejects the entry in %o', (env, message) => {
    expect(thrownBy({ env }).message).toBe(message);
  });

  it.each([[null, 'null'], ['A=1', '"A=1" (string)'], [['A=1'], 'an array']])('rejects env %j', (env, received) => {
    expect(thrownBy({ env }).message).toBe(`Expected \`env\` to be an object of strings, received ${received}.`);
  });
});

describe('normalizeListenOptions: logger', () => {
  it.each([[{}, 'an object'], [null, 'null'], ['info', '"info" (string)'], [true, 'true (boolean)'], [{ info() {}, warn() {}, error() {} }, 'an object']])(
    'rejects %s as a logger', (logger, received) => {
      expect(thrownBy({ logger }).message).toBe(
        `Expected \`logger\` to be a pino logger, an object with its methods (error, warn, info, debug) or false, received ${received}.`,
      );
    },
  );

  it('validates metrics: port required, known keys, host and collect typed', () => {
    expect(normalizeListenOptions({ metrics: { port: 9464 } }).metrics).toEqual({
      port: 9464, host: '127.0.0.1', collect: undefined, maxConnections: 64, token: undefined,
    });
    expect(normalizeListenOptions({ metrics: false }).metrics).toBeUndefined();
    expect(thrownBy({ metrics: {} }).message).toContain('Expected `metrics.port` to be an integer from 0 to 65535, received undefined');
    expect(thrownBy({ metrics: { port: 70_000 } }).message).toBe('Expected `metrics.port` to be an integer from 0 to 65535, received 70000 (number).');
    expect(thrownBy({ metrics: { port: 1, path: '/m' } }).message).toContain('Unknown option `metrics.path`.');
    expect(thrownBy({ metrics: { port: 1, collect: 'x' } }).message).toBe('Expected `metrics.collect` to be a function, received "x" (string).');
    expect(thrownBy({ metrics: 9464 }).message).toBe('Expected `metrics` to be an object such as { port: 9464 }, or false, received 9464 (number).');
  });

  it('validates metrics.maxConnections and metrics.token, without echoing the token', () => {
    const token = 'a'.repeat(32);
    expect(normalizeListenOptions({ metrics: { port: 1, maxConnections: 8, token } }).metrics).toMatchObject({ maxConnections: 8, token });
    expect(thrownBy({ metrics: { port: 1, maxConnections: 0 } }).message)
      .toBe('Expected `metrics.maxConnections` to be an integer from 1 to 65535, received 0 (number).');
    const short = thrownBy({ metrics: { port: 1, token: 'x'.repeat(15) } });
    expect(short.code).toBe('STICKY_ERR_INVALID_OPTION');
    expect(short.message).toBe('Expected `metrics.token` to be 16 to 4096 visible ASCII characters (no spaces), received a string of 15 characters. Hint: Generate one, e.g. `openssl rand -hex 32`.');
    expect(thrownBy({ metrics: { port: 1, token: `${token} x` } }).message).not.toContain(token);
    expect(thrownBy({ metrics: { port: 1, token: 42 } }).message).toContain('received a number.');
  });

  it('validates the recycling options', () => {
    expect(normalizeListenOptions({ maxRequests: 1000, maxRequestsJitter: 50, maxMemory: 2 ** 30 })).toMatchObject({ maxRequests: 1000, maxRequestsJitter: 50, maxMemory: 2 ** 30, memoryCheckInterval: 5000 });
    expect(thrownBy({ maxMemory: -1 }).message).toBe('Expected `maxMemory` to be an integer >= 0 (bytes), received -1 (number).');
    expect(thrownBy({ memoryCheckInterval: 1 }).message).toBe('Expected `memoryCheckInterval` to be an integer from 10 to 2147483647 (ms), received 1 (number).');
  });

  it('validates reportInterval: 0 (off) or at least 100 ms', () => {
    expect(normalizeListenOptions({ reportInterval: 0 }).reportInterval).toBe(0);
    expect(normalizeListenOptions({ reportInterval: 100 }).reportInterval).toBe(100);
    expect(thrownBy({ reportInterval: 50 }).message).toBe('Expected `reportInterval` to be 0 (off) or at least 100 (ms), received 50 (number).');
    expect(thrownBy({ reportInterval: -1 }).message).toBe('Expected `reportInterval` to be an integer from 0 to 2147483647 (ms), received -1 (number).');
  });

  it('takes a metricsRegistry that has getMetricsAsJSON(), and says what to pass otherwise', () => {
    const registry = { getMetricsAsJSON: () => [] };
    expect(normalizeListenOptions({ metricsRegistry: registry }).metricsRegistry).toBe(registry);
    const error = thrownBy({ metricsRegistry: { metrics: () => '' } as never });
    expect(error.code).toBe('STICKY_ERR_INVALID_OPTION');
    expect(error.message).toBe('Expected `metricsRegistry` to be a prom-client registry (an object with `getMetricsAsJSON()`), received an object. '
      + 'Hint: Pass `register` from prom-client, or the `new Registry()` your metrics are registered in.');
  });

  it('rejects a negative shutdownDelay', () => {
    expect(thrownBy({ shutdownDelay: -1 }).message).toBe('Expected `shutdownDelay` to be an integer from 0 to 2147483647 (ms), received -1 (number).');
  });

  it('accepts console, which has the methods but no child()', () => {
    const logger = normalizeListenOptions({ logger: console }).logger;
    expect(typeof logger.child({ component: 'primary' }).info).toBe('function');
  });

  it('takes logLevel for the default logger and rejects an unknown level', () => {
    // The default logger is pino underneath its StickyLogger type.
    expect((normalizeListenOptions({ logLevel: 'debug' }).logger as unknown as PinoLogger).level).toBe('debug');
    expect(thrownBy({ logLevel: 'verbose' }).message).toBe(
      'Expected `logLevel` to be one of "fatal", "error", "warn", "info", "debug", "trace", "silent", received "verbose" (string).',
    );
  });

  it('logger: false and logLevel: silent log nothing', () => {
    for (const input of [{ logger: false as const }, { logLevel: 'silent' as const }]) {
      // pino underneath the StickyLogger type.
      expect((normalizeListenOptions(input).logger as unknown as PinoLogger).isLevelEnabled('fatal')).toBe(false);
    }
  });
});

describe('slot state handover options', () => {
  it('takes handoverTimeout and handoverMaxBytes within their bounds, and names the option it refuses', () => {
    expect(normalizeListenOptions({ handoverTimeout: 250, handoverMaxBytes: 0 })).toMatchObject({ handoverTimeout: 250, handoverMaxBytes: 0 });
    expect(() => normalizeListenOptions({ handoverTimeout: 0 })).toThrow(/handoverTimeout/);
    expect(() => normalizeListenOptions({ handoverMaxBytes: 2 ** 31 })).toThrow(/handoverMaxBytes/);
    expect(() => normalizeListenOptions({ handoverMaxBytes: 1.5 })).toThrow(/handoverMaxBytes/);
  });
});
