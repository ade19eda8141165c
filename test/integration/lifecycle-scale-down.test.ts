import net from 'node:net';
import { once } from 'node:events';
import { expect, it } from 'vitest';
import { bucketOfAddress } from '../../src/sticky/routing/address-bucket.js';
import { bucketTable } from '../../src/sticky/routing/bucket-table.js';
import { spawnCluster, type SpawnedCluster } from '../helpers/cluster.js';
import { request, sourceAddress } from '../helpers/client.js';
import { isKernelAvailable } from '../helpers/platform.js';

// Scaling down under kernel steering removes the last slot's socket. Clients the kernel queued there
// before the smaller table took effect must be served by that slot's worker, not reset when the
// socket's last copy closes.

const modelSlot = (address: string, slots: number): number => bucketTable(slots, 0)[bucketOfAddress(address, 0)] as number;

async function scaleTo(cluster: SpawnedCluster, workers: number): Promise<void> {
  const done = cluster.next('scaledTo', { timeout: 15_000 });
  cluster.child.send({ type: 'scale', workers });
  expect((await done).ok).toBe(true);
}

/** A GET on a fresh connection; `connected` once the kernel completed the handshake (the client sits in the accept queue). */
function get(port: number, localAddress: string): { connected: Promise<unknown>; reply: Promise<string> } {
  const socket = net.connect({ host: '127.0.0.1', port, localAddress });
  const connected = once(socket, 'connect');
  socket.on('connect', () => socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
  let text = '';
  socket.on('data', (chunk: Buffer) => { text += chunk.toString('latin1'); });
  const reply = new Promise<string>((resolve) => {
    socket.on('error', (error: NodeJS.ErrnoException) => resolve(`error ${error.code ?? error.message}`));
    socket.on('close', () => resolve(text));
  });
  socket.setTimeout(10_000, () => socket.destroy());
  return { connected, reply };
}

it.skipIf(!isKernelAvailable)('scale-down under kernel steering: clients queued on the removed slot\'s socket are served, not reset', async () => {
  const cluster = await spawnCluster('resilience-app.mjs', { env: { WORKERS: '2', OPTIONS: JSON.stringify({ steering: 'kernel' }) } });
  await scaleTo(cluster, 3);
  const addresses = Array.from({ length: 150 }, (_, i) => sourceAddress(100 + i)).filter((address) => modelSlot(address, 3) === 2).slice(0, 6);
  const [first] = addresses as [string];
  expect((await request({ port: cluster.port, localAddress: first })).reply.slot).toBe(2);
  // The slot's worker stops taking connections for a while, so they wait in its socket's queue.
  await request({ port: cluster.port, localAddress: first, path: '/pause?ms=800' });
  const clients = addresses.map((address) => get(cluster.port, address));
  await Promise.all(clients.map((client) => client.connected));
  // Slot 2 goes while its clients wait: the worker takes them when it wakes up, then drains.
  await scaleTo(cluster, 2);
  const replies = await Promise.all(clients.map((client) => client.reply));
  for (const reply of replies) {
    expect(reply).toMatch(/^HTTP\/1\.1 200 /);
    expect(JSON.parse(reply.slice(reply.indexOf('\r\n\r\n') + 4)) as { slot: number }).toMatchObject({ slot: 2 });
  }
});

it.skipIf(!isKernelAvailable)('shutdown under kernel steering: clients queued on a slot\'s socket when it begins are served, not reset', async () => {
  const cluster = await spawnCluster('resilience-app.mjs', { env: { WORKERS: '2', OPTIONS: JSON.stringify({ steering: 'kernel' }) } });
  const addresses = Array.from({ length: 100 }, (_, i) => sourceAddress(100 + i)).filter((address) => modelSlot(address, 2) === 1).slice(0, 6);
  const [first] = addresses as [string];
  // The slot's worker stops taking connections for a while, so they wait in its socket's queue.
  await request({ port: cluster.port, localAddress: first, path: '/pause?ms=800' });
  const clients = addresses.map((address) => get(cluster.port, address));
  await Promise.all(clients.map((client) => client.connected));
  const ended = cluster.next('shutdownEnd', { timeout: 15_000 });
  cluster.child.kill('SIGTERM');
  const replies = await Promise.all(clients.map((client) => client.reply));
  for (const reply of replies) {
    expect(reply).toMatch(/^HTTP\/1\.1 200 /);
    expect(JSON.parse(reply.slice(reply.indexOf('\r\n\r\n') + 4)) as { slot: number }).toMatchObject({ slot: 1 });
  }
  expect((await ended).killed).toEqual([]);
});
