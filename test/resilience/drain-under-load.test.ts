import net from 'node:net';
import { spawn } from 'node:child_process';
import { afterAll, describe, expect, it, onTestFinished } from 'vitest';
import { pEvent } from 'p-event';
import { isMessage, spawnCluster, waitFor, waitForExit, type SpawnedCluster } from '../helpers/cluster.js';
import { sourceAddress } from '../helpers/client.js';
import { isKernelAvailable, onLinux } from '../helpers/platform.js';

// Shutdown and scale-down under load, beside a CPU hog (a loaded host widens every race): 16 clients
// open a fresh connection per request. A client may be refused once the port is closed (it can retry
// safely); no connection the kernel accepted may be reset. The short run is part of `npm test`;
// `npm run test:resilience` (RESILIENCE=long) runs more rounds and prints the figures.

const isLong = process.env.RESILIENCE === 'long';
const ROUNDS = isLong ? { shutdowns: 4, scaleDowns: 4, requests: 500, steps: [2, 1] } : { shutdowns: 1, scaleDowns: 1, requests: 50, steps: [1] };
const CLIENTS = 16;
const ADDRESSES = Array.from({ length: CLIENTS }, (_, i) => sourceAddress(80 + i));

interface Tally { ok: number; refused: number; reset: number; other: string[] }
const newTally = (): Tally => ({ ok: 0, refused: 0, reset: 0, other: [] });

/** One GET on a fresh connection from `address`, classified. */
function once(port: number, address: string, tally: Tally): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress: address });
    let text = '';
    const done = (outcome: 'ok' | 'refused' | 'reset' | string): void => {
      socket.destroy();
      if (outcome === 'ok' || outcome === 'refused' || outcome === 'reset') tally[outcome]++;
      else tally.other.push(outcome);
      resolve();
    };
    socket.setTimeout(15_000, () => done('timeout'));
    socket.on('connect', () => socket.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
    socket.on('data', (chunk: Buffer) => { text += chunk.toString(); });
    socket.on('end', () => done(text.startsWith('HTTP/1.1 200 OK') ? 'ok' : `answer ${text.slice(0, 20)}`));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNREFUSED') done('refused');
      else if (error.code === 'ECONNRESET' || error.code === 'EPIPE') done('reset');
      else done(error.code ?? error.message);
    });
  });
}

/** CLIENTS loops of fresh connections until `stop()`. */
function load(port: number): { tally: Tally; until: (n: number) => Promise<void>; stop: () => Promise<Tally> } {
  const tally = newTally();
  let isRunning = true;
  const loops = ADDRESSES.map(async (address) => {
    while (isRunning) await once(port, address, tally);
  });
  return {
    tally,
    until: (n) => waitFor(() => tally.ok >= n, { timeout: 20_000, interval: 5 }),
    stop: async () => {
      isRunning = false;
      await Promise.all(loops);
      return tally;
    },
  };
}

/** `stress-ng --cpu 2` for the test; stopped when it ends. */
function cpuHog(): void {
  const hog = spawn('stress-ng', ['--cpu', '2', '--quiet'], { stdio: 'ignore' });
  hog.on('error', () => { /* not installed: the test runs without the hog */ });
  onTestFinished(async () => {
    if (hog.exitCode !== null || hog.pid === undefined) return;
    const exited = pEvent(hog, 'exit');
    hog.kill('SIGTERM');
    await exited;
  });
}

const figures: string[] = [];
afterAll(() => {
  if (isLong) console.log(`drain under load (16 clients, fresh connection per request, stress-ng --cpu 2):\n${figures.join('\n')}`);
});

function start(steering: 'kernel' | 'primary', workers: number): Promise<SpawnedCluster> {
  return spawnCluster('shutdown-app.mjs', { env: { WORKERS: String(workers), HOOK: 'none', OPTIONS: JSON.stringify({ steering }) } });
}

const planes = (['kernel', 'primary'] as const).filter((plane) => plane === 'primary' || isKernelAvailable);

describe.skipIf(!onLinux)('drain under load with a CPU hog', () => {
  for (const plane of planes) {
    it(`${plane}: ${ROUNDS.shutdowns} SIGTERM shutdown(s) reset nothing`, { timeout: 60_000 * ROUNDS.shutdowns }, async () => {
      cpuHog();
      const total = newTally();
      for (let round = 0; round < ROUNDS.shutdowns; round++) {
        const cluster = await start(plane, 2);
        const traffic = load(cluster.port);
        await traffic.until(ROUNDS.requests);
        cluster.child.kill('SIGTERM');
        expect((await waitForExit(cluster.child, 30_000)).code).toBe(0);
        // The port is closed: the clients are refused from now on.
        await waitFor(() => traffic.tally.refused >= CLIENTS, { timeout: 20_000, interval: 5 });
        const tally = await traffic.stop();
        total.ok += tally.ok;
        total.refused += tally.refused;
        total.reset += tally.reset;
        total.other.push(...tally.other);
      }
      figures.push(`${plane} plane, ${ROUNDS.shutdowns} shutdowns: ${total.ok} ok, ${total.refused} refused, ${total.reset} reset`);
      expect(total.other).toEqual([]);
      expect(total.reset).toBe(0);
    });

    it(`${plane}: ${ROUNDS.scaleDowns} scale-down(s) lose nothing`, { timeout: 60_000 * ROUNDS.scaleDowns }, async () => {
      cpuHog();
      const total = newTally();
      for (let round = 0; round < ROUNDS.scaleDowns; round++) {
        const cluster = await start(plane, ROUNDS.steps.length + 1);
        const traffic = load(cluster.port);
        await traffic.until(ROUNDS.requests);
        for (const to of ROUNDS.steps) {
          const scaled = pEvent(cluster.child, 'message', { filter: (message) => isMessage('scaled')(message) && (message as { to: number }).to === to, timeout: 30_000 });
          cluster.child.kill('SIGTTOU');
          await scaled;
          await traffic.until(ROUNDS.requests);
        }
        const tally = await traffic.stop();
        total.ok += tally.ok;
        total.refused += tally.refused;
        total.reset += tally.reset;
        total.other.push(...tally.other);
      }
      figures.push(`${plane} plane, ${ROUNDS.scaleDowns} × scale-down by ${ROUNDS.steps.length}: ${total.ok} ok, ${total.refused} refused, ${total.reset} reset`);
      expect(total.other).toEqual([]);
      expect(total.refused).toBe(0);
      expect(total.reset).toBe(0);
    });
  }
});
