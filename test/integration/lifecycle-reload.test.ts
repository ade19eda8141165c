import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { defaultPlane, isMessage, spawnCluster, until, type FixtureMessageType, type MessageOf, type SpawnedCluster } from '../helpers/cluster.js';
import type { PrimaryStats } from '../../dist/index.js';
import { request, sourceAddress } from '../helpers/client.js';
import { startLoad } from '../helpers/load.js';
import { onLinux } from '../helpers/platform.js';


function versionFile(content: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'sticky-reload-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'version');
  writeFileSync(file, content);
  return file;
}

async function slots(cluster: SpawnedCluster): Promise<PrimaryStats['slots']> {
  const { stats } = await cluster.ask('stats');
  return stats.slots;
}

async function reload(cluster: SpawnedCluster): Promise<MessageOf<'reloaded'>> {
  const reply = cluster.next('reloaded', { timeout: 30_000 });
  cluster.child.send({ type: 'reload' });
  return await reply;
}

/** Slot of each address, asked on a fresh connection. */
async function slotMap(port: number, addresses: string[]): Promise<Map<string, number>> {
  const map = new Map<string, number>();
  for (const address of addresses) map.set(address, (await request({ port, localAddress: address })).reply.slot);
  return map;
}

const addresses = (count: number): string[] => Array.from({ length: count }, (_, i) => sourceAddress(i));

