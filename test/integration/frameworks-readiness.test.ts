import http from 'node:http';
import { describe, expect, it } from 'vitest';
import { spawnCluster, until } from '../helpers/cluster.js';

function get(port: number, localAddress: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', localAddress, agent: false, timeout: 15_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { text += chunk; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
  });
}

describe('Fastify with the default readiness', () => {
  it('routes nothing to a worker before app.ready() resolved: requests sent during start-up wait and are served, no worker crashes', async () => {
    // Over the primary hop a connection waits for a ready worker at most slotWaitTimeout (5 s by
    // default), which a loaded machine's start-up can pass; over the kernel plane it waits in the queue.
    const cluster = await spawnCluster('fastify-slow-start.mjs', { env: { OPTIONS: JSON.stringify({ slotWaitTimeout: 15_000 }) } });
    // The port is open, no worker is ready yet (its plugins take 1.5 s).
    expect(cluster.messages.filter((m) => m.type === 'workerReady')).toEqual([]);
    const clients = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6', '127.0.0.7'];
    const replies = await Promise.all(clients.map((client) => get(cluster.port, client)));
    for (const [i, reply] of replies.entries()) {
      expect(reply.status).toBe(200);
      expect(JSON.parse(reply.text)).toMatchObject({ framework: 'fastify', client: clients[i] });
    }
    // Both workers come up (a request may have failed over to the first one ready), and none crashed.
    await until(() => cluster.messages.filter((m) => m.type === 'workerReady').length === 2, { timeout: 15_000 });
    expect(cluster.messages.filter((m) => m.type === 'workerExit')).toEqual([]);
  });
});
