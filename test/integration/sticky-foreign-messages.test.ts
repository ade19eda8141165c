import { expect, it } from 'vitest';
import { spawnCluster, statsOf, until, type FixtureMessage, type MessageOf } from '../helpers/cluster.js';
import { request } from '../helpers/client.js';

// Messages from a worker that are not the runtime's (application messages, junk, look-alikes with
// another protocol version or a bad payload) are ignored: no shutdown, no early readiness, no crash.


it('ignores foreign and malformed messages from workers and keeps serving', async () => {
  const cluster = await spawnCluster('noisy-worker.mjs', { env: { WORKERS: '2' } });
  const { child, port, messages } = cluster;
  const primaryPid = child.pid;
  const workers = cluster.ready.workers;
  expect(workers).toHaveLength(2);

  // Each worker sent its noise before it attached its server; none of it counted as readiness.
  for (const worker of workers) {
    const noiseDone = messages.findIndex((m) => m.type === 'report' && m.event === 'noiseDone' && m.workerId === worker.workerId);
    const ready = messages.findIndex((m) => m.type === 'workerReady' && m.workerId === worker.workerId);
    expect(noiseDone).toBeGreaterThanOrEqual(0);
    expect(ready).toBeGreaterThan(noiseDone);
  }

  // Noise while serving: every /noise request makes its worker send the whole set again.
  const seen = new Set<number>();
  for (let i = 0; i < 20; i++) {
    const response = await request({ port, path: '/noise', headers: { 'x-forwarded-for': `198.51.100.${i + 1}` } });
    expect(response.status).toBe(200);
    seen.add(response.reply.workerId);
  }
  expect([...seen].sort()).toEqual(workers.map((worker) => worker.workerId).sort());

  // A worker's channel delivers in order: once the primary relayed every noiseDone report, it has
  // handled all the noise sent before each.
  const noiseDone = (): MessageOf<'report'>[] => cluster.all('report', (m) => m.event === 'noiseDone');
  await until(() => noiseDone().length === workers.length + 20, { timeout: 5_000 });
  const stats = await statsOf(cluster);
  expect(stats.state).toBe('running');
  expect(stats.readyWorkers).toBe(2);
  expect(stats.restarts).toBe(0);
  expect(stats.slots.map(({ slot, workerId, pid, isReady }) => ({ slot, workerId, pid, isReady })))
    .toEqual(workers.map(({ slot, workerId, pid }) => ({ slot, workerId, pid, isReady: true })));

  const after = await request({ port, headers: { 'x-forwarded-for': '198.51.100.1' } });
  expect(after.status).toBe(200);
  expect(child.pid).toBe(primaryPid);
  expect(child.exitCode).toBeNull();
  expect(child.signalCode).toBeNull();
  const unwanted = (m: FixtureMessage): boolean => ['shutdownStart', 'masterclose', 'workerExit'].includes(m.type);
  expect(messages.filter(unwanted)).toEqual([]);
});
