import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { describe, expect, it, onTestFinished } from 'vitest';
import { isMessage, spawnCluster, until, waitForExit, type SpawnedCluster } from '../helpers/cluster.js';
import { onLinux } from '../helpers/platform.js';

function markerDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sticky-shutdown-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const hookMarkers = (dir: string): string[] => readdirSync(dir).filter((name) => name.startsWith('hook-'));

/** Worker pids from the fixture's ready message. */
const workerPids = (cluster: SpawnedCluster): number[] =>
  (cluster.ready.workers as { pid: number }[]).map((worker) => worker.pid);

interface Outcome { status: number | 'reset'; body: string }

/** A GET that reports a reset instead of rejecting. */
function get(port: number, path: string, agent: http.Agent | false = false): Promise<Outcome> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => { body += chunk.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', () => resolve({ status: 'reset', body }));
    });
    req.on('error', () => resolve({ status: 'reset', body: '' }));
  });
}

/** Resolves once the cluster has `count` requests in flight: each worker answers /slow only later. */
async function startSlowRequests(cluster: SpawnedCluster, count: number, ms: number): Promise<Promise<Outcome>[]> {
  const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
  onTestFinished(() => agent.destroy());
  const requests = Array.from({ length: count }, () => get(cluster.port, `/slow?ms=${ms}`, agent));
  // Each request is in flight once its socket is connected and written; wait for all sockets.
  await new Promise<void>((resolve) => {
    const check = (): void => {
      const sockets = Object.values(agent.sockets).flat().filter((socket) => socket !== undefined && !socket.connecting);
      if (sockets.length >= count) resolve(); else setImmediate(check);
    };
    check();
  });
  // …and once every one of them reached a worker's handler (on either data plane).
  await until(async () => ((await cluster.ask('stats')).inHandlers ?? 0) >= count);
  return requests;
}

