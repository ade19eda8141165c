import { describe, expect, it } from 'vitest';
import { spawnCluster, stopProcess, until } from '../helpers/cluster.js';
import { repeatedKeys } from '../helpers/json-keys.js';

interface LogLine { level: number; msg: string; component?: string; workerId?: number; pid?: number; workerPid?: number }

/** The NDJSON log lines in a run's output (other output is skipped). */
function logLines(output: string): LogLine[] {
  return output.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as LogLine);
}

describe('logging', () => {
  it('logs milestones as pino JSON on stderr by default, at info, from the primary and the workers', async () => {
    const cluster = await spawnCluster('app.mjs', { env: { WORKERS: '2' } });
    await stopProcess(cluster.child);
    const lines = logLines(cluster.output());
    const messages = lines.map((line) => line.msg);
    expect(messages.filter((msg) => msg === 'worker ready')).toHaveLength(2);
    expect(messages).toContain('primary listening');
    expect(messages).toContain('shutdown end');
    // Workers log their drain with their own workerId bound.
    expect(lines.filter((line) => line.msg === 'drain begin' && line.component === 'worker').map((line) => line.workerId).sort()).toEqual([1, 2]);
    expect(lines.every((line) => line.level >= 30)).toBe(true);
  });

  it('logLevel: debug adds debug lines; warn leaves out the info milestones', async () => {
    const debug = await spawnCluster('app.mjs', { env: { WORKERS: '1', OPTIONS: JSON.stringify({ logLevel: 'debug', respawnDelay: 0 }) } });
    await stopProcess(debug.child);
    expect(logLines(debug.output()).filter((line) => line.level === 20).map((line) => line.msg)).toContain('worker forked');
    const warn = await spawnCluster('app.mjs', { env: { WORKERS: '1', OPTIONS: JSON.stringify({ logLevel: 'warn' }) } });
    await stopProcess(warn.child);
    expect(logLines(warn.output()).filter((line) => line.level < 40)).toEqual([]);
  });

  it('logger: false logs nothing', async () => {
    const cluster = await spawnCluster('app.mjs', { env: { WORKERS: '2', OPTIONS: JSON.stringify({ logger: false }) } });
    await stopProcess(cluster.child);
    expect(cluster.output()).toBe('');
  });

  it('takes console as a logger: fields with the bindings, then the message', async () => {
    const cluster = await spawnCluster('app.mjs', { env: { WORKERS: '1', LOG_TO_CONSOLE: '1' } });
    await stopProcess(cluster.child);
    expect(cluster.output()).toMatch(/\{ component: 'primary', port: \d+ \} primary listening/);
    expect(cluster.output()).toMatch(/component: 'lifecycle'[^\n]*\} worker ready/);
  });
});

describe('component loggers', () => {
  it('writes the component of every line once, whichever part of the primary or a worker logs it', async () => {
    // The plane is chosen here (also when the suite runs with TEST_STEERING): its log line is asserted below.
    const cluster = await spawnCluster('app.mjs', { env: { WORKERS: '2', OPTIONS: JSON.stringify({ logLevel: 'debug', steering: 'auto' }) } });
    // SIGHUP: a rolling restart, so the reload's own lines are in the output too.
    cluster.child.kill('SIGHUP');
    await until(() => cluster.output().includes('"msg":"reload end"'), { timeout: 15_000 });
    await stopProcess(cluster.child);
    // The raw lines: JSON.parse would keep only the last of two "component" keys.
    const raw = cluster.output().split('\n').filter((line) => line.startsWith('{'));
    expect(raw.filter((line) => line.match(/"component":/g)?.length !== 1)).toEqual([]);
    // No key twice in any line (pino's `pid` is the writing process; a worker's is `workerPid`).
    expect(raw.map(repeatedKeys).filter((keys) => keys.length > 0)).toEqual([]);
    const parsed = raw.map((line) => JSON.parse(line) as LogLine);
    const forked = parsed.filter((line) => line.msg === 'worker forked');
    expect(forked.length).toBeGreaterThanOrEqual(4);
    for (const line of [...forked, ...parsed.filter((l) => l.msg === 'worker ready')]) {
      expect(line.pid).toBe(cluster.child.pid);
      expect(line.workerPid).toEqual(expect.any(Number));
      expect(line.workerPid).not.toBe(cluster.child.pid);
    }
    // A worker's own lines carry its pid as pino's `pid`.
    const workerPids = new Set(forked.map((line) => line.workerPid));
    expect(parsed.filter((line) => line.component === 'worker').every((line) => workerPids.has(line.pid))).toBe(true);
    // The balancer says which data plane carries the connections once it listens.
    expect(parsed.filter((line) => line.msg.startsWith('kernel steering')).map((line) => line.component)).toEqual(['sticky']);
    const componentOf = new Map(parsed.map((line) => [line.msg, line.component]));
    expect(Object.fromEntries(['primary listening', 'worker forked', 'worker ready', 'reload begin', 'reload end', 'shutdown begin',
      'shutdown end', 'drain begin'].map((msg) => [msg, componentOf.get(msg)]))).toEqual({
      'primary listening': 'primary', 'worker forked': 'lifecycle', 'worker ready': 'lifecycle', 'reload begin': 'lifecycle',
      'reload end': 'lifecycle', 'shutdown begin': 'lifecycle', 'shutdown end': 'lifecycle', 'drain begin': 'worker',
    });
  });
});
