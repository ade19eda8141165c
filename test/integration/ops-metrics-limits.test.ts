import http from 'node:http';
import net from 'node:net';
import { readdirSync } from 'node:fs';
import { describe, expect, it, onTestFinished } from 'vitest';
import { spawnCluster, statsOf, until, type SpawnedCluster } from '../helpers/cluster.js';
import { portBelowEphemeralRange, request, sourceAddress } from '../helpers/client.js';
import { onLinux } from '../helpers/platform.js';

// The metrics endpoint shares the primary's file descriptors with the public port. Whoever reaches
// it (a pod network, a scraper gone wrong) must not be able to take them: it holds at most
// `metrics.maxConnections` connections and closes idle ones within seconds. `/metrics` can ask for a
// bearer token; the probes' paths stay open. `/readyz` fails while the public port is closed for
// want of descriptors.

const NOFILE = 256;
const CAP = 64;
const TOKEN = 'c0ffee00c0ffee00c0ffee00c0ffee00';

interface Answer { status: number; headers: http.IncomingHttpHeaders; body: string }

function get(port: number, path: string, { headers = {}, agent = false as http.Agent | false } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, headers, agent, timeout: 10_000 }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => { body += chunk.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

const openFds = (pid: number): number => readdirSync(`/proc/${pid}/fd`).length;

interface Idle { socket: net.Socket; connectedAt: number; closedAt: number | undefined }

/** Opens `count` connections that never send a byte, from 127.0.0.2 onwards (10 per address). */
async function openIdle(port: number, count: number): Promise<Idle[]> {
  const idle: Idle[] = [];
  await Promise.all(Array.from({ length: count }, (_, i) => new Promise<void>((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port, localAddress: sourceAddress(Math.floor(i / 10)) });
    const entry: Idle = { socket, connectedAt: Number.NaN, closedAt: undefined };
    idle.push(entry);
    onTestFinished(() => { socket.destroy(); });
    socket.on('error', () => undefined);
    socket.once('connect', () => { entry.connectedAt = performance.now(); resolve(); });
    socket.once('close', () => { entry.closedAt = performance.now(); resolve(); });
  })));
  return idle;
}

const stats = statsOf;

async function spawnPrimaryHop(metrics: Record<string, unknown>, env: Record<string, string> = {}): Promise<SpawnedCluster & { metricsPort: number }> {
  // The primary hop: the public port is the primary's own listening socket, in its descriptor table.
  const options = { steering: 'primary', metrics: { port: 0, ...metrics } };
  const port = String(await portBelowEphemeralRange());
  const cluster = await spawnCluster('resilience-app.mjs', { env: { WORKERS: '2', OPTIONS: JSON.stringify(options), PORT: port, ...env }, nofile: NOFILE });
  return { ...cluster, metricsPort: cluster.ready.metricsPort as number };
}

