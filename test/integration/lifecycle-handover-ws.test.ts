import { describe, expect, it } from 'vitest';
import { reloadCluster, spawnCluster, until, workerPids } from '../helpers/cluster.js';
import { packageCopy } from '../helpers/package-copy.js';
import { isKernelAvailable, onLinux } from '../helpers/platform.js';
import { connect, finish, heardFromAny, openClients, startSending } from '../helpers/ws-clients.js';

// Live ws WebSockets pass to the slot's next worker in a rolling restart, as the same TCP connections:
// the clients keep sending numbered messages and check every reply and push of the server (some 1 MB,
// in fragments), whose per-connection sequence only the moved state can continue. Real primaries,
// workers and clients from distinct source addresses.

describe.skipIf(!onLinux)('WebSockets in a rolling restart', () => {
  it('three reloads move every WebSocket: no close, gap or duplicate either way, served by the new workers', async () => {
    const cluster = await spawnCluster('handover-ws-app.mjs', { env: { WORKERS: '2' } });
    const clients = await openClients(cluster.port, 60, false);
    let pids = await workerPids(cluster);
    await heardFromAny(clients, pids, 3, 30_000);
    for (let round = 0; round < 3; round++) {
      expect((await reloadCluster(cluster)).ok).toBe(true);
      const next = await workerPids(cluster);
      expect([...next].filter((pid) => pids.has(pid))).toEqual([]);
      pids = next;
      await heardFromAny(clients, pids, 3, 30_000);
    }
    await finish(clients);
    const handovers = cluster.all('handover');
    expect(handovers).toHaveLength(6);
    expect(handovers.reduce((sum, handover) => sum + handover.sockets, 0)).toBe(180);
    // Where the native part loads they pass from worker to worker; the primary relays none of them.
    expect(handovers.map((handover) => handover.relayed))
      .toEqual(handovers.map((handover) => (isKernelAvailable ? 0 : handover.sockets)));
    expect(clients.reduce((sum, client) => sum + client.big, 0)).toBeGreaterThan(0);
    const { stats } = await cluster.ask('stats');
    expect(stats.handovers.sockets).toBe(180);
  }, 120_000);

  it.skipIf(!isKernelAvailable)('where the native part cannot load, the same WebSockets move through the primary', async () => {
    const packageRoot = packageCopy(null);
    const cluster = await spawnCluster('handover-ws-app.mjs', { env: { WORKERS: '2' }, packageRoot });
    const clients = await openClients(cluster.port, 20, false);
    await heardFromAny(clients, await workerPids(cluster), 3, 30_000);
    expect((await reloadCluster(cluster)).ok).toBe(true);
    await heardFromAny(clients, await workerPids(cluster), 3, 30_000);
    await finish(clients);
    const handovers = cluster.all('handover');
    expect(handovers.map((handover) => handover.relayed)).toEqual(handovers.map((handover) => handover.sockets));
    expect(handovers.reduce((sum, handover) => sum + handover.relayed, 0)).toBe(20);
  }, 120_000);

  it('a connection whose move fails is not waited for: the successor adopts the state and is routed at once', async () => {
    // The state hook closes one WebSocket's connection under it: its send fails after the state's frame
    // announced it. A handoverTimeout far longer than the test: waiting for it would fail the test.
    const options = JSON.stringify({ handoverTimeout: 60_000, slotWaitTimeout: 90_000 });
    const cluster = await spawnCluster('handover-ws-app.mjs', { env: { WORKERS: '1', BREAK_MOVE: '1', OPTIONS: options } });
    const clients = await openClients(cluster.port, 5, false);
    await heardFromAny(clients, await workerPids(cluster), 2, 30_000);
    expect((await reloadCluster(cluster, 30_000)).ok).toBe(true);
    const [handover] = cluster.all('handover');
    expect(handover).toMatchObject({ isAdopted: true, sockets: 4 });
    expect(handover?.reason).toBeUndefined();
    const pids = await workerPids(cluster);
    const survivors = await until(() => {
      const open = clients.filter((client) => client.closes.length === 0);
      return open.length === 4 && clients.some((client) => client.closes.length === 1) && open;
    }, { timeout: 10_000, what: 'one connection closed, four open' });
    await heardFromAny(survivors, pids, 2, 30_000);
    for (const client of clients) clearInterval(client.timer);
  }, 120_000);

  it('moves deflate without context takeover; with context takeover they close with 1001, as without a handover', async () => {
    const moving = await spawnCluster('handover-ws-app.mjs', { env: { WORKERS: '2', DEFLATE: 'nocontext' } });
    const clients = await openClients(moving.port, 20, true);
    const pids = await workerPids(moving);
    await heardFromAny(clients, pids, 3, 30_000);
    expect((await reloadCluster(moving)).ok).toBe(true);
    await heardFromAny(clients, await workerPids(moving), 3, 30_000);
    await finish(clients);
    expect(moving.all('handover').reduce((sum, handover) => sum + handover.sockets, 0)).toBe(20);

    const refusing = await spawnCluster('handover-ws-app.mjs', { env: { WORKERS: '1', DEFLATE: 'context' } });
    const refused = await openClients(refusing.port, 6, true);
    await heardFromAny(refused, await workerPids(refusing), 2, 30_000);
    expect((await reloadCluster(refusing)).ok).toBe(true);
    await until(() => refused.every((client) => client.closes.length === 1), { what: 'every close' });
    for (const client of refused) {
      clearInterval(client.timer);
      expect(client.closes).toEqual([1001]);
    }
    expect(refusing.all('handover')).toMatchObject([{ isAdopted: true, sockets: 0 }]);
  }, 120_000);

  it('TLS terminated in the worker cannot move: those WebSockets close with 1001, the slot state still passes', async () => {
    const cluster = await spawnCluster('handover-ws-app.mjs', { env: { WORKERS: '1', TLS: '1' } });
    const clients = await Promise.all(Array.from({ length: 4 }, (_, id) => connect(cluster.port, id, false, true)));
    for (const client of clients) startSending(client, 30);
    await heardFromAny(clients, await workerPids(cluster), 2, 30_000);
    expect((await reloadCluster(cluster)).ok).toBe(true);
    await until(() => clients.every((client) => client.closes.length === 1), { what: 'every close' });
    for (const client of clients) {
      clearInterval(client.timer);
      expect(client.closes).toEqual([1001]);
    }
    expect(cluster.all('handover')).toMatchObject([{ isAdopted: true, sockets: 0 }]);
  }, 60_000);
});
