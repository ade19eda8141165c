import { describe, expect, it } from 'vitest';
import { spawnCluster, waitForExit } from '../helpers/cluster.js';
import { request, sourceAddress } from '../helpers/client.js';

const DELAY = 1_500;

describe('shutdownDelay', () => {
  it('keeps accepting and serving new clients for its duration after SIGTERM, readiness failing, then shuts down', async () => {
    const cluster = await spawnCluster('app.mjs', { env: { WORKERS: '2', OPTIONS: JSON.stringify({ shutdownDelay: DELAY }) } });
    const started = cluster.next('shutdownStart', { timeout: 5_000 });
    const signalledAt = performance.now();
    cluster.child.kill('SIGTERM');
    await started;
    // New connections from new clients, after the signal: still answered by the workers (once the
    // delay is over the port is closed and these would be refused).
    const answered: number[] = [];
    for (let i = 0; i < 6; i++) {
      const { status } = await request({ port: cluster.port, localAddress: sourceAddress(100 + i) });
      answered.push(status);
    }
    const { stats } = await cluster.ask('stats');
    expect(answered).toEqual([200, 200, 200, 200, 200, 200]);
    // Readiness already fails while everything still serves: the primary is draining.
    expect(stats).toMatchObject({ state: 'draining', readyWorkers: 2 });
    expect(await waitForExit(cluster.child)).toEqual({ code: 0, signal: null });
    // The port closed only after the delay: the primary cannot exit before its timer fired.
    expect(performance.now() - signalledAt).toBeGreaterThanOrEqual(DELAY);
  });

  it('a second signal skips what is left of the delay', async () => {
    const cluster = await spawnCluster('app.mjs', { env: { WORKERS: '1', OPTIONS: JSON.stringify({ shutdownDelay: 60_000 }) } });
    const started = cluster.next('shutdownStart', { timeout: 5_000 });
    cluster.child.kill('SIGTERM');
    await started;
    expect((await request({ port: cluster.port })).status).toBe(200);
    cluster.child.kill('SIGTERM');
    expect(await waitForExit(cluster.child, 10_000)).toEqual({ code: 0, signal: null });
  });
});
