import { describe, expect, it } from 'vitest';
import { checkWorkerCount, encodeWorkerEnv, normalizeListenOptions, parsePort, workerLifecycle, type ListenOptions } from '../../src/options/index.js';
import { decodeWorkerEnv } from '../../src/options/worker-env.js';
import { isStickyError } from '../../src/errors.js';

function thrownBy(run: () => unknown): Error & { hint?: string } {
  try {
    run();
  } catch (error) {
    expect(isStickyError(error)).toBe(true);
    expect(error).toMatchObject({ code: 'STICKY_ERR_INVALID_OPTION' });
    return error as Error;
  }
  throw new Error('expected a rejection');
}

/** The message before the hint StickyError appends. */
const statement = (error: Error): string => error.message.split(' Hint: ')[0] ?? '';

const normalize = (input: ListenOptions) => normalizeListenOptions(input);

describe('drainTimeout and shutdownTimeout', () => {
  it('rejects a drain that does not end before the shutdown deadline, naming both', () => {
    for (const input of [{ drainTimeout: 5_000, shutdownTimeout: 5_000 }, { drainTimeout: 40_000 }, { drainTimeout: 0, shutdownTimeout: 0 }]) {
      const error = thrownBy(() => normalize(input));
      expect(statement(error)).toBe(`Expected \`drainTimeout\` to be below \`shutdownTimeout\` (${input.shutdownTimeout ?? 30_000} ms), received ${input.drainTimeout} (number).`);
      expect(error.hint).toContain('`shutdownTimeout`');
    }
  });

  it('keeps a drain below the deadline, and checks the types first', () => {
    expect(normalize({ drainTimeout: 4_999, shutdownTimeout: 5_000 })).toMatchObject({ drainTimeout: 4_999, shutdownTimeout: 5_000 });
    expect(thrownBy(() => normalize({ drainTimeout: -1, shutdownTimeout: 0 })).message).toBe('Expected `drainTimeout` to be an integer from 0 to 2147483647 (ms), received -1 (number).');
  });

  it('gives a short shutdownTimeout without drainTimeout half of it to drain; the default drain otherwise', () => {
    expect(normalize({ shutdownTimeout: 1_000 }).drainTimeout).toBe(500);
    expect(normalize({ shutdownTimeout: 10_000 }).drainTimeout).toBe(5_000);
    expect(normalize({ shutdownTimeout: 0 }).drainTimeout).toBe(0);
    expect(normalize({ shutdownTimeout: 10_001 }).drainTimeout).toBe(10_000);
  });
});

describe('shared checks', () => {
  it('checks a worker count as `workers` does (scale() uses it)', () => {
    expect(checkWorkerCount(1024)).toBe(1024);
    for (const value of [0, 1025, 1.5, '2']) {
      expect(thrownBy(() => checkWorkerCount(value)).message).toBe(thrownBy(() => normalize({ workers: value as number })).message);
    }
    expect(thrownBy(() => checkWorkerCount(0)).message).toBe('Expected `workers` to be an integer from 1 to 1024, received 0 (number).');
  });

  it('parses a port given as a number or as digits', () => {
    expect(parsePort(0)).toBe(0);
    expect(parsePort('8080')).toBe(8080);
    expect(parsePort(65_535)).toBe(65_535);
    expect(thrownBy(() => parsePort('80a')).message).toBe('Expected `port` to be an integer from 0 to 65535, received "80a" (string).');
    expect(thrownBy(() => parsePort(65_536)).message).toBe('Expected `port` to be an integer from 0 to 65535, received 65536 (number).');
    expect(thrownBy(() => parsePort(-1, 'metrics.port')).message).toContain('`metrics.port`');
  });
});

