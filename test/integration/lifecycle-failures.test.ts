import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { pEventMultiple } from 'p-event';
import {
  isMessage, killWhenFinished, readySlot, spawnCluster, statsOf, until, waitForExit, type SpawnedCluster,
} from '../helpers/cluster.js';
import { request, sourceAddress } from '../helpers/client.js';
import { onLinux } from '../helpers/platform.js';

// Failures around the workers' lifecycle: a fork that fails, a worker whose channel closes, a hung
// worker, a worker dying with sockets it never acknowledged, crashes during a reload, signal bursts.
// After each: every slot has a live worker or a pending respawn, and no process or socket is lost.

const stats = statsOf;

/** Source addresses whose connections land on `slot`, found by asking. */
async function addressesOf(cluster: SpawnedCluster, slot: number, count: number): Promise<string[]> {
  const found: string[] = [];
  for (let i = 0; found.length < count && i < 250; i++) {
    const address = sourceAddress(i);
    if ((await request({ port: cluster.port, localAddress: address })).reply.slot === slot) found.push(address);
  }
  return found;
}

const slotMessage = (type: 'respawnScheduled' | 'workerReady', slot: number) => (message: unknown): boolean =>
  isMessage(type)(message) && message.slot === slot;

/** A raw GET that resolves with the status line's code, or the error that ended it. */
function rawGet(port: number, localAddress: string, timeout: number): Promise<{ status: number; slot?: number; error?: string }> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port, localAddress });
    const chunks: Buffer[] = [];
    socket.setTimeout(timeout, () => socket.destroy(new Error('timeout')));
    socket.on('connect', () => socket.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    let error: string | undefined;
    socket.on('error', (err: Error) => { error = err.message; });
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString();
      const status = /^HTTP\/1\.1 (\d+)/.exec(text);
      const body = text.slice(text.indexOf('\r\n\r\n') + 4);
      let slot: number | undefined;
      try { slot = (JSON.parse(body) as { slot: number }).slot; } catch { slot = undefined; }
      resolve({ status: status === null ? 0 : Number(status[1]), ...(slot === undefined ? {} : { slot }), ...(error === undefined ? {} : { error }) });
    });
  });
}