describe.skipIf(!onLinux)('metrics endpoint limits', () => {
  it(`300 idle connections to the metrics port: at most ${CAP} held, closed within seconds; the public port keeps serving`, async () => {
    const cluster = await spawnPrimaryHop({});
    const pid = cluster.child.pid as number;
    const baseline = openFds(pid);

    const idle = await openIdle(cluster.metricsPort, 300);
    // Those beyond the cap are closed as soon as they are accepted; the primary holds the rest.
    await until(() => idle.filter((entry) => entry.closedAt === undefined).length <= CAP, { timeout: 5_000 });
    expect(openFds(pid)).toBeLessThanOrEqual(baseline + CAP + 4);

    // A worker still answers on the public port, which never closed.
    const answer = await request({ port: cluster.port, localAddress: sourceAddress(40) });
    expect(answer.status).toBe(200);
    expect(answer.reply.pid).not.toBe(pid);
    expect((await stats(cluster)).connections.acceptPauses).toBe(0);

    // The primary closes the silent ones itself (Node's default would keep them 60 s and more).
    await until(() => idle.every((entry) => entry.closedAt !== undefined), { timeout: 15_000 });
    const held = Math.max(...idle.map((entry) => (entry.closedAt as number) - entry.connectedAt));
    expect(held).toBeLessThan(15_000);
    expect((await get(cluster.metricsPort, '/metrics')).status).toBe(200);
    expect((await get(cluster.metricsPort, '/healthz')).status).toBe(200);
    await until(() => openFds(pid) <= baseline + 2, { timeout: 5_000 });
  }, 40_000);

  it('a client trickling a request head one header at a time is closed at the request deadline', async () => {
    const cluster = await spawnPrimaryHop({});
    const socket = net.connect({ host: '127.0.0.1', port: cluster.metricsPort });
    onTestFinished(() => { socket.destroy(); });
    socket.on('error', () => undefined);
    let closedAt: number | undefined;
    socket.once('close', () => { closedAt = performance.now(); });
    await new Promise((resolve) => socket.once('connect', resolve));
    const start = performance.now();
    socket.write('GET /metrics HTTP/1.1\r\nHost: x\r\n');
    // A header every 500 ms keeps the socket from ever being idle; bounded at 40 headers (20 s).
    let sent = 0;
    const trickle = setInterval(() => {
      if (closedAt !== undefined || sent++ >= 40) clearInterval(trickle);
      else socket.write(`x-${sent}: y\r\n`);
    }, 500);
    onTestFinished(() => clearInterval(trickle));
    await until(() => closedAt !== undefined, { timeout: 20_000 });
    expect((closedAt as number) - start).toBeLessThan(15_000);
  }, 30_000);

  it('a collect hook that never settles: the scrape goes out without it, before the connection\'s idle limit', async () => {
    const cluster = await spawnPrimaryHop({}, { COLLECT: 'never' });
    const scrape = await get(cluster.metricsPort, '/metrics');
    expect(scrape.status).toBe(200);
    expect(scrape.body).toContain('sticky_runtime_ready_workers 2');
    await until(() => cluster.output().includes('metrics collect hook failed'), { timeout: 5_000 });
  });

  it('with metrics.token, /metrics answers 401 without the token or with a wrong one; the probes need none', async () => {
    const cluster = await spawnPrimaryHop({ token: TOKEN });
    const missing = await get(cluster.metricsPort, '/metrics');
    expect(missing.status).toBe(401);
    expect(missing.headers['www-authenticate']).toBe('Bearer realm="metrics"');
    expect(missing.body).not.toContain('sticky_runtime');
    const wrong = await get(cluster.metricsPort, '/metrics', { headers: { authorization: `Bearer ${TOKEN.slice(0, -1)}1` } });
    expect(wrong.status).toBe(401);
    expect(wrong.headers['www-authenticate']).toBe('Bearer realm="metrics", error="invalid_token"');
    const right = await get(cluster.metricsPort, '/metrics', { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(right.status).toBe(200);
    expect(right.body).toContain('sticky_runtime_ready_workers 2');
    expect(await get(cluster.metricsPort, '/healthz')).toMatchObject({ status: 200, body: 'ok\n' });
    expect((await get(cluster.metricsPort, '/readyz')).status).toBe(200);
  });

  it('/readyz answers 503 while the primary has closed its public port for want of descriptors', async () => {
    const cluster = await spawnPrimaryHop({});
    // Opened before the descriptors run out: while they are out, the endpoint can accept nothing new.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    onTestFinished(() => agent.destroy());
    const before = await get(cluster.metricsPort, '/readyz', { agent });
    expect(before.status).toBe(200);
    expect(JSON.parse(before.body)).toEqual({ ready: true, state: 'running', notReadySlots: [], accepting: true });

    expect((await cluster.ask('hogFds')).code).toBe('EMFILE');
    await until(async () => (await stats(cluster)).connections.acceptPaused === 1, { timeout: 5_000 });
    const paused = await get(cluster.metricsPort, '/readyz', { agent });
    expect(paused.status).toBe(503);
    expect(JSON.parse(paused.body)).toEqual({ ready: false, state: 'running', notReadySlots: [], accepting: false });
    expect((await get(cluster.metricsPort, '/healthz', { agent })).status).toBe(200);

    await cluster.ask('releaseFds');
    await until(async () => (await stats(cluster)).connections.acceptPaused === 0, { timeout: 5_000 });
    expect((await get(cluster.metricsPort, '/readyz')).status).toBe(200);
  });
});
