import http from 'node:http';
import { describe, expect, it } from 'vitest';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { spawnCluster, until, waitForExit, type SpawnedCluster } from '../helpers/cluster.js';
import { request, sourceAddress } from '../helpers/client.js';

interface Sample { labels?: Record<string, string>; value?: string }
interface Family { name: string; type: string; help: string; metrics: Sample[] }

function get(port: number, path: string, method = 'GET'): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, agent: false, timeout: 5_000 }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => { body += chunk.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

/** Scrapes /metrics and parses it with a real Prometheus text parser. */
async function scrape(cluster: SpawnedCluster): Promise<Map<string, Family>> {
  const response = await get(cluster.ready.metricsPort as number, '/metrics');
  expect(response.status).toBe(200);
  expect(response.type).toBe('text/plain; version=0.0.4; charset=utf-8');
  const families = parsePrometheusTextFormat(response.body) as Family[];
  return new Map(families.map((family) => [family.name, family]));
}

function values(families: Map<string, Family>, name: string): { labels: Record<string, string>; value: number }[] {
  const family = families.get(name);
  if (family === undefined) throw new Error(`no metric ${name}`);
  return family.metrics.map((sample) => ({ labels: sample.labels ?? {}, value: Number(sample.value) }));
}

const single = (families: Map<string, Family>, name: string): number => values(families, name)[0]?.value ?? Number.NaN;

describe('metrics endpoint', () => {
  it('serves per-slot and primary metrics as Prometheus text that a parser reads', async () => {
    // Handoff and accept counters are the primary hop's (with kernel steering the primary sees no connection).
    const cluster = await spawnCluster('app.mjs', { env: { WORKERS: '2', OPTIONS: JSON.stringify({ metrics: { port: 0 }, steering: 'primary' }) } });
    const sources = [sourceAddress(1), sourceAddress(2), sourceAddress(3), sourceAddress(4)];
    const slots: number[] = [];
    for (const localAddress of sources) slots.push((await request({ port: cluster.port, localAddress })).reply.slot);
    const families = await scrape(cluster);

    expect(families.get('sticky_runtime_slot_handoffs_total')?.type).toBe('COUNTER');
    const handoffs = values(families, 'sticky_runtime_slot_handoffs_total');
    for (const slot of [0, 1]) {
      expect(handoffs.find((sample) => sample.labels.slot === String(slot))?.value).toBe(slots.filter((s) => s === slot).length);
    }
    const ready = values(families, 'sticky_runtime_slot_state').filter((sample) => sample.labels.state === 'ready');
    expect(ready).toEqual([{ labels: { slot: '0', state: 'ready' }, value: 1 }, { labels: { slot: '1', state: 'ready' }, value: 1 }]);
    // One sample per slot and state of the one vocabulary, 1 for the slot's state only.
    const states = values(families, 'sticky_runtime_slot_state');
    expect(states.map((sample) => sample.labels.state).slice(0, 6)).toEqual(['ready', 'starting', 'respawning', 'failed', 'withdrawn', 'vacant']);
    expect(states.map((sample) => sample.value)).toEqual([1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0]);
    expect(values(families, 'sticky_runtime_slot_restarts_total').map((sample) => sample.value)).toEqual([0, 0]);
    expect(values(families, 'sticky_runtime_slot_queued_connections').map((sample) => sample.value)).toEqual([0, 0]);
    expect(single(families, 'sticky_runtime_connections_accepted_total')).toBe(4);
    expect(single(families, 'sticky_runtime_connections_accept_errors_total')).toBe(0);
    expect(single(families, 'sticky_runtime_ready_workers')).toBe(2);
    expect(single(families, 'process_open_fds')).toBeGreaterThan(0);
    expect(families.has('nodejs_eventloop_lag_p99_seconds')).toBe(true);
    // Every counter is named *_total, as Prometheus conventions ask.
    for (const family of families.values()) if (family.type === 'COUNTER') expect(family.name).toMatch(/_total$/);

    expect(await get(cluster.ready.metricsPort as number, '/healthz')).toMatchObject({ status: 200, body: 'ok\n' });
    expect((await get(cluster.ready.metricsPort as number, '/readyz')).status).toBe(200);
    expect((await get(cluster.ready.metricsPort as number, '/nope')).status).toBe(404);
    expect((await get(cluster.ready.metricsPort as number, '/metrics', 'POST')).status).toBe(405);
  });

  it('reports how long each slot\'s last reload step took', async () => {
    const cluster = await spawnCluster('app.mjs', { env: { WORKERS: '2', OPTIONS: JSON.stringify({ metrics: { port: 0 } }) } });
    cluster.child.kill('SIGHUP');
    await until(async () => (await scrape(cluster)).has('sticky_runtime_slot_last_reload_duration_seconds'), { timeout: 15_000 });
    await until(async () => values(await scrape(cluster), 'sticky_runtime_slot_last_reload_duration_seconds').length === 2, { timeout: 15_000 });
    const families = await scrape(cluster);
    for (const sample of values(families, 'sticky_runtime_slot_last_reload_duration_seconds')) expect(sample.value).toBeGreaterThan(0);
    expect(values(families, 'sticky_runtime_slot_restarts_total').map((sample) => sample.value)).toEqual([1, 1]);
  });

  it('/readyz answers 503 naming the slot while a slot has no ready worker', async () => {
    // maxRestarts 0: the first crash marks the slot failed, and it stays so for failedSlotRetry.
    const options = { metrics: { port: 0 }, maxRestarts: 0, failedSlotRetry: 600_000 };
    const cluster = await spawnCluster('app.mjs', { env: { WORKERS: '2', OPTIONS: JSON.stringify(options) } });
    const metricsPort = cluster.ready.metricsPort as number;
    const victim = (cluster.ready.workers as { slot: number; pid: number }[])[1];
    if (victim === undefined) throw new Error('no worker in slot 1');
    const failed = cluster.next('slotFailed', { timeout: 10_000 });
    process.kill(victim.pid, 'SIGKILL');
    await failed;
    const readyz = await get(metricsPort, '/readyz');
    expect(readyz.status).toBe(503);
    expect(JSON.parse(readyz.body)).toEqual({ ready: false, state: 'running', notReadySlots: [1], accepting: true });
    expect((await get(metricsPort, '/healthz')).status).toBe(200);
    const states = values(await scrape(cluster), 'sticky_runtime_slot_state').filter((sample) => sample.value === 1);
    expect(states.map((sample) => sample.labels)).toEqual([{ slot: '0', state: 'ready' }, { slot: '1', state: 'failed' }]);
  });

  it('/readyz answers 503 during shutdownDelay while the cluster still serves', async () => {
    const options = { metrics: { port: 0 }, shutdownDelay: 2_000 };
    const cluster = await spawnCluster('app.mjs', { env: { WORKERS: '1', OPTIONS: JSON.stringify(options) } });
    const metricsPort = cluster.ready.metricsPort as number;
    const started = cluster.next('shutdownStart', { timeout: 5_000 });
    cluster.child.kill('SIGTERM');
    await started;
    expect((await get(metricsPort, '/readyz')).status).toBe(503);
    expect((await get(metricsPort, '/healthz')).status).toBe(200);
    expect((await request({ port: cluster.port, localAddress: sourceAddress(9) })).status).toBe(200);
    expect(await waitForExit(cluster.child)).toEqual({ code: 0, signal: null });
  });
});
