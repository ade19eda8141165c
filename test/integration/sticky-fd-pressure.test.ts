import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { spawnCluster, type SpawnedCluster } from '../helpers/cluster.js';
import { request } from '../helpers/client.js';

// The primary at its fd limit (EMFILE on accept): libuv sheds the connections it cannot accept (it
// keeps a spare fd for that), the primary keeps running in every mode, and serves again by itself
// once descriptors are free.

const notLinux = process.platform !== 'linux';

interface Stats { connections: { accepted: number; acceptErrors: number }; readyWorkers: number; workers: number }
const stats = async (cluster: SpawnedCluster): Promise<Stats> => ((await cluster.ask('stats')) as unknown as { stats: Stats }).stats;

/** Connects and waits until the primary closes the connection (what libuv does at EMFILE) or the deadline. */
function knock(port: number): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.on('error', () => undefined);
    socket.setTimeout(3_000, () => socket.destroy());
    socket.on('close', () => resolve());
  });
}

describe.skipIf(notLinux)('fd pressure', () => {
  for (const mode of ['ip', 'proxyHeader'] as const) {
    it(`${mode} mode: the primary survives EMFILE on accept and recovers by itself`, async () => {
      // IP mode through the primary hop: under kernel steering the primary accepts nothing.
      const options = mode === 'ip' ? { steering: 'primary' } : {};
      const cluster = await spawnCluster('resilience-app.mjs', { env: { WORKERS: '2', MODE: mode, OPTIONS: JSON.stringify(options) } });
      const headers = mode === 'proxyHeader' ? { 'x-forwarded-for': '203.0.113.9' } : {};
      expect((await request({ port: cluster.port, headers })).status).toBe(200);
      expect((await cluster.ask('hogFds')).code).toBe('EMFILE');
      const before = await stats(cluster);
      // Each is closed by the primary's side (not left hanging): nothing was accepted into the primary.
      await Promise.all([knock(cluster.port), knock(cluster.port), knock(cluster.port)]);
      expect((await stats(cluster)).connections.accepted).toBe(before.connections.accepted);
      await cluster.ask('releaseFds');
      expect(cluster.child.exitCode).toBeNull();
      const reply = await request({ port: cluster.port, headers });
      expect(reply.status).toBe(200);
      const after = await stats(cluster);
      expect(after).toMatchObject({ readyWorkers: 2, workers: 2 });
    });
  }
});
