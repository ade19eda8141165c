import { fork, type ChildProcess } from 'node:child_process';
import { describe, expect, it, onTestFinished } from 'vitest';
import { pEvent } from 'p-event';
import { bucketOfAddress } from '../../src/sticky/routing/address-bucket.js';
import { bucketTable } from '../../src/sticky/routing/bucket-table.js';
import type { KernelGroupStats } from '../../src/sticky/index.js';
import { isMessage, spawnCluster, stopProcess, waitForExit, type SpawnedCluster, statsOf, until, type FixtureMessageType, type MessageOf } from '../helpers/cluster.js';
import { mapLimit, request } from '../helpers/client.js';
import { isKernelAvailable } from '../helpers/platform.js';

// A same-user process joins the kernel plane's reuseport group (test/fixtures/reuseport-intruder.mjs):
// it replaces the routing program to take every connection, or waits for a scale to take a new slot.
// Before the group counted its members, the first took 40 of 40 connections and, once it exited,
// left its program behind (24 of 40 clients on the wrong slot, by the kernel's hash); the second got
// all 36 clients of the new slot while the scale reported success.

const CHECK_MS = 100;
const modelSlot = (address: string, slots: number): number => bucketTable(slots, 0)[bucketOfAddress(address, 0)] as number;
const clients = (count: number): string[] => Array.from({ length: count }, (_, i) => `127.${10 + (i % 50)}.${i % 256}.${2 + ((i * 13) % 250)}`);

async function intrude(port: number, env: Record<string, string> = {}): Promise<ChildProcess> {
  const child = fork(new URL('../fixtures/reuseport-intruder.mjs', import.meta.url), [], { env: { ...process.env, PORT: String(port), ...env } });
  onTestFinished(() => stopProcess(child));
  await pEvent(child, 'message', { filter: isMessage('ready'), timeout: 10_000 });
  return child;
}

async function kernelStats(cluster: SpawnedCluster): Promise<KernelGroupStats> {
  return (await statsOf(cluster)).kernel;
}

/** Resolves once a periodic check began after this call, so it saw (and undid) everything done before. */
async function checkedSince(cluster: SpawnedCluster): Promise<void> {
  const { programRestores } = await kernelStats(cluster);
  await until(async () => (await kernelStats(cluster)).programRestores > programRestores + 1, { timeout: 5_000 + CHECK_MS * 20 });
}

/** Which slot answers each client (-1: the intruder). */
async function slotsOf(port: number, addresses: readonly string[]): Promise<number[]> {
  const replies = await mapLimit(addresses, 8, (localAddress) => request({ port, localAddress }));
  return replies.map((reply) => reply.reply.slot);
}

const next = <K extends FixtureMessageType>(cluster: SpawnedCluster, type: K): Promise<MessageOf<K>> => cluster.next(type);

describe.skipIf(!isKernelAvailable)('kernel steering: a same-user process in the reuseport group', () => {
  it('replacing the program: detected by the periodic check, the program re-attached, every client on its slot again', async () => {
    const cluster = await spawnCluster('reload-app.mjs', { env: { WORKERS: '3', OPTIONS: JSON.stringify({ steering: 'kernel', groupCheckInterval: CHECK_MS }) } });
    const addresses = clients(40);
    const expected = addresses.map((address) => modelSlot(address, 3));
    expect(await slotsOf(cluster.port, addresses)).toEqual(expected);

    const detected = next(cluster, 'foreignListener');
    // It joins as index 3 and sends every connection there. Nothing scales: only a periodic check can see it.
    const intruder = await intrude(cluster.port, { ATTACH: '3' });
    const event = await detected;
    expect(event).toMatchObject({ port: cluster.port, count: 1, error: { code: 'STICKY_ERR_FOREIGN_LISTENER' } });
    expect(event.inodes).toHaveLength(1);
    await checkedSince(cluster);
    expect(await slotsOf(cluster.port, addresses)).toEqual(expected);
    expect(await kernelStats(cluster)).toMatchObject({ foreignListeners: 1, intrusions: 1, refusedScales: 0 });
    expect(cluster.output()).toContain('foreign listener on the public port');

    const gone = next(cluster, 'foreignListenerGone');
    intruder.kill('SIGTERM');
    await waitForExit(intruder);
    expect(await gone).toMatchObject({ port: cluster.port });
    expect(await slotsOf(cluster.port, addresses)).toEqual(expected);

    // Hit and run: it joins, attaches its program and leaves at once; the program stays in the group.
    await intrude(cluster.port, { ATTACH: '3', LEAVE: '1' });
    await checkedSince(cluster);
    expect(await slotsOf(cluster.port, addresses)).toEqual(expected);
    expect((await kernelStats(cluster)).foreignListeners).toBe(0);
  }, 60_000);

  it('joining before a scale: the scale is refused with the reason, no new slot is routed to it; after it leaves, scaling works', async () => {
    const cluster = await spawnCluster('reload-app.mjs', { env: { WORKERS: '2', OPTIONS: JSON.stringify({ steering: 'kernel', groupCheckInterval: CHECK_MS }) } });
    const detected = next(cluster, 'foreignListener');
    const intruder = await intrude(cluster.port);
    expect((await detected).count).toBe(1);

    const scaled = next(cluster, 'scaledTo');
    cluster.child.send({ type: 'scale', workers: 3 });
    const refused = await scaled;
    expect(refused).toMatchObject({ ok: false, code: 'STICKY_ERR_FOREIGN_LISTENER' });
    expect(refused.message).toMatch(/another process listen on port/);
    expect(refused.stats?.slots).toHaveLength(2);
    expect(await kernelStats(cluster)).toMatchObject({ refusedScales: 1, foreignListeners: 1 });
    expect(cluster.output()).toContain('scale refused');
    // The clients a third slot would take stay on their two-slot slot: none reaches the intruder.
    const newSlotClients = clients(120).filter((address) => modelSlot(address, 3) === 2);
    expect(await slotsOf(cluster.port, newSlotClients)).toEqual(newSlotClients.map((address) => modelSlot(address, 2)));

    const gone = next(cluster, 'foreignListenerGone');
    intruder.kill('SIGTERM');
    await waitForExit(intruder);
    await gone;
    const again = cluster.next('scaledTo', { timeout: 20_000 });
    cluster.child.send({ type: 'scale', workers: 3 });
    expect((await again).ok).toBe(true);
    expect(await slotsOf(cluster.port, newSlotClients)).toEqual(newSlotClients.map(() => 2));
  }, 60_000);
});
