import { describe, expect, it } from 'vitest';
import { spawnCluster, stopProcess } from '../helpers/cluster.js';

interface LogLine { level: number; msg: string; component?: string; workerId?: number; pid?: number }

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