describe('worker environment', () => {
  const options = normalize({
    proxyHeader: 'X-Forwarded-For', trustedHops: 2, readiness: 'manual', shutdownTimeout: 9_000, drainTimeout: 3_000,
    ipcTimeout: 700, logLevel: 'debug', maxRequests: 100, maxRequestsJitter: 10, maxMemory: 2 ** 30, memoryCheckInterval: 250,
    reportInterval: 500, metrics: { port: 0 }, env: { APP_MODE: 'test', SECRET: undefined },
  });

  it('round-trips the options a worker takes from the primary', () => {
    const env = encodeWorkerEnv(options, 3, () => 0.99);
    expect(env.APP_MODE).toBe('test');
    // Kept as undefined: child_process leaves the variable out of the worker's environment.
    expect(Object.hasOwn(env, 'SECRET') && env.SECRET === undefined).toBe(true);
    expect(decodeWorkerEnv(env)).toEqual({
      slot: 3, readiness: 'manual', shutdownTimeout: 9_000, drainTimeout: 3_000, ipcTimeout: 700, logLevel: 'debug',
      proxyHeader: 'x-forwarded-for', trustedHops: 2, trustedProxies: undefined, mode: 'proxyHeader', maxRequests: 110, maxMemory: 2 ** 30, memoryCheckInterval: 250,
      reportInterval: 500, isScraped: true, handoverProtocol: 1,
    });
    // Without the endpoint, workers gather no prom-client metrics; by default they report every second.
    expect(decodeWorkerEnv(encodeWorkerEnv(normalize({}), 0))).toMatchObject({ reportInterval: 1_000, isScraped: false });
    // A process the runtime did not fork reports nothing.
    expect(decodeWorkerEnv({})).toMatchObject({ reportInterval: 0, isScraped: false, handoverProtocol: undefined });
    expect(decodeWorkerEnv(encodeWorkerEnv(options, 0, () => 0)).maxRequests).toBe(100);
    // "Never" written as the largest integer, plus jitter, still reads back.
    const never = normalize({ maxRequests: Number.MAX_SAFE_INTEGER, maxRequestsJitter: 10 });
    expect(decodeWorkerEnv(encodeWorkerEnv(never, 0, () => 0.99)).maxRequests).toBe(Number.MAX_SAFE_INTEGER);
    expect(decodeWorkerEnv(encodeWorkerEnv(normalize({ proxyProtocol: true, trustedProxies: ['127.0.0.1'] }), 0)).proxyHeader).toBe('');
  });

  it('passes trustedProxies to the workers, compiled again from the same list', () => {
    const trusting = normalize({ proxyHeader: 'x-forwarded-for', trustedProxies: ['10.0.0.0/8', ' ::1 ', 'fd00::/8'] });
    const env = encodeWorkerEnv(trusting, 0);
    expect(env.STICKY_RUNTIME_TRUSTED_PROXIES).toBe('10.0.0.0/8,::1,fd00::/8');
    const inherited = decodeWorkerEnv(env).trustedProxies;
    expect(inherited?.entries).toEqual(['10.0.0.0/8', '::1', 'fd00::/8']);
    expect(['10.1.1.1', '::1', 'fd00::7', '127.0.0.1'].map((peer) => inherited?.has(peer))).toEqual([true, true, true, false]);
    expect(encodeWorkerEnv(normalize({ proxyHeader: 'x-forwarded-for' }), 0).STICKY_RUNTIME_TRUSTED_PROXIES).toBe('');
  });

  it('lets the primary govern the lifecycle, and a process it did not fork use its own options', () => {
    expect(workerLifecycle(normalize({}), decodeWorkerEnv(encodeWorkerEnv(options, 0, () => 0)))).toEqual({
      readiness: 'manual', shutdownTimeout: 9_000, drainTimeout: 3_000, maxRequests: 100, maxMemory: 2 ** 30, memoryCheckInterval: 250,
    });
    expect(workerLifecycle(options, decodeWorkerEnv({}))).toEqual({
      readiness: 'manual', shutdownTimeout: 9_000, drainTimeout: 3_000, maxRequests: 0, maxMemory: 0, memoryCheckInterval: 5_000,
    });
  });

  it.each([
    ['STICKY_RUNTIME_DRAIN_TIMEOUT', '1e3', 'an integer >= 0'],
    ['STICKY_RUNTIME_SLOT', '-1', 'an integer >= 0'],
    ['STICKY_RUNTIME_IPC_TIMEOUT', '0', 'an integer >= 1'],
    ['STICKY_RUNTIME_READINESS', 'later', 'one of "listen", "manual"'],
    ['STICKY_RUNTIME_LOG_LEVEL', 'loud', 'one of "fatal", "error", "warn", "info", "debug", "trace", "silent"'],
    ['STICKY_RUNTIME_TRUSTED_PROXIES', '10.0.0.0/8,localhost', 'a comma-separated list of addresses and CIDR ranges'],
  ])('rejects %s=%s, which the primary never writes', (name, value, expected) => {
    const error = thrownBy(() => decodeWorkerEnv({ [name]: value }));
    expect(statement(error)).toBe(`Expected \`${name}\` to be ${expected}, received ${JSON.stringify(value)} (string).`);
  });
});
