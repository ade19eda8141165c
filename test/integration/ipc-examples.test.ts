import { expect, it } from 'vitest';
import { spawnCluster, until } from '../helpers/cluster.js';
import { getJson, sourceAddress } from '../helpers/client.js';
import http from 'node:http';
import { onLinux } from '../helpers/platform.js';

// The bus examples in examples/, run as they are: metrics aggregation, task hand-out with progress,
// a cache purge broadcast and a session lookup routed by key.

const example = (name: string): string => `../../examples/${name}`;


it.skipIf(!onLinux)('metrics: the primary adds up the requests every worker reports', async () => {
  const cluster = await spawnCluster(example('bus-metrics.mjs'), { env: { PORT: '0', WORKERS: '3', REPORT_EVERY_MS: '50' } });
  const served = new Set<number>();
  for (let i = 0; i < 30; i++) {
    const text = await new Promise<string>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: cluster.port, path: '/hello', localAddress: sourceAddress(80 + i), agent: false }, (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => { body += chunk.toString(); });
        res.on('end', () => resolve(body));
      }).on('error', reject);
    });
    served.add(Number(/worker (\d+)/.exec(text)?.[1]));
  }
  expect(served.size).toBeGreaterThan(1);
  let totals = { total: 0, bySlot: {} as Record<string, number> };
  await until(async () => {
    totals = await getJson(cluster.port, '/stats');
    return totals.total >= 30;
  }, { timeout: 10_000, interval: 50 });
  expect(totals.total).toBe(30);
  expect(Object.keys(totals.bySlot).length).toBe(served.size);
});

it('tasks: the primary hands out every task, sees its progress in order and collects the right results', async () => {
  const cluster = await spawnCluster(example('bus-tasks.mjs'), { env: { PORT: '0', WORKERS: '3', TASKS: '6' } });
  const done = await cluster.first('tasksDone', { timeout: 15_000 });
  const tasks = done.tasks;
  const isPrime = (n: number): boolean => {
    for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
    return n >= 2;
  };
  const primesBelow = (limit: number): number => Array.from({ length: limit }, (_, n) => n).filter(isPrime).length;
  expect(tasks.map((task) => task.id)).toEqual([0, 1, 2, 3, 4, 5]);
  for (const task of tasks) {
    expect(task.primes).toBe(primesBelow(20_000 + task.id * 5_000));
    expect(task.progress).toEqual([25, 50, 75, 100]);
    expect(task.slot).toBeGreaterThanOrEqual(0);
  }
});

it.skipIf(!onLinux)('cache purge: a purge from one worker empties the key in every worker', async () => {
  const cluster = await spawnCluster(example('bus-cache-purge.mjs'), { env: { PORT: '0', WORKERS: '3' } });
  const { port } = cluster;
  // Clients on as many workers as there are: one source address per worker.
  const byWorker = new Map<number, string>();
  for (let i = 0; byWorker.size < 3 && i < 60; i++) {
    const address = sourceAddress(120 + i);
    const item = await getJson<{ workerId: number }>(port, '/item/a', { localAddress: address });
    if (!byWorker.has(item.workerId)) byWorker.set(item.workerId, address);
  }
  expect(byWorker.size).toBe(3);
  for (const address of byWorker.values()) expect((await getJson<{ cached: boolean }>(port, '/item/a', { localAddress: address })).cached).toBe(true);
  const [first] = byWorker.values();
  expect(await getJson(port, '/purge/a', { localAddress: first as string, method: 'POST' })).toEqual({ purged: 'a', workers: 3 });
  for (const address of byWorker.values()) {
    // The purge is on its way to each worker; the first read after it arrived finds the key gone.
    await until(async () => !(await getJson<{ cached: boolean }>(port, '/item/a', { localAddress: address })).cached, { timeout: 5_000 });
  }
});

it.skipIf(!onLinux)('session lookup: a worker reads another client\'s session from the worker that serves it', async () => {
  const cluster = await spawnCluster(example('bus-session-lookup.mjs'), { env: { PORT: '0', WORKERS: '3' } });
  const { port } = cluster;
  const owner = sourceAddress(150);
  let visit = { workerId: 0, visits: 0 };
  for (let i = 0; i < 3; i++) visit = await getJson(port, '/', { localAddress: owner });
  expect(visit.visits).toBe(3);
  // Ask from clients on other workers.
  let asked = 0;
  for (let i = 0; i < 20 && asked < 2; i++) {
    const asker = sourceAddress(160 + i);
    const lookup = await getJson<{ session: { visits: number; heldBy: number }; askedBy: number }>(port, `/session?of=${owner}`, { localAddress: asker });
    expect(lookup.session).toEqual({ visits: 3, heldBy: visit.workerId });
    if (lookup.askedBy !== visit.workerId) asked++;
  }
  expect(asked).toBe(2);
  const nobody = await getJson<{ session: unknown }>(port, `/session?of=${sourceAddress(199)}`, { localAddress: owner });
  expect(nobody.session).toBeNull();
  expect(await getJson(port, '/session?of=not-an-address', { localAddress: owner })).toMatchObject({ error: 'STICKY_ERR_IPC_NO_WORKER' });
});