describe.skipIf(!onLinux)('lifecycle failures', () => {
  it('a fork that fails (EMFILE) counts as a crash: the slot gets a worker once fds are free again', async () => {
    // Without the hop's native handoff channels: the two descriptors each one frees when its worker dies
    // would let the respawn's fork succeed, and this test is about a fork that fails.
    const options = { respawnDelay: 50, maxRespawnDelay: 200, nativeHandoff: false };
    const cluster = await spawnCluster('resilience-app.mjs', { env: { WORKERS: '2', OPTIONS: JSON.stringify(options) } });
    const victim = readySlot(cluster, 1);
    const hog = await cluster.ask('hogFds');
    expect(hog.code).toBe('EMFILE');
    // The worker's exit, then at least one failed fork for its slot, each followed by a respawn decision.
    const decisions = pEventMultiple(cluster.child, 'message', { filter: slotMessage('respawnScheduled', 1), count: 2, timeout: 10_000 });
    process.kill(victim.pid as number, 'SIGKILL');
    await decisions;
    const failedFork = cluster.messages.find((m) => m.type === 'workerExit' && m.slot === 1 && m.pid !== victim.pid);
    expect(failedFork).toMatchObject({ expected: false });
    const ready = cluster.next('workerReady', { where: (m) => m.slot === 1, timeout: 10_000 });
    await cluster.ask('releaseFds');
    const replacement = await ready;
    expect(replacement.pid).not.toBe(victim.pid);
    const after = await stats(cluster);
    expect(after.slots[1]).toMatchObject({ pid: replacement.pid, isReady: true });
    expect(after.workers).toBe(2);
    // Shutdown still completes: no phantom worker is waited for.
    const ended = cluster.next('shutdownEnd', { timeout: 10_000 });
    cluster.child.kill('SIGTERM');
    expect(await ended).toMatchObject({ killed: [] });
    expect(await waitForExit(cluster.child)).toMatchObject({ code: 0 });
  });

  it('a worker that disconnects its channel leaves its slot: a replacement serves the slot, shutdown is quick', async () => {
    // A shutdownTimeout far past the test's own deadline: a shutdown that waited for it could not pass.
    const cluster = await spawnCluster('resilience-app.mjs', { env: { WORKERS: '2', OPTIONS: JSON.stringify({ shutdownTimeout: 120_000, steering: 'primary' }) } });
    const [client] = await addressesOf(cluster, 0, 1);
    const old = readySlot(cluster, 0);
    const replaced = cluster.next('workerReady', { where: (m) => m.slot === 0, timeout: 10_000 });
    expect((await request({ port: cluster.port, localAddress: client as string, path: '/disconnect' })).reply.pid).toBe(old.pid);
    const ready = await replaced;
    expect(ready.pid).not.toBe(old.pid);
    expect((await request({ port: cluster.port, localAddress: client as string })).reply).toMatchObject({ slot: 0, pid: ready.pid });
    // Not the full shutdownTimeout: nobody waits for a channel that is gone.
    const ended = cluster.next('shutdownEnd', { timeout: 15_000 });
    cluster.child.kill('SIGTERM');
    expect(await ended).toMatchObject({ killed: [] });
    expect(await waitForExit(cluster.child)).toMatchObject({ code: 0 });
  });

  it('SIGTTIN four times in a burst adds four slots', async () => {
    const cluster = await spawnCluster('resilience-app.mjs', { env: { WORKERS: '2' } });
    const done = cluster.next('scaled', { where: (m) => m.to === 6, timeout: 15_000 });
    for (let i = 0; i < 4; i++) {
      // Standard signals do not queue: each is sent once the primary handled the one before (which
      // takes far less than the first step's fork, so all four arrive while it runs).
      const handled = cluster.next('signalled');
      cluster.child.kill('SIGTTIN');
      await handled;
    }
    await done;
    const after = await stats(cluster);
    expect(after.slots.length).toBe(6);
    expect(after.readyWorkers).toBe(6);
  });

  it('a crash during a rolling restart leaves exactly one worker process per slot', async () => {
    const cluster = await spawnCluster('resilience-app.mjs', { env: { WORKERS: '3' } });
    const first = readySlot(cluster, 0);
    const started = cluster.next('reloadStart', { timeout: 5_000 });
    const reloaded = cluster.next('reloaded', { timeout: 30_000 });
    cluster.child.send({ type: 'reload' });
    await started;
    // Slot 0's replacement is starting now: its old worker crashes meanwhile.
    process.kill(first.pid as number, 'SIGKILL');
    const answer = await reloaded;
    expect(answer).toMatchObject({ ok: true });
    // The crash left the slot to its replacement, already on its way: no respawn forked a second process.
    expect(cluster.all('respawnScheduled')).toEqual([]);
    const successor = answer.report?.slots[0]?.newWorkerId;
    const after = await stats(cluster);
    expect(after.workers).toBe(3);
    expect(after.slots[0]).toMatchObject({ state: 'ready', workerId: successor });
    const { pids } = await cluster.ask('pids');
    expect(pids.sort()).toEqual(after.slots.map((slot) => slot.pid).sort());
    const exits = cluster.all('workerExit', (message) => message.slot === 0);
    expect(exits.map((exit) => [exit.pid, exit.expected])).toEqual([[first.pid, false]]);
  });

  it.each(['ip', 'proxyHeader'])('%s mode: sockets sent to a worker that dies before acknowledging them go to its replacement', async (mode) => {
    // IP mode through the primary hop: with kernel steering no handoff goes through the primary.
    const steering = mode === 'ip' ? { steering: 'primary' } : {};
    const cluster = await spawnCluster('resilience-app.mjs', { env: { WORKERS: '2', MODE: mode, OPTIONS: JSON.stringify({ slotWaitTimeout: 15_000, workerTimeout: 0, ...steering }) } });
    const clients = await addressesOf(cluster, 0, 5);
    expect(clients).toHaveLength(5);
    const victim = readySlot(cluster, 0);
    process.kill(victim.pid as number, 'SIGSTOP');
    try {
      const replies = clients.map((address) => rawGet(cluster.port, address, 15_000));
      // All five reached the primary and wait on the stopped worker.
      await until(async () => {
        return (await stats(cluster)).slots[0]?.unacknowledged === 5;
      }, { timeout: 10_000 });
      const replaced = cluster.next('workerReady', { where: (m) => m.slot === 0, timeout: 10_000 });
      process.kill(victim.pid as number, 'SIGKILL');
      const ready = await replaced;
      const results = await Promise.all(replies);
      expect(results).toEqual(clients.map(() => ({ status: 200, slot: 0 })));
      expect(ready.pid).not.toBe(victim.pid);
    } finally {
      try { process.kill(victim.pid as number, 'SIGKILL'); } catch { /* already gone */ }
    }
  });

  it('a hung worker holds its sockets for at most `slotWaitTimeout` (and at most `slotQueueLimit` of them); the rest fail over', async () => {
    const cluster = await spawnCluster('resilience-app.mjs', {
      env: { WORKERS: '2', OPTIONS: JSON.stringify({ slotQueueLimit: 4, slotWaitTimeout: 1_000, workerTimeout: 0, steering: 'primary' }) },
    });
    const clients = await addressesOf(cluster, 0, 12);
    expect(clients.length).toBeGreaterThanOrEqual(8);
    const hungPid = readySlot(cluster, 0).pid;
    killWhenFinished(hungPid);
    expect((await request({ port: cluster.port, localAddress: clients[0] as string, path: '/hang' })).reply.slot).toBe(0);
    const fdsBefore = (await cluster.ask('fds')).count;
    const results = await Promise.all(clients.map((address) => rawGet(cluster.port, address, 8_000)));
    // The one socket Node already wrote to the hung worker's channel cannot be taken back.
    const served = results.filter((result) => result.status === 200);
    expect(served.length).toBeGreaterThanOrEqual(clients.length - 1);
    expect(served.every((result) => result.slot === 1)).toBe(true);
    const after = await stats(cluster);
    expect(after.slots[0]?.unacknowledged).toBeLessThanOrEqual(1);
    expect(after.connections.failedOver).toBeGreaterThanOrEqual(clients.length - 1);
    const fdsAfter = (await cluster.ask('fds')).count;
    expect(fdsAfter - fdsBefore).toBeLessThanOrEqual(1);
  });
});
