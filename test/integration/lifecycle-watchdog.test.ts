import { describe, expect, it } from 'vitest';
import { killWhenFinished, spawnCluster, statsOf, until, type SpawnedCluster } from '../helpers/cluster.js';
import { request, sourceAddress } from '../helpers/client.js';
import { isKernelAvailable, onLinux } from '../helpers/platform.js';

// The watchdog (`workerTimeout`): a ready worker that stops answering the primary's heartbeat is
// killed and replaced in its own slot; the connections routed to it reach the replacement, and the
// other slots never notice.

async function clientsBySlot(cluster: SpawnedCluster, perSlot: number): Promise<Map<number, string[]>> {
  const map = new Map<number, string[]>();
  for (let i = 0; i < 120; i++) {
    const address = sourceAddress(i);
    const { slot } = (await request({ port: cluster.port, localAddress: address })).reply;
    const list = map.get(slot) ?? [];
    if (list.length < perSlot) list.push(address);
    map.set(slot, list);
    if ([...map.values()].every((entry) => entry.length >= perSlot) && map.size >= 2) break;
  }
  return map;
}

describe.skipIf(!onLinux)('workerTimeout', () => {
  // A blocked worker under kernel steering (its clients wait in its slot's socket) and a worker that
  // only stops reading IPC, through the primary hop (under kernel steering it would still accept).
  // A worker deaf to IPC still reads its native handoff channel (a connection of its own pipe): there
  // its waiting clients may be served by it before the watchdog replaces it; over IPC they cannot.
  for (const [path, what, steering, nativeHandoff] of [
    ['/hang', 'whose event loop is blocked', 'auto', true],
    ['/deaf', 'that stops reading its IPC channel', 'primary', false],
    ['/deaf', 'that stops reading its IPC channel', 'primary', true],
  ] as const) {
    const servedByEither = path === '/deaf' && nativeHandoff && isKernelAvailable;
    it(`replaces a worker ${what} in its slot; its waiting clients reach ${servedByEither ? 'it or ' : ''}the replacement (steering: ${steering}, nativeHandoff: ${nativeHandoff})`, async () => {
      const cluster = await spawnCluster('resilience-app.mjs', {
        env: { WORKERS: '2', OPTIONS: JSON.stringify({ workerTimeout: 2_000, slotWaitTimeout: 15_000, steering, nativeHandoff }) },
      });
      const initial = cluster.ready.workers;
      const clients = await clientsBySlot(cluster, 3);
      const stuck = clients.get(0) as string[];
      const healthy = (clients.get(1) as string[])[0] as string;
      const timedOut = cluster.next('workerTimeout', { where: (m) => m.slot === 0, timeout: 10_000 });
      const replaced = cluster.next('workerReady', { where: (m) => m.slot === 0, timeout: 15_000 });
      expect((await request({ port: cluster.port, localAddress: stuck[0] as string, path })).reply.pid).toBe(initial[0]?.pid);
      // Sent to the stuck worker before the watchdog fires: they must not be lost.
      const waiting = stuck.map((localAddress) => request({ port: cluster.port, localAddress, timeout: 15_000 }));

      const timeout = await timedOut;
      expect(timeout).toMatchObject({ slot: 0, pid: initial[0]?.pid, workerId: initial[0]?.workerId, error: 'STICKY_ERR_WORKER_TIMEOUT' });
      expect(timeout.silentFor).toBeGreaterThan(2_000);
      const ready = await replaced;
      expect(ready.pid).not.toBe(initial[0]?.pid);
      for (const response of await Promise.all(waiting)) {
        expect(response.status).toBe(200);
        expect(response.reply.slot).toBe(0);
        expect(servedByEither ? [initial[0]?.pid, ready.pid] : [ready.pid]).toContain(response.reply.pid);
      }
      expect(cluster.all('workerExit', (m) => m.pid === initial[0]?.pid)[0]).toMatchObject({ expected: false });
      // The other slot kept its worker and its client.
      expect((await request({ port: cluster.port, localAddress: healthy })).reply.pid).toBe(initial[1]?.pid);
      const { stats } = await cluster.ask('stats');
      expect(stats.workerTimeouts).toBe(1);
      expect(stats.workers).toBe(2);
      expect(stats.slots.map((slot) => slot.pid)).toEqual([ready.pid, initial[1]?.pid]);
    });
  }

  // Timeline (ms from the stall's start, heartbeat every 200): the worker replies at ~0 and is busy from
  // ~1100 to ~1900; the primary is blocked until 1500, where its late tick judges nobody and pings. Judged
  // from its last answer before the stall, the worker would be killed at the tick at 1700; judged from the
  // unanswered heartbeat (1500), it has until 2500, and answers at ~1900.
  it.skipIf(!isKernelAvailable)('keeps a worker busy for less than workerTimeout right after the primary itself stalled', async () => {
    const cluster = await spawnCluster('resilience-app.mjs', {
      env: { WORKERS: '1', OPTIONS: JSON.stringify({ workerTimeout: 1_000, steering: 'kernel' }) },
    });
    const [initial] = cluster.ready.workers;
    const blocking = cluster.next('blocking');
    let isStalled = true;
    const stall = cluster.ask('blockPrimary', { ms: 1_500 }).then(() => { isStalled = false; });
    await blocking;
    const paused = cluster.next('paused', { timeout: 10_000 });
    const timedOut = cluster.next('workerTimeout', { timeout: 10_000 });
    // Under kernel steering the worker takes the connection itself while the primary is blocked.
    const { reply } = await request({ port: cluster.port, localAddress: sourceAddress(0), path: '/pause?ms=800&after=1100' });
    expect(isStalled).toBe(true);
    expect(reply.pid).toBe(initial?.pid);
    await stall;
    // The primary read the worker's message sent after its busy spell: a timeout would have come before it.
    expect(await Promise.race([paused, timedOut])).toMatchObject({ type: 'paused', pid: initial?.pid, ms: 800 });
    const { stats } = await cluster.ask('stats');
    expect(stats.workerTimeouts).toBe(0);
    expect(stats.slots.map((slot) => slot.pid)).toEqual([initial?.pid]);
    expect(cluster.all('workerExit')).toEqual([]);
  });

  it.skipIf(!isKernelAvailable)('still replaces a hung worker when the primary itself stalls after the hang', async () => {
    const cluster = await spawnCluster('resilience-app.mjs', {
      env: { WORKERS: '1', OPTIONS: JSON.stringify({ workerTimeout: 1_000, steering: 'kernel' }) },
    });
    const [initial] = cluster.ready.workers;
    const timedOut = cluster.next('workerTimeout', { timeout: 10_000 });
    const replaced = cluster.next('workerReady', { timeout: 15_000 });
    expect((await request({ port: cluster.port, localAddress: sourceAddress(0), path: '/hang' })).reply.pid).toBe(initial?.pid);
    await cluster.ask('blockPrimary', { ms: 1_500 });
    expect(await timedOut).toMatchObject({ slot: 0, pid: initial?.pid, error: 'STICKY_ERR_WORKER_TIMEOUT' });
    expect((await replaced).pid).not.toBe(initial?.pid);
    expect((await cluster.ask('stats')).stats.workerTimeouts).toBe(1);
  });

  it('`workerTimeout: 0` turns the watchdog off: a stuck worker keeps its slot, its clients fail over (over IPC the one in its channel is lost)', async () => {
    const cluster = await spawnCluster('resilience-app.mjs', { env: { WORKERS: '2', OPTIONS: JSON.stringify({ workerTimeout: 0, slotWaitTimeout: 500, steering: 'primary', nativeHandoff: false }) } });
    const initial = cluster.ready.workers;
    const clients = (await clientsBySlot(cluster, 2)).get(0) as string[];
    killWhenFinished(initial[0]?.pid);
    await request({ port: cluster.port, localAddress: clients[0] as string, path: '/hang' });
    // The first connection after the hang is written to the stuck worker's channel and stays there;
    // the next one waits in the primary for 500 ms and is then served by slot 1.
    const lost = request({ port: cluster.port, localAddress: clients[0] as string, timeout: 3_000 }).then(() => 'served', () => 'timed out');
    await until(async () => (await statsOf(cluster)).slots[0]?.unacknowledged === 1);
    const reply = await request({ port: cluster.port, localAddress: clients[1] as string });
    expect(reply.reply.slot).toBe(1);
    expect(await lost).toBe('timed out');
    const { stats } = await cluster.ask('stats');
    expect(stats.workerTimeouts).toBe(0);
    expect(stats.slots.map((slot) => slot.pid)).toEqual(initial.map((slot) => slot.pid));
  });

  it.skipIf(!isKernelAvailable)('`workerTimeout: 0`, native handoff: what a stuck worker left unread in its channel is read back after slotWaitTimeout and served by another slot', async () => {
    const cluster = await spawnCluster('resilience-app.mjs', { env: { WORKERS: '2', OPTIONS: JSON.stringify({ workerTimeout: 0, slotWaitTimeout: 500, steering: 'primary', nativeHandoff: true }) } });
    const initial = cluster.ready.workers;
    expect((await statsOf(cluster)).steering.handoff).toBe('native');
    const clients = (await clientsBySlot(cluster, 2)).get(0) as string[];
    killWhenFinished(initial[0]?.pid);
    await request({ port: cluster.port, localAddress: clients[0] as string, path: '/hang' });
    // Written to the stuck worker's channel, unread: after 500 ms without an answer the primary reads
    // it back, and slot 1 serves it.
    const first = request({ port: cluster.port, localAddress: clients[0] as string, timeout: 5_000 });
    const second = request({ port: cluster.port, localAddress: clients[1] as string, timeout: 5_000 });
    expect((await first).reply.slot).toBe(1);
    expect((await second).reply.slot).toBe(1);
    const { stats } = await cluster.ask('stats');
    expect(stats.slots[0]?.unacknowledged).toBe(0);
    expect(stats.connections.failedOver).toBe(2);
    expect(stats.workerTimeouts).toBe(0);
    expect(stats.slots.map((slot) => slot.pid)).toEqual(initial.map((slot) => slot.pid));
  });
});