describe.skipIf(!onLinux)('rolling restart', () => {
  it('replaces every worker under load with 0 failed requests, keeping every address on its slot', async () => {
    const file = versionFile('ok');
    const cluster = await spawnCluster('reload-app.mjs', { env: { WORKERS: '4', VERSION_FILE: file } });
    // On Linux over the kernel plane: each replacement accepts on its slot's socket before the old worker stops.
    expect((cluster.ready.steering as { plane: string }).plane).toBe(defaultPlane());
    const before = await slots(cluster);
    const clients = addresses(40);
    const load = startLoad(cluster.port, clients, 8);
    await load.until(200);
    const result = await reload(cluster);
    await load.until(200);
    const traffic = await load.stop();
    expect(result.ok).toBe(true);
    expect(traffic.errors).toEqual([]);
    expect(traffic.failed).toBe(0);
    const after = await slots(cluster);
    expect(after.map((slot) => slot.pid).filter((pid) => before.some((old) => old.pid === pid))).toEqual([]);
    expect(after.every((slot) => slot.isReady)).toBe(true);
    // Every address was answered by one slot only, before, during and after the reload.
    for (const [address, seen] of traffic.slotsByAddress) expect(new Set(seen), address).toHaveLength(1);
    expect(traffic.slotsByAddress.size).toBe(40);
  }, 60_000);

  it('keep-alive clients sending back to back lose no request while their workers are replaced', async () => {
    const cluster = await spawnCluster('reload-app.mjs', { env: { WORKERS: '2' } });
    const load = startLoad(cluster.port, addresses(8), 8, { keepAlive: true });
    await load.until(300);
    for (let i = 0; i < 3; i++) expect((await reload(cluster)).ok).toBe(true);
    await load.until(300);
    const traffic = await load.stop();
    expect(traffic.errors).toEqual([]);
    expect(traffic.failed).toBe(0);
    for (const [address, seen] of traffic.slotsByAddress) expect(new Set(seen), address).toHaveLength(1);
  }, 60_000);

  for (const [version, reason] of [['throw', 'exited during start-up'], ['hang', 'not ready within `readyTimeout`']] as const) {
    it(`a reload into a version that does "${version}" keeps the old workers and reports the slot`, async () => {
      const file = versionFile('ok');
      // readyTimeout must exceed a worker's start-up on a loaded 2-core machine (over 1.5 s seen), or
      // a worker that throws while loading is timed out before it exits.
      const cluster = await spawnCluster('reload-app.mjs', {
        env: { WORKERS: '2', VERSION_FILE: file, OPTIONS: JSON.stringify({ readyTimeout: 5_000 }) },
      });
      const before = await slots(cluster);
      const load = startLoad(cluster.port, addresses(20), 4);
      await load.until(50);
      writeFileSync(file, version);
      const result = await reload(cluster);
      await load.until(50);
      const traffic = await load.stop();
      expect(result.ok).toBe(false);
      expect(result.code).toBe('STICKY_ERR_RELOAD_FAILED');
      const report = result.report as { ok: boolean; slots: { slot: number; status: string; reason?: string }[] };
      expect(report.slots.map((slot) => slot.status)).toEqual(['failed', 'skipped']);
      expect(report.slots[0]?.reason).toContain(reason);
      expect(String(result.message)).toContain('slot 0');
      expect(traffic.failed).toBe(0);
      expect((await slots(cluster)).map((slot) => slot.pid)).toEqual(before.map((slot) => slot.pid));
    }, 60_000);
  }

  it('SIGHUP starts a rolling restart; a reload asked for during one queues after it', async () => {
    const cluster = await spawnCluster('reload-app.mjs', { env: { WORKERS: '2' } });
    const before = await slots(cluster);
    const ends = pEventCount(cluster, 'reloadEnd', 2);
    cluster.child.kill('SIGHUP');
    await cluster.next('reloadStart', { timeout: 10_000 });
    cluster.child.kill('SIGHUP');
    await ends;
    const order = cluster.messages.filter((m) => m.type === 'reloadStart' || m.type === 'reloadEnd').map((m) => m.type);
    // Two reloads, never overlapping.
    expect(order).toEqual(['reloadStart', 'reloadEnd', 'reloadStart', 'reloadEnd']);
    const after = await slots(cluster);
    expect(after.map((slot) => slot.pid).filter((pid) => before.some((old) => old.pid === pid))).toEqual([]);
  }, 60_000);

  it('SIGHUP to the whole process group reloads once and leaves exactly one worker per slot', async () => {
    const cluster = await spawnCluster('reload-app.mjs', { env: { WORKERS: '2' }, detached: true });
    const before = await slots(cluster);
    const ended = cluster.next('reloadEnd', { timeout: 20_000 });
    process.kill(-(cluster.child.pid as number), 'SIGHUP');
    expect((await ended).ok).toBe(true);
    const after = await slots(cluster);
    const { stats } = await cluster.ask('stats');
    expect(stats.workers).toBe(2);
    expect(after.every((slot) => slot.isReady && !slot.isRespawnPending && slot.generation === 1)).toBe(true);
    expect(after.map((slot) => slot.pid).filter((pid) => before.some((old) => old.pid === pid))).toEqual([]);
    expect(cluster.messages.filter(isMessage('respawnScheduled'))).toEqual([]);
  }, 60_000);

  it('shutdown during a reload wins: no replacement outlives it', async () => {
    const cluster = await spawnCluster('reload-app.mjs', { env: { WORKERS: '3' } });
    const reloaded = reload(cluster);
    await cluster.next('reloadProgress', { timeout: 10_000 });
    const closed = cluster.next('closed', { timeout: 20_000 });
    cluster.child.send({ type: 'closeMaster' });
    await closed;
    const result = await reloaded;
    expect(result.ok).toBe(false);
    expect((await slots(cluster)).every((slot) => slot.pid === undefined || slot.pid === null)).toBe(true);
  }, 60_000);
});

