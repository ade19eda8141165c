import http from 'node:http';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { spawnCluster, waitFor, type SpawnedCluster } from '../helpers/cluster.js';
import { cliFixture, logLines, runToEnd, serveCli, workDir } from '../helpers/cli.js';
import { sourceAddress } from '../helpers/client.js';
import { isKernelAvailable } from '../helpers/platform.js';

// Every worker visible: workers report their own figures to the primary, which shows them per slot in
// stats() and /metrics on both data planes; with prom-client installed, each worker's default metrics
// and its application registry join /metrics with a `slot` label. Real primaries, workers and sockets;
// /metrics is read by a real Prometheus text parser.

interface Sample { labels?: Record<string, string>; value?: string }
interface Family { name: string; type: string; help: string; metrics: Sample[] }
interface SlotStats {
  slot: number; requests?: number; accepted?: number; connections?: number; handoffs: number;
  lag?: number; lagMax?: number; cpu?: number; rss?: number;
}
interface Stats { slots: SlotStats[]; connections: { accepted: number; routed: number }; ipc: { invalidMessages: number } }
interface Reply { slot: number; pid: number; promClient: boolean }

function get(port: number, path: string, localAddress?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, localAddress, agent: false, timeout: 10_000 }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => { body += chunk.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

async function send(cluster: SpawnedCluster, path: string, source: number): Promise<Reply> {
  const response = await get(cluster.port, path, sourceAddress(source));
  expect(response.status).toBe(200);
  return JSON.parse(response.body) as Reply;
}

async function scrape(cluster: SpawnedCluster): Promise<Map<string, Family>> {
  const response = await get(cluster.ready.metricsPort as number, '/metrics');
  expect(response.status).toBe(200);
  return new Map((parsePrometheusTextFormat(response.body) as Family[]).map((family) => [family.name, family]));
}

/** The sample of `name` whose labels are exactly `labels`; NaN when there is none. */
function valueOf(families: Map<string, Family>, name: string, labels: Record<string, string>): number {
  const sample = families.get(name)?.metrics.find((entry) => JSON.stringify(entry.labels ?? {}) === JSON.stringify(labels));
  return sample === undefined ? Number.NaN : Number(sample.value);
}

const stats = async (cluster: SpawnedCluster): Promise<Stats> => (await cluster.ask('stats')).stats as Stats;

const countBySlot = (replies: readonly Reply[], slots: number): number[] =>
  Array.from({ length: slots }, (_, slot) => replies.filter((reply) => reply.slot === slot).length);

const planes = [...(isKernelAvailable ? ['kernel' as const] : []), 'primary' as const];

describe.each(planes)('figures of every worker on the %s plane', (plane) => {
  it('a busy worker shows lag and CPU; requests and connections per slot are exact; the app\'s registry has its slot', async () => {
    const cluster = await spawnCluster('figures-app.mjs', { env: { WORKERS: '2', OPTIONS: JSON.stringify({ steering: plane }) } });
    expect(cluster.ready.steering).toMatchObject({ plane });
    const replies: Reply[] = [];
    for (let source = 1; source <= 12; source++) replies.push(await send(cluster, '/', source));
    expect(replies.every((reply) => reply.promClient)).toBe(true);

    // The loop is blocked for 200 ms of CPU time: the report after it (due meanwhile) shows it; it is
    // the current one for one interval (1 s), so a request is sent again until a scrape caught it.
    const busy: Reply[] = [];
    let families = new Map<string, Family>();
    const busySlot = (await send(cluster, '/', 20)).slot;
    replies.push({ slot: busySlot, pid: 0, promClient: true });
    const caught = (): boolean => {
      const labels = { slot: String(busySlot) };
      return valueOf(families, 'sticky_runtime_slot_event_loop_lag_max_seconds', labels) >= 0.15 &&
        valueOf(families, 'sticky_runtime_slot_cpu_usage_ratio', labels) >= 0.1;
    };
    for (let attempt = 0; attempt < 5 && !caught(); attempt++) {
      busy.push(await send(cluster, '/busy', 20));
      const until = Date.now() + 1_500;
      while (Date.now() < until && !caught()) families = await scrape(cluster);
    }
    expect(caught()).toBe(true);
    expect(busy.every((reply) => reply.slot === busySlot)).toBe(true);
    replies.push(...busy);

    // Every request reported: each slot's figures are exactly what the test sent it.
    const sent = countBySlot(replies, 2);
    await waitFor(async () => (await stats(cluster)).slots.reduce((sum, slot) => sum + (slot.requests ?? 0), 0) === replies.length);
    const current = await stats(cluster);
    expect(current.slots.map((slot) => slot.requests)).toEqual(sent);
    // One connection per request (no keep-alive): accepted and handed off per slot alike, on both planes.
    expect(current.slots.map((slot) => slot.accepted)).toEqual(sent);
    expect(current.slots.map((slot) => slot.handoffs)).toEqual(sent);
    expect(current.connections.accepted).toBe(replies.length);
    expect(current.connections.routed).toBe(replies.length);
    for (const slot of current.slots) {
      expect(slot.connections).toBe(0);
      expect(slot.rss).toBeGreaterThan(10 * 1024 * 1024);
      expect(slot.cpu).toBeGreaterThanOrEqual(0);
      expect(slot.lag).toBeGreaterThanOrEqual(0);
    }

    families = await scrape(cluster);
    for (const slot of [0, 1]) {
      const labels = { slot: String(slot) };
      expect(valueOf(families, 'sticky_runtime_slot_requests_total', labels)).toBe(sent[slot]);
      expect(valueOf(families, 'sticky_runtime_slot_accepted_connections_total', labels)).toBe(sent[slot]);
      expect(valueOf(families, 'sticky_runtime_slot_handoffs_total', labels)).toBe(sent[slot]);
      // prom-client's default metrics of each worker, per slot (not summed).
      expect(valueOf(families, 'process_cpu_seconds_total', labels)).toBeGreaterThan(0);
      expect(valueOf(families, 'nodejs_heap_size_used_bytes', labels)).toBeGreaterThan(0);
      expect(valueOf(families, 'sticky_runtime_slot_metrics_missed_total', labels)).toBe(0);
    }
    // The application's own counter, labelled with the slot that served; its own `slot` label kept apart.
    const busyLabels = { slot: String(busySlot), route: '/busy', exported_slot: 'app' };
    expect(valueOf(families, 'app_hits_total', busyLabels)).toBe(busy.length);
    expect(families.get('app_hits_total')?.help).toBe('Requests "seen"\nby the app.');
    const otherSlot = 1 - busySlot;
    expect(valueOf(families, 'app_hits_total', { slot: String(otherSlot), route: '/busy', exported_slot: 'app' })).toBeNaN();
    expect(valueOf(families, 'sticky_runtime_connections_accepted_total', {})).toBe(replies.length);
    // The primary's own process metrics and the workers' share one family each.
    expect(valueOf(families, 'process_open_fds', {})).toBeGreaterThan(0);
    expect(valueOf(families, 'process_open_fds', { slot: '0' })).toBeGreaterThan(0);
  });
});

describe('figures and metrics at the edges', () => {
  it('a worker that does not answer a scrape in time is left out of it and counted; the others are in', async () => {
    const cluster = await spawnCluster('figures-app.mjs', { env: { WORKERS: '2' } });
    const slow = await send(cluster, '/slow-metrics', 1);
    const started = Date.now();
    const families = await scrape(cluster);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_900);
    const other = 1 - slow.slot;
    expect(valueOf(families, 'sticky_runtime_slot_metrics_missed_total', { slot: String(slow.slot) })).toBe(1);
    expect(valueOf(families, 'sticky_runtime_slot_metrics_missed_total', { slot: String(other) })).toBe(0);
    expect(valueOf(families, 'process_cpu_seconds_total', { slot: String(slow.slot) })).toBeNaN();
    expect(valueOf(families, 'process_cpu_seconds_total', { slot: String(other) })).toBeGreaterThan(0);
    // The runtime's own figures of the slow slot still show.
    await waitFor(async () => (await stats(cluster)).slots[slow.slot]?.requests === 1);
  });

  it('a report out of bounds and an invalid metrics answer are dropped and counted; the figures stay', async () => {
    const cluster = await spawnCluster('figures-app.mjs', { env: { WORKERS: '1' } });
    await send(cluster, '/forge', 1);
    await waitFor(async () => (await stats(cluster)).ipc.invalidMessages === 2);
    await waitFor(async () => (await stats(cluster)).slots[0]?.requests === 1);
    await send(cluster, '/', 2);
    await waitFor(async () => (await stats(cluster)).slots[0]?.requests === 2);
    const current = await stats(cluster);
    expect(current.slots[0]?.accepted).toBe(2);
    expect(current.ipc.invalidMessages).toBe(2);
  });

  it('`reportInterval: 0`: no reports, no figures in stats() or /metrics; prom-client metrics still show', async () => {
    const cluster = await spawnCluster('figures-app.mjs', { env: { WORKERS: '1', OPTIONS: JSON.stringify({ reportInterval: 0 }) } });
    await send(cluster, '/', 1);
    // A scrape is answered by the worker after it handled the request: its prom-client counter shows it.
    const families = await scrape(cluster);
    expect(valueOf(families, 'app_hits_total', { slot: '0', route: '/', exported_slot: 'app' })).toBe(1);
    expect(families.has('sticky_runtime_slot_requests_total')).toBe(false);
    const slot = (await stats(cluster)).slots[0] as SlotStats;
    expect(['requests', 'accepted', 'cpu', 'rss', 'lag', 'lagMax', 'connections'].filter((key) => key in slot)).toEqual([]);
  });

  it('without prom-client in reach, the runtime\'s own figures of each worker still show', async () => {
    const root = fileURLToPath(new URL('../..', import.meta.url));
    const dir = mkdtempSync(join(tmpdir(), 'sticky-no-prom-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    for (const part of ['package.json', 'dist', 'prebuilds']) cpSync(join(root, part), join(dir, part), { recursive: true });
    mkdirSync(join(dir, 'test/fixtures'), { recursive: true });
    cpSync(join(root, 'test/fixtures/figures-app.mjs'), join(dir, 'test/fixtures/figures-app.mjs'));
    // Every installed package but prom-client.
    mkdirSync(join(dir, 'node_modules'));
    for (const name of readdirSync(join(root, 'node_modules'))) {
      if (name !== 'prom-client') symlinkSync(join(root, 'node_modules', name), join(dir, 'node_modules', name));
    }

    const cluster = await spawnCluster('figures-app.mjs', { packageRoot: dir, env: { WORKERS: '2' } });
    const replies: Reply[] = [];
    for (let source = 1; source <= 6; source++) replies.push(await send(cluster, '/', source));
    expect(replies.every((reply) => !reply.promClient)).toBe(true);
    await waitFor(async () => (await stats(cluster)).slots.reduce((sum, slot) => sum + (slot.requests ?? 0), 0) === 6);
    const sent = countBySlot(replies, 2);
    const families = await scrape(cluster);
    for (const slot of [0, 1]) {
      const labels = { slot: String(slot) };
      expect(valueOf(families, 'sticky_runtime_slot_requests_total', labels)).toBe(sent[slot]);
      expect(valueOf(families, 'sticky_runtime_slot_resident_memory_bytes', labels)).toBeGreaterThan(0);
      expect(valueOf(families, 'sticky_runtime_slot_cpu_usage_ratio', labels)).toBeGreaterThanOrEqual(0);
      expect(valueOf(families, 'sticky_runtime_slot_metrics_missed_total', labels)).toBe(0);
    }
    expect(families.has('process_cpu_seconds_total')).toBe(false);
    expect(families.has('app_hits_total')).toBe(false);
  });
});

describe('sticky-runtime serve with an app that exports its registry', () => {
  it('shows the app\'s counter per slot in /metrics, and each slot\'s figures in status', async () => {
    const cwd = workDir();
    const served = await serveCli(cliFixture('metrics-app.mjs'), ['--workers', '2', '--metrics-port', '0'], cwd);
    let metricsPort: number | undefined;
    await waitFor(() => (metricsPort = logLines(served.stderr()).find((line) => line.msg === 'metrics endpoint listening')?.port) !== undefined);
    const slots: number[] = [];
    for (let source = 1; source <= 6; source++) {
      const response = await get(served.port, '/', sourceAddress(source));
      slots.push((JSON.parse(response.body) as { slot: number }).slot);
    }
    const text = (await get(metricsPort as number, '/metrics')).body;
    const families = new Map((parsePrometheusTextFormat(text) as Family[]).map((family) => [family.name, family]));
    for (const slot of [0, 1]) {
      const count = slots.filter((s) => s === slot).length;
      expect(valueOf(families, 'app_served_total', { slot: String(slot) })).toBe(count);
    }
    await waitFor(async () => {
      const status = JSON.parse((await runToEnd(['status', '--json'], cwd)).stdout) as { stats: Stats };
      return status.stats.slots.reduce((sum, slot) => sum + (slot.requests ?? 0), 0) === 6;
    });
    const table = (await runToEnd(['status'], cwd)).stdout.split('\n');
    expect(table[1]).toMatch(/CPU\s+MEM\s+REQUESTS\s+CONNS\s+LAG/);
    for (const slot of [0, 1]) {
      const count = slots.filter((s) => s === slot).length;
      expect(table[2 + slot]).toMatch(new RegExp(`^${slot}\\s+\\d+\\s+ready\\s+\\d+s\\s+\\d+\\.\\d%\\s+\\d+\\.\\d MB\\s+${count}\\s+0\\s+\\d+ms`));
    }
  });
});
