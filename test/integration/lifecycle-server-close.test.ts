import { describe, expect, it } from 'vitest';
import { pEvent } from 'p-event';
import { isMessage, spawnCluster, statsOf, type FixtureMessage, type SpawnedCluster } from '../helpers/cluster.js';
import type { PrimaryStats } from '../../dist/index.js';
import { request, sourceAddress } from '../helpers/client.js';
import { startLoad } from '../helpers/load.js';

// A worker whose application closes its server (`server.close(cb)`, as sticky-session's graceful close
// does) leaves its slot as a planned replacement does: the primary stops routing to it at once, forks
// the slot's successor, installs it when ready and retires the old worker once its connections ended.
// Runs on the default data plane; TEST_STEERING=primary runs it over the primary hop.

const slotsOf = async (cluster: SpawnedCluster): Promise<PrimaryStats['slots']> => (await statsOf(cluster)).slots;

const isReport = (event: string) => (message: unknown): boolean => isMessage('report')(message) && message.event === event;

/** The first message of the fixture primary that matches, whether it arrived already or arrives within `timeout`. */
async function messageOf(cluster: SpawnedCluster, filter: (message: FixtureMessage) => boolean, timeout = 20_000): Promise<FixtureMessage> {
  const arrived = cluster.messages.find(filter);
  if (arrived !== undefined) return arrived;
  return (await pEvent(cluster.child, 'message', { filter: (m) => filter(m as FixtureMessage), timeout })) as FixtureMessage;
}

const ADDRESSES = [0, 1, 2, 3, 4, 5, 6, 7].map(sourceAddress);

describe('a worker that closes its own server', () => {
  it('is replaced in its slot under load: no failed request, the slot\'s clients reach the successor, other slots untouched', async () => {
    const cluster = await spawnCluster('app.mjs', { env: { WORKERS: '3', CLOSE_ON_REQUEST: '1' } });
    const before = await slotsOf(cluster);
    expect(before.every((slot) => slot.isReady)).toBe(true);
    // Fresh connections and keep-alive connections from several source addresses, all the time.
    const fresh = startLoad(cluster.port, ADDRESSES, 6);
    const kept = startLoad(cluster.port, ADDRESSES, 6, { keepAlive: true });
    await Promise.all([fresh.until(60), kept.until(60)]);

    const client = sourceAddress(0);
    const closing = await request({ port: cluster.port, localAddress: client, path: '/close' });
    expect(closing.status).toBe(200);
    const { slot, pid: oldPid, workerId: oldWorkerId } = closing.reply;
    // The next fresh connection of the closed slot's client is answered by the successor, never by the closed worker.
    const next = await request({ port: cluster.port, localAddress: client });
    expect(next.status).toBe(200);
    expect(next.reply.slot).toBe(slot);
    expect(next.reply.pid).not.toBe(oldPid);

    // The close callback fired in the old worker, without error; the old worker is retired and exits.
    expect(await messageOf(cluster, isReport('serverClosed'))).toMatchObject({ workerId: oldWorkerId, pid: oldPid, slot, error: null });
    const exit = await messageOf(cluster, (m) => isMessage('workerExit')(m) && m.workerId === oldWorkerId);
    expect(exit).toMatchObject({ slot, expected: true });
    await Promise.all([fresh.until(60), kept.until(60)]);
    const results = await Promise.all([fresh.stop(), kept.stop()]);
    for (const result of results) {
      expect(result.errors).toEqual([]);
      expect(result.failed).toBe(0);
      // Every client stayed on its slot throughout.
      for (const slots of result.slotsByAddress.values()) expect(new Set(slots).size).toBe(1);
    }

    const after = await slotsOf(cluster);
    const successor = after[slot];
    expect(successor?.isReady).toBe(true);
    expect(successor?.pid).toBe(next.reply.pid);
    // Other slots keep their workers.
    for (const other of before) if (other.slot !== slot) expect(after[other.slot]?.pid).toBe(other.pid);
    // Exactly one successor was forked, and the primary said why.
    const online = cluster.all('workerOnline');
    expect(online.filter((m) => !before.some((s) => s.workerId === m.workerId))).toHaveLength(1);
    expect(cluster.messages.filter(isMessage('workerServerClose'))).toEqual([
      expect.objectContaining({ slot, workerId: oldWorkerId, pid: oldPid }),
    ]);
    expect(cluster.output()).toContain('"msg":"worker closed its server"');
  });

  it('that ends its process in the close callback (`server.close(() => process.exit(0))`) is replaced all the same', async () => {
    const cluster = await spawnCluster('app.mjs', { env: { WORKERS: '2', CLOSE_ON_REQUEST: '1', CLOSE_THEN_EXIT: '1' } });
    const before = await slotsOf(cluster);
    const load = startLoad(cluster.port, ADDRESSES, 4);
    await load.until(20);
    const closing = await request({ port: cluster.port, localAddress: sourceAddress(0), path: '/close' });
    const { slot, pid: oldPid, workerId: oldWorkerId } = closing.reply;
    const exit = await messageOf(cluster, (m) => isMessage('workerExit')(m) && m.workerId === oldWorkerId);
    // Its own exit, planned: not a crash, no respawn on top of the successor.
    expect(exit).toMatchObject({ slot, code: 0, expected: true });
    const next = await request({ port: cluster.port, localAddress: sourceAddress(0) });
    expect(next.reply).toMatchObject({ slot });
    expect(next.reply.pid).not.toBe(oldPid);
    await load.until(20);
    const result = await load.stop();
    expect(result.errors).toEqual([]);
    expect(result.failed).toBe(0);
    const after = await slotsOf(cluster);
    expect(after[slot]).toMatchObject({ isReady: true, pid: next.reply.pid });
    for (const other of before) if (other.slot !== slot) expect(after[other.slot]?.pid).toBe(other.pid);
    expect(cluster.messages.filter(isMessage('respawnScheduled'))).toEqual([]);
    expect(cluster.messages.filter((m) => m.type === 'workerOnline')).toHaveLength(3);
  });

  it('during shutdown (shutdownDelay) forks no successor; every worker exits as planned', async () => {
    const cluster = await spawnCluster('app.mjs', { env: { WORKERS: '2', CLOSE_ON_REQUEST: '1', OPTIONS: JSON.stringify({ shutdownDelay: 1_500 }) } });
    const started = cluster.next('shutdownStart', { timeout: 5_000 });
    const shutDown = cluster.next('closed', { timeout: 20_000 });
    cluster.child.send({ type: 'closeMaster', waitForConnections: true });
    await started;
    const onlineBefore = cluster.messages.filter(isMessage('workerOnline')).length;
    // The workers still serve during the delay; this one closes its server.
    const closing = await request({ port: cluster.port, localAddress: sourceAddress(0), path: '/close' });
    expect(closing.status).toBe(200);
    expect(await messageOf(cluster, isReport('serverClosed'))).toMatchObject({ workerId: closing.reply.workerId, error: null });
    await shutDown;
    expect(cluster.messages.filter(isMessage('workerOnline')).length).toBe(onlineBefore);
    expect(cluster.messages.filter(isMessage('workerServerClose'))).toEqual([]);
    expect(cluster.output()).toContain('"msg":"worker closed its server during shutdown"');
    const exits = cluster.messages.filter(isMessage('workerExit'));
    expect(exits).toHaveLength(2);
    expect(exits.every((exit) => exit.expected === true)).toBe(true);
  });
});

