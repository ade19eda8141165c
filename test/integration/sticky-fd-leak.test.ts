import net from 'node:net';
import { once } from 'node:events';
import { expect, it } from 'vitest';
import { spawnCluster, statsOf, until } from '../helpers/cluster.js';
import { mapLimit, rawExchange, request, type WorkerReply } from '../helpers/client.js';
import { onLinux } from '../helpers/platform.js';

// Every socket the primary accepts is closed again, whatever happens to it: served, refused, aborted
// by its client while the head is read, or caught in a worker that is killed.

const WORKERS = 4;
const SLACK = 2;

/** Connects, writes `payload` and destroys the socket at once: the client gives up mid-head. */
async function abandon(port: number, payload: string): Promise<void> {
  const socket = net.connect({ host: '127.0.0.1', port });
  socket.on('error', () => {});
  await once(socket, 'connect');
  if (payload.length > 0) socket.write(payload);
  socket.resetAndDestroy();
  await once(socket, 'close');
}

it.skipIf(!onLinux)('returns to its baseline of open fds after normal, refused and orphaned connections', async () => {
  const cluster = await spawnCluster('app.mjs', { env: { WORKERS: String(WORKERS), MODE: 'proxyHeader' } });
  const { child, port } = cluster;
  const fds = async (): Promise<number> => (await cluster.ask('fds')).count;
  const forwarded = (i: number): Record<string, string> => ({ 'x-forwarded-for': `198.51.100.${(i % 200) + 1}` });

  // Warm up (lazy handles, timers), then take the baseline.
  const mapping = await mapLimit(Array.from({ length: 40 }, (_, i) => i), 8, async (i) => (await request({ port, headers: forwarded(i) })).reply);
  await until(async () => (await statsOf(cluster)).connections.pendingHeads === 0);
  const baseline = await fds();
  let connections = 0;

  // 100 normal requests.
  const normal = await mapLimit(Array.from({ length: 100 }, (_, i) => i), 10, (i) => request({ port, headers: forwarded(i) }));
  for (const response of normal) expect(response.status).toBe(200);
  connections += normal.length;

  // 50 refused or abandoned while the primary reads the head.
  const refused = await mapLimit(Array.from({ length: 50 }, (_, i) => i), 10, async (i) => {
    switch (i % 5) {
      case 0: return (await rawExchange(port, 'GET / HTTP/1.1\r\nBroken\r\n\r\n')).text.slice(0, 12);
      case 1: return (await rawExchange(port, `GET / HTTP/1.1\r\nX: ${'a'.repeat(20_000)}`)).text.slice(0, 12);
      case 2: return (await rawExchange(port, '\x16\x03\x01\x00')).text.slice(0, 12);
      case 3: await abandon(port, 'GET / HTTP/1.1\r\nHost'); return 'abandoned';
      default: await abandon(port, ''); return 'abandoned';
    }
  });
  expect(refused.filter((text) => text === 'HTTP/1.1 400').length).toBe(20);
  expect(refused.filter((text) => text === 'HTTP/1.1 431').length).toBe(10);
  expect(refused.filter((text) => text === 'abandoned').length).toBe(20);
  connections += refused.length;

  // 50 to one worker that is killed: 25 it is serving, and 25 sent while it hangs (SIGSTOP), of
  // which one is on the IPC channel awaiting the worker's acknowledgement and the rest wait in the
  // primary. Every one must end, served by the replacement or closed; none may hang.
  const victim = mapping[0] as WorkerReply;
  const victimKeys = mapping.map((reply, i) => (reply.workerId === victim.workerId ? i : -1)).filter((i) => i >= 0);
  const routed = async (): Promise<number> => (await statsOf(cluster)).connections.routed;
  const orphan = (i: number, delay: number): Promise<string> => request({
    port, timeout: 8_000, headers: { ...forwarded(victimKeys[i % victimKeys.length] as number), 'x-delay': String(delay) },
  }).then((response) => `${response.status}`, (error: Error) => error.message);
  const routedBefore = await routed();
  const held = Array.from({ length: 25 }, (_, i) => orphan(i, 2_000));
  await until(async () => (await routed()) >= routedBefore + 25);
  process.kill(victim.pid, 'SIGSTOP');
  const stalled = Array.from({ length: 25 }, (_, i) => orphan(25 + i, 0));
  await until(async () => (await routed()) >= routedBefore + 50);
  const replaced = cluster.next('workerReady', { where: (m) => m.slot === victim.slot, timeout: 10_000 });
  process.kill(victim.pid, 'SIGKILL');
  await replaced;
  const outcomes = await Promise.all([...held, ...stalled]);
  // Those the dead worker had taken were closed with it; those still waiting in the primary (all
  // but the one on the channel) were served elsewhere. A hang would show as a client timeout.
  expect(outcomes.filter((outcome) => outcome === 'request timed out')).toEqual([]);
  expect(outcomes.slice(25).filter((outcome) => outcome === '200').length).toBeGreaterThanOrEqual(24);
  connections += outcomes.length;
  expect(connections).toBe(200);

  await until(async () => (await fds()) <= baseline + SLACK, { timeout: 10_000 });
  expect(child.exitCode).toBeNull();
});
