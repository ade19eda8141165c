import { expect, it } from 'vitest';
import { defaultPlane, spawnCluster, until, type MessageOf } from '../helpers/cluster.js';
import { mapLimit, request, sourceAddress, type WorkerReply } from '../helpers/client.js';
import { onLinux } from '../helpers/platform.js';

// A worker killed with SIGKILL under load: the primary lives, no client of another worker moves, and
// the dead worker's clients are served by its replacement in the same slot.

const WORKERS = 4;
const CLIENTS = 24;

interface SlotState { slot: number; workerId: number; pid: number }

it.skipIf(!onLinux)('keeps every other client in place when a worker is killed, and gives the slot\'s clients to the replacement', async () => {
  // A generous slot wait, so that the slot's clients wait for the replacement even on a slow machine.
  const cluster = await spawnCluster('app.mjs', { env: { WORKERS: String(WORKERS), MODE: 'ip', OPTIONS: JSON.stringify({ slotWaitTimeout: 15_000 }) } });
  const { child, port } = cluster;
  const slots = cluster.ready.workers;
  // On Linux this runs over the kernel plane: the dead worker's clients wait in its slot socket's queue.
  expect((cluster.ready.steering as { plane: string }).plane).toBe(defaultPlane());
  const addresses = Array.from({ length: CLIENTS }, (_, i) => sourceAddress(200 + i));
  const before = new Map<string, WorkerReply>();
  for (const [index, reply] of (await mapLimit(addresses, 8, (localAddress) => request({ port, localAddress }))).entries()) {
    expect(reply.status).toBe(200);
    before.set(addresses[index] as string, reply.reply);
  }

  const victim = before.get(addresses[0] as string) as WorkerReply;
  expect(slots.find((slot) => slot.slot === victim.slot)?.pid).toBe(victim.pid);
  const victimClients = addresses.filter((address) => before.get(address)?.workerId === victim.workerId);
  const otherClients = addresses.filter((address) => before.get(address)?.workerId !== victim.workerId);
  expect(new Set(otherClients.map((address) => before.get(address)?.workerId)).size).toBe(WORKERS - 1);

  // Load from the other workers' clients, running across the kill and the respawn.
  let isLoaded = true;
  let rounds = 0;
  const failures: string[] = [];
  const moved: string[] = [];
  const lane = async (address: string): Promise<void> => {
    while (isLoaded) {
      try {
        const { status, reply } = await request({ port, localAddress: address });
        if (status !== 200 || reply.workerId !== before.get(address)?.workerId || reply.pid !== before.get(address)?.pid) {
          moved.push(`${address}: ${status} ${reply.workerId}/${reply.pid}`);
        }
      } catch (error) {
        failures.push(`${address}: ${(error as Error).message}`);
      }
      rounds++;
    }
  };
  const load = Promise.all(otherClients.map(lane));

  const exited = cluster.next('workerExit', { where: (m) => m.slot === victim.slot, timeout: 10_000 });
  const replaced = cluster.next('workerReady', { where: (m) => m.slot === victim.slot, timeout: 10_000 });
  const roundsBeforeKill = rounds;
  let roundsAtReady = 0;
  let ready: MessageOf<'workerReady'>;
  let waitingForReplacement: ReturnType<typeof request>[];
  try {
    process.kill(victim.pid, 'SIGKILL');
    const exit = await exited;
    expect(exit).toMatchObject({ pid: victim.pid, workerId: victim.workerId, signal: 'SIGKILL', expected: false });
    // Sent from the moment the primary saw the exit: they wait for the slot's replacement.
    waitingForReplacement = victimClients.map((localAddress) => request({ port, localAddress }));
    ready = await replaced;
    expect(ready.pid).not.toBe(victim.pid);
    roundsAtReady = rounds;
    // Keep the load on for about two more rounds of every lane after the replacement is up.
    await until(() => rounds >= roundsAtReady + otherClients.length * 2, { timeout: 10_000 });
  } finally {
    isLoaded = false;
    await load;
  }

  expect(failures).toEqual([]);
  expect(moved).toEqual([]);
  expect(roundsAtReady).toBeGreaterThan(roundsBeforeKill);

  for (const response of await Promise.all(waitingForReplacement)) {
    expect(response.status).toBe(200);
    expect(response.reply).toMatchObject({ slot: victim.slot, pid: ready.pid, workerId: ready.workerId });
  }
  for (const localAddress of victimClients) {
    expect((await request({ port, localAddress })).reply).toMatchObject({ slot: victim.slot, pid: ready.pid });
  }

  // The primary lived through it and counts one restart.
  expect(child.exitCode).toBeNull();
  const stats = (await cluster.ask('stats')).stats as { readyWorkers: number; restarts: number; slots: SlotState[] };
  expect(stats.readyWorkers).toBe(WORKERS);
  expect(stats.restarts).toBe(1);
  expect(stats.slots.find((slot) => slot.slot === victim.slot)?.pid).toBe(ready.pid);
  expect(stats.slots.filter((slot) => slot.slot !== victim.slot).map((slot) => slot.pid))
    .toEqual(slots.filter((slot) => slot.slot !== victim.slot).map((slot) => slot.pid));
});
