import { expect, it } from 'vitest';
import { spawnCluster, until } from '../helpers/cluster.js';
import { errorOf, run, runInWorker, valueOf } from '../helpers/bus.js';
import { request, sourceAddress } from '../helpers/client.js';
import { onLinux } from '../helpers/platform.js';

// The bus across channel serializations and routing modes: `{ key }` reaches the worker that serves
// that key's connections whatever the mode, and the advanced channel carries rich payloads.

interface Whoami { workerId: number; slot: number; pid: number }

it.skipIf(!onLinux)('works over a channel with advanced serialization: rich payloads, routing by key, remote errors', async () => {
  const cluster = await spawnCluster('bus-app.mjs', { env: { WORKERS: '2', SERIALIZATION: 'advanced' } });
  expect(valueOf(await run(cluster, 'richPayload', { target: { slot: 1 } }))).toEqual({ map: true, date: true, big: 'bigint', bytes: true });
  // With JSON the same payload cannot be sent: a BigInt does not serialize.
  const served = (await request({ port: cluster.port, localAddress: sourceAddress(30) })).reply.workerId;
  expect(valueOf(await run<Whoami>(cluster, 'requestTo', { target: { key: sourceAddress(30) }, channel: 'whoami', payload: {} })).workerId).toBe(served);
  expect(errorOf(await run(cluster, 'requestTo', { target: { slot: 0 }, channel: 'fail', payload: { user: 'x' } }))).toMatchObject({ code: 'STICKY_ERR_IPC_REMOTE', remoteCode: 'E_NOT_FOUND' });
  expect(valueOf(await runInWorker<Whoami>(cluster, { slot: 0 }, { op: 'requestTo', target: { slot: 1 }, channel: 'whoami', payload: 1 })).slot).toBe(1);
});

it('a payload the JSON channel cannot carry fails with STICKY_ERR_IPC_INVALID_PAYLOAD, and the bus goes on', async () => {
  const cluster = await spawnCluster('bus-app.mjs', { env: { WORKERS: '1' } });
  expect(errorOf(await run(cluster, 'richPayload', { target: { slot: 0 } })).code).toBe('STICKY_ERR_IPC_INVALID_PAYLOAD');
  expect(valueOf(await run<Whoami>(cluster, 'requestTo', { target: { slot: 0 }, channel: 'whoami', payload: 'next' })).slot).toBe(0);
});

for (const [mode, header, keyOf] of [
  ['proxyHeader', 'x-forwarded-for', (i: number) => `2001:db8::${i.toString(16)}`],
  ['custom', 'x-user', (i: number) => `user-${i}`],
] as const) {
  it(`route by key in ${mode} mode: the answering worker serves that key's connections`, async () => {
    const cluster = await spawnCluster('bus-app.mjs', { env: { WORKERS: '3', MODE: mode } });
    const workers = new Set<number>();
    for (let i = 1; i <= 12; i++) {
      const key = keyOf(i);
      const served = (await request({ port: cluster.port, headers: { [header]: key } })).reply.workerId;
      workers.add(served);
      expect(valueOf(await run<Whoami>(cluster, 'requestTo', { target: { key }, channel: 'whoami', payload: {} })).workerId).toBe(served);
      expect(valueOf(await runInWorker<Whoami>(cluster, { slot: i % 3 }, { op: 'requestTo', target: { key }, channel: 'whoami', payload: {} })).workerId).toBe(served);
    }
    expect(workers.size).toBeGreaterThan(1);
  });
}

it('a payload that cannot be serialized while a socket handoff is in flight fails alone; the primary lives', async () => {
  // Header mode: every connection is handed over by the primary. The only worker is kept busy, so
  // the handoff stays unacknowledged and Node queues the bus's next write behind it.
  const cluster = await spawnCluster('bus-app.mjs', { env: { WORKERS: '1', MODE: 'proxyHeader' } });
  valueOf(await run(cluster, 'sendTo', { target: { slot: 0 }, channel: 'block', payload: { ms: 1_500 } }));
  const pending = request({ port: cluster.port, headers: { 'x-forwarded-for': '203.0.113.9' } });
  await until(async () => (valueOf(await run<{ slots: { handoffs: number }[] }>(cluster, 'stats')).slots[0]?.handoffs ?? 0) >= 1, { timeout: 5_000 });
  expect(errorOf(await run(cluster, 'richPayload', { target: { slot: 0 } })).code).toBe('STICKY_ERR_IPC_INVALID_PAYLOAD');
  expect((await pending).status).toBe(200);
  expect(valueOf(await run<Whoami>(cluster, 'requestTo', { target: { slot: 0 }, channel: 'whoami', payload: {} })).slot).toBe(0);
  expect(cluster.child.exitCode).toBeNull();
});
