import net from 'node:net';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { spawnCluster } from '../helpers/cluster.js';
import { request } from '../helpers/client.js';
import { isKernelAvailable } from '../helpers/platform.js';

// If this fails after a Node upgrade, src/internal/node-internals-primary.ts or -worker.ts relies on internals that changed:
// a worker must accept on a listening handle the primary holds (and never listens on), and the
// handle must outlive the worker, so a replacement serves what waited in the backlog.

describe.skipIf(!isKernelAvailable)('Node internals of the kernel data plane', () => {
  it('lets a cluster worker accept on the primary\'s handle, which survives the worker and serves its replacement', async () => {
    const cluster = await spawnCluster('kernel-handle-canary.mjs');
    const inherited = await cluster.first('inherited');
    // Close-on-exec: the worker did not inherit the slot socket at fork.
    expect(inherited.isInherited).toBe(false);
    const online = await cluster.first('online');
    const first = await request({ port: cluster.port });
    expect(first.reply.pid).toBe(online.pid);
    expect(first.reply.pid).not.toBe(cluster.ready.primaryPid);

    // Kill the worker: a client connecting now completes its handshake into the backlog and waits.
    const exited = cluster.next('exit', { timeout: 10_000 });
    cluster.child.send({ type: 'kill' });
    await exited;
    const waiting = net.connect({ port: cluster.port, host: '127.0.0.1' });
    await once(waiting, 'connect');
    waiting.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    const answer = new Promise<string>((resolve, reject) => {
      let text = '';
      waiting.on('data', (chunk: Buffer) => { text += chunk.toString(); });
      waiting.on('end', () => resolve(text));
      waiting.on('error', reject);
    });
    const replaced = cluster.next('online', { timeout: 10_000 });
    cluster.child.send({ type: 'fork' });
    const second = await replaced;
    expect(await answer).toContain(`{"pid":${second.pid}}`);
  });
});