describe.skipIf(!onLinux)('shutdown', () => {
  it('SIGTERM lets 20 in-flight 2 s requests complete and runs every hook', async () => {
    const dir = markerDir();
    const cluster = await spawnCluster('shutdown-app.mjs', { env: { WORKERS: '2', MARKER_DIR: dir } });
    const requests = await startSlowRequests(cluster, 20, 2_000);
    cluster.child.kill('SIGTERM');
    const outcomes = await Promise.all(requests);
    expect(outcomes.filter((outcome) => outcome.status === 200)).toHaveLength(20);
    expect(await waitForExit(cluster.child)).toEqual({ code: 0, signal: null });
    expect(hookMarkers(dir)).toHaveLength(2);
  }, 30_000);

  it('a second SIGTERM during shutdown stops waiting: in-flight requests are reset, the hooks still run', async () => {
    const dir = markerDir();
    const cluster = await spawnCluster('shutdown-app.mjs', { env: { WORKERS: '2', MARKER_DIR: dir } });
    const requests = await startSlowRequests(cluster, 10, 5_000);
    cluster.child.kill('SIGTERM');
    await cluster.next('shutdownStart', { timeout: 5_000 });
    cluster.child.kill('SIGTERM');
    const outcomes = await Promise.all(requests);
    expect(outcomes.filter((outcome) => outcome.status === 'reset')).toHaveLength(10);
    expect(await waitForExit(cluster.child)).toEqual({ code: 0, signal: null });
    expect(hookMarkers(dir)).toHaveLength(2);
  }, 30_000);

  it('a request whose head is still arriving when shutdown begins is handed off and answered', async () => {
    const cluster = await spawnCluster('shutdown-app.mjs', {
      env: { WORKERS: '2', HOOK: 'none', OPTIONS: JSON.stringify({ proxyHeader: 'x-forwarded-for' }) },
    });
    const socket = net.connect({ host: '127.0.0.1', port: cluster.port });
    onTestFinished(() => { socket.destroy(); });
    await once(socket, 'connect');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.write('GET /slow?ms=10 HTTP/1.1\r\nHost: x\r\n');
    await until(async () => {
      const { stats } = await cluster.ask('stats');
      return stats.connections.pendingHeads === 1;
    });
    const started = cluster.next('shutdownStart', { timeout: 5_000 });
    const closed = cluster.next('closed', { timeout: 10_000 });
    cluster.child.send({ type: 'closeMaster', waitForConnections: true });
    await started;
    socket.write('X-Forwarded-For: 10.1.2.3\r\n\r\n');
    await once(socket, 'close');
    const text = Buffer.concat(chunks).toString();
    // Answered; with `Connection: close` unless the worker finished it before its close request arrived.
    expect(text).toMatch(/^HTTP\/1\.1 200 OK/);
    expect((await closed).error).toBeUndefined();
  }, 30_000);

  it('closeMaster(cb, false) resets in-flight requests and still runs the hooks', async () => {
    const dir = markerDir();
    const cluster = await spawnCluster('shutdown-app.mjs', { env: { WORKERS: '2', MARKER_DIR: dir } });
    const requests = await startSlowRequests(cluster, 20, 2_000);
    const closed = cluster.next('closed', { timeout: 10_000 });
    cluster.child.send({ type: 'closeMaster', waitForConnections: false });
    const outcomes = await Promise.all(requests);
    expect(outcomes.filter((outcome) => outcome.status === 'reset')).toHaveLength(20);
    const result = await closed;
    expect(result.callbacks).toBe(1);
    expect(result.error).toBeUndefined();
    expect(hookMarkers(dir)).toHaveLength(2);
  }, 30_000);

  for (const trigger of ['closeMaster', 'masterclose', 'requestMasterClose', 'SIGINT to the process group'] as const) {
    it(`every worker's async hook finishes on ${trigger}`, async () => {
      const dir = markerDir();
      const cluster = await spawnCluster('shutdown-app.mjs', { env: { WORKERS: '3', MARKER_DIR: dir }, detached: trigger !== 'closeMaster' });
      if (trigger === 'closeMaster') {
        const closed = cluster.next('closed', { timeout: 10_000 });
        cluster.child.send({ type: 'closeMaster', waitForConnections: true });
        await closed;
      } else {
        if (trigger === 'masterclose') await get(cluster.port, '/masterclose?wait=1');
        else if (trigger === 'requestMasterClose') expect((await get(cluster.port, '/requestclose')).body).toBe('ok');
        // Ctrl-C in a terminal: every process of the group gets SIGINT at once.
        else process.kill(-(cluster.child.pid as number), 'SIGINT');
        expect(await waitForExit(cluster.child)).toEqual({ code: 0, signal: null });
      }
      expect(hookMarkers(dir)).toHaveLength(3);
      expect(cluster.messages.filter(isMessage('respawnScheduled'))).toEqual([]);
      const exits = cluster.messages.filter(isMessage('workerExit'));
      expect(exits.map((exit) => exit.pid).sort()).toEqual(workerPids(cluster).sort());
      expect(exits.every((exit) => exit.expected === true)).toBe(true);
    }, 30_000);
  }

  it('Ctrl-C to the process group lets in-flight requests finish before the hooks run', async () => {
    const dir = markerDir();
    const cluster = await spawnCluster('shutdown-app.mjs', { env: { WORKERS: '2', MARKER_DIR: dir }, detached: true });
    const requests = await startSlowRequests(cluster, 6, 1_500);
    process.kill(-(cluster.child.pid as number), 'SIGINT');
    const outcomes = await Promise.all(requests);
    expect(outcomes.map((outcome) => outcome.status)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(await waitForExit(cluster.child)).toEqual({ code: 0, signal: null });
    expect(hookMarkers(dir)).toHaveLength(2);
  }, 30_000);

  it('plain exitHook(done => …) keeps working; exitHook(async () => …) is not awaited by async-exit-hook', async () => {
    const withDone = markerDir();
    const doneCluster = await spawnCluster('shutdown-app.mjs', { env: { WORKERS: '2', MARKER_DIR: withDone, HOOK: 'exitHook' } });
    doneCluster.child.kill('SIGTERM');
    await waitForExit(doneCluster.child);
    expect(hookMarkers(withDone)).toHaveLength(2);

    const asyncOnly = markerDir();
    const asyncCluster = await spawnCluster('shutdown-app.mjs', { env: { WORKERS: '2', MARKER_DIR: asyncOnly, HOOK: 'asyncExitHook' } });
    asyncCluster.child.kill('SIGTERM');
    await waitForExit(asyncCluster.child);
    // The zero-argument async hook started but the worker exited before its 300 ms work finished.
    expect(hookMarkers(asyncOnly)).toHaveLength(0);
  }, 30_000);

  it('idle keep-alive clients do not hold the shutdown: it ends soon after the in-flight request', async () => {
    // The keep-alive timeout, the drain and the shutdown deadlines are all far past the test's own: a
    // shutdown that waited for idle clients, or for a deadline, could not end before `closed` times out.
    const cluster = await spawnCluster('shutdown-app.mjs', {
      env: {
        WORKERS: '2', HOOK: 'none', KEEP_ALIVE_MS: '600000',
        OPTIONS: JSON.stringify({ drainTimeout: 300_000, shutdownTimeout: 600_000 }),
      },
    });
    const agents = Array.from({ length: 20 }, () => new http.Agent({ keepAlive: true, maxSockets: 1 }));
    onTestFinished(() => agents.forEach((agent) => agent.destroy()));
    for (const agent of agents) expect((await get(cluster.port, '/', agent)).status).toBe(200);
    const inFlight = await startSlowRequests(cluster, 1, 1_000);
    const closed = cluster.next('closed', { timeout: 20_000 });
    const triggeredAt = Date.now();
    cluster.child.send({ type: 'closeMaster', waitForConnections: true });
    expect((await inFlight[0])?.status).toBe(200);
    // Ours ends after the request; a naive drain would hold for the idle clients' keep-alive.
    const { at = Number.NaN, error } = await closed;
    expect(error).toBeUndefined();
    console.info(`shutdown with 20 idle keep-alive clients + 1 in-flight 1 s request took ${at - triggeredAt} ms`);
  }, 30_000);

  it('a hook that never finishes is killed at shutdownTimeout and reported', async () => {
    const cluster = await spawnCluster('shutdown-app.mjs', {
      env: { WORKERS: '2', HOOK: 'never', OPTIONS: JSON.stringify({ shutdownTimeout: 1_000 }) },
    });
    const closed = cluster.next('closed', { timeout: 10_000 });
    cluster.child.send({ type: 'closeMaster', waitForConnections: true });
    expect(await closed).toMatchObject({ error: 'STICKY_ERR_SHUTDOWN_TIMEOUT', callbacks: 1 });
    expect(cluster.all('shutdownEnd')[0]?.killed).toHaveLength(2);
  }, 30_000);

  it('a hook that never finishes makes a SIGTERM shutdown exit with code 1', async () => {
    const cluster = await spawnCluster('shutdown-app.mjs', {
      env: { WORKERS: '1', HOOK: 'never', OPTIONS: JSON.stringify({ shutdownTimeout: 1_000 }) },
    });
    cluster.child.kill('SIGTERM');
    expect(await waitForExit(cluster.child)).toEqual({ code: 1, signal: null });
  }, 30_000);

  it('closeMaster twice, masterclose and SIGTERM during closeMaster: one shutdown, callback once', async () => {
    const dir = markerDir();
    const cluster = await spawnCluster('shutdown-app.mjs', { env: { WORKERS: '2', MARKER_DIR: dir } });
    const requests = await startSlowRequests(cluster, 4, 1_000);
    cluster.child.send({ type: 'closeMaster', waitForConnections: true });
    cluster.child.send({ type: 'closeMaster', waitForConnections: true });
    await get(cluster.port, '/masterclose?wait=1');
    cluster.child.kill('SIGTERM');
    expect((await Promise.all(requests)).every((outcome) => outcome.status === 200)).toBe(true);
    await waitForExit(cluster.child);
    const closed = cluster.messages.filter(isMessage('closed'));
    // Each closeMaster call gets its callback once; all share one shutdown.
    expect(closed.map((message) => message.callbacks)).toEqual([1, 2]);
    expect(cluster.messages.filter(isMessage('shutdownStart'))).toHaveLength(1);
    expect(hookMarkers(dir)).toHaveLength(2);
  }, 30_000);
});
