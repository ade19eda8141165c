import net from 'node:net';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { pause, spawnCluster, statsOf, until, type SpawnedCluster } from '../helpers/cluster.js';
import { portBelowEphemeralRange, request } from '../helpers/client.js';
import { onLinux } from '../helpers/platform.js';

// The primary at its fd limit (EMFILE on accept), on the primary hop (under kernel steering the
// primary accepts nothing). It finds out within a check interval, closes its public port instead of
// letting libuv spin on it or shed every client, counts the pause, and listens again by itself, on the
// same port, once descriptors are free. The port is below the ephemeral range, so that nothing else
// running meanwhile (a test file alongside) takes it while it is closed.

const NOFILE = 256;

const stats = statsOf;
const isPaused = (paused: number) => async (cluster: SpawnedCluster): Promise<boolean> => (await stats(cluster)).connections.acceptPaused === paused;

/** Connects and resolves how the attempt ended: refused at once, closed by the other side, or still open at the deadline. */
function knock(port: number): Promise<'refused' | 'closed' | 'open'> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let outcome: 'refused' | 'closed' | 'open' = 'closed';
    socket.on('error', (error: NodeJS.ErrnoException) => { if (error.code === 'ECONNREFUSED') outcome = 'refused'; });
    socket.setTimeout(2_000, () => { outcome = 'open'; socket.destroy(); });
    socket.on('close', () => resolve(outcome));
  });
}

/** CPU time (user + system) of a process so far, in clock ticks (1/100 s on Linux). */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

async function expectServedAgain(cluster: SpawnedCluster, headers: Record<string, string>, pids: (number | undefined)[]): Promise<void> {
  await until(() => isPaused(0)(cluster), { timeout: 5_000 });
  expect((await request({ port: cluster.port, headers })).status).toBe(200);
  const after = await stats(cluster);
  // No restart: the same primary and the same workers serve again.
  expect(cluster.child.exitCode).toBeNull();
  expect(after).toMatchObject({ readyWorkers: 2, workers: 2 });
  expect(after.slots.map((slot) => slot.pid)).toEqual(pids);
}

describe.skipIf(!onLinux)('fd pressure', () => {
  for (const mode of ['ip', 'proxyHeader'] as const) {
    it(`${mode} mode: out of descriptors, the primary stops accepting, counts it and serves again by itself`, async () => {
      const options = mode === 'ip' ? { steering: 'primary' } : {};
      const cluster = await spawnCluster('resilience-app.mjs', { env: { WORKERS: '2', MODE: mode, OPTIONS: JSON.stringify(options), PORT: String(await portBelowEphemeralRange()) }, nofile: NOFILE });
      const headers = mode === 'proxyHeader' ? { 'x-forwarded-for': '203.0.113.9' } : {};
      expect((await request({ port: cluster.port, headers })).status).toBe(200);
      const pids = (await stats(cluster)).slots.map((slot) => slot.pid);

      // The application takes every descriptor; libuv still holds its spare one.
      expect((await cluster.ask('hogFds')).code).toBe('EMFILE');
      await until(() => isPaused(1)(cluster), { timeout: 5_000 });
      const before = await stats(cluster);
      expect(before.connections.acceptPauses).toBe(1);
      // The port is closed meanwhile: refused at once, nothing accepted into the primary.
      expect(await Promise.all([knock(cluster.port), knock(cluster.port)])).toEqual(['refused', 'refused']);
      expect((await stats(cluster)).connections.accepted).toBe(before.connections.accepted);
      await cluster.ask('releaseFds');
      await expectServedAgain(cluster, headers, pids);
    });
  }

  it('ip mode, no descriptor left at all (not even libuv\'s spare): the primary does not spin', async () => {
    // A soft limit below every descriptor the running primary holds: nothing new can be opened, and
    // once libuv has spent its spare descriptor on a waiting client it cannot open it again. That is
    // the state ENFILE (the system's table full) or a thread taking the freed descriptor leads to, in
    // which libuv retries accept() on every turn of the event loop for as long as a client waits.
    const cluster = await spawnCluster('resilience-app.mjs', { env: { WORKERS: '2', OPTIONS: JSON.stringify({ steering: 'primary' }), PORT: String(await portBelowEphemeralRange()) }, nofile: NOFILE });
    expect((await request({ port: cluster.port })).status).toBe(200);
    const pids = (await stats(cluster)).slots.map((slot) => slot.pid);
    const pid = cluster.child.pid as number;
    execFileSync('prlimit', ['--pid', String(pid), `--nofile=3:${NOFILE}`]);
    try {
      const start = cpuTicks(pid);
      // Clients keep arriving over 1.5 s.
      const knocks: Promise<unknown>[] = [];
      for (let i = 0; i < 10; i++) {
        knocks.push(knock(cluster.port));
        await pause(150);
      }
      const used = cpuTicks(pid) - start;
      await Promise.all(knocks);
      // A primary spinning on accept() burns a core: ~150 ticks in this window (fewer on a loaded
      // machine, never near this bound). Pausing costs at most one check interval of it.
      expect(used).toBeLessThan(60);
      const current = await stats(cluster);
      expect(current.connections).toMatchObject({ acceptPauses: 1, acceptPaused: 1 });
    } finally {
      execFileSync('prlimit', ['--pid', String(pid), `--nofile=${NOFILE}:${NOFILE}`]);
    }
    await expectServedAgain(cluster, {}, pids);
  });
});