describe.skipIf(!onLinux)('respawn policy', () => {
  it('a crash loop is backed off, then the slot is marked failed and its clients are served elsewhere', async () => {
    const file = versionFile('ok');
    const cluster = await spawnCluster('reload-app.mjs', {
      env: {
        WORKERS: '3', VERSION_FILE: file,
        OPTIONS: JSON.stringify({ maxRestarts: 4, respawnDelay: 40, minUptime: 60_000, restartWindow: 60_000, failedSlotRetry: 600_000, slotWaitTimeout: 5_000 }),
      },
    });
    const clients = addresses(60);
    const map = await slotMap(cluster.port, clients);
    const slotZero = clients.filter((address) => map.get(address) === 0);
    expect(slotZero.length).toBeGreaterThan(0);
    writeFileSync(file, 'crash-slot0');
    const failed = cluster.next('slotFailed', { timeout: 20_000 });
    process.kill((await slots(cluster))[0]?.pid as number, 'SIGKILL');
    const failure = await failed;
    expect(failure.slot).toBe(0);
    expect((await slots(cluster)).map((slot) => slot.state)).toEqual(['failed', 'ready', 'ready']);
    const delays = cluster.messages.filter(isMessage('respawnScheduled')).map((m) => m.delay as number);
    // 0, then 40·2^k with ±20% jitter: each at least 1.6× the one before it.
    expect(delays[0]).toBe(0);
    expect(delays.length).toBe(4);
    for (let i = 2; i < delays.length; i++) expect(delays[i] as number).toBeGreaterThanOrEqual(1.3 * (delays[i - 1] as number));
    expect(delays[1]).toBeGreaterThanOrEqual(32);
    expect(delays[1]).toBeLessThanOrEqual(48);
    // The failed slot's clients are served by other slots at once; everyone else stays put.
    for (const address of slotZero) expect((await request({ port: cluster.port, localAddress: address })).reply.slot).not.toBe(0);
    for (const address of clients.filter((a) => map.get(a) !== 0)) {
      expect((await request({ port: cluster.port, localAddress: address })).reply.slot).toBe(map.get(address));
    }

    // A fixed version deployed by a reload heals the slot; the pending retry is cancelled.
    writeFileSync(file, 'ok');
    expect((await reload(cluster)).ok).toBe(true);
    const healed = await slots(cluster);
    expect(healed.map((slot) => [slot.isReady, slot.isFailed, slot.isRespawnPending])).toEqual([[true, false, false], [true, false, false], [true, false, false]]);
    expect(healed.map((slot) => slot.state)).toEqual(['ready', 'ready', 'ready']);
    const { stats } = await cluster.ask('stats');
    expect(stats.workers).toBe(3);
    for (const address of slotZero) expect((await request({ port: cluster.port, localAddress: address })).reply.slot).toBe(0);
  }, 60_000);
});

describe.skipIf(!onLinux)('scaling', () => {
  it('4 → 5 moves at most 30% of 200 addresses, all into the new slot; 5 → 4 brings them back', async () => {
    const cluster = await spawnCluster('reload-app.mjs', { env: { WORKERS: '4' } });
    const clients = addresses(200);
    const before = await slotMap(cluster.port, clients);
    const scaled = cluster.next('scaledTo', { timeout: 20_000 });
    cluster.child.send({ type: 'scale', workers: 5 });
    expect((await scaled).ok).toBe(true);
    const after = await slotMap(cluster.port, clients);
    const moved = clients.filter((address) => before.get(address) !== after.get(address));
    expect(moved.length / clients.length).toBeLessThanOrEqual(0.3);
    expect(moved.length).toBeGreaterThan(0);
    expect(moved.every((address) => after.get(address) === 4)).toBe(true);
    console.info(`scale 4 → 5 moved ${moved.length} of ${clients.length} addresses`);

    cluster.child.kill('SIGTTOU');
    await until(async () => (await slots(cluster)).length === 4);
    const back = await slotMap(cluster.port, clients);
    expect(clients.filter((address) => back.get(address) !== before.get(address))).toEqual([]);
  }, 60_000);
});

async function pEventCount(cluster: SpawnedCluster, type: FixtureMessageType, count: number): Promise<void> {
  await until(() => cluster.all(type).length >= count, { timeout: 30_000, what: `${count} '${type}' messages` });
}
