import { expect, it } from 'vitest';
import { readySlot, spawnCluster, until, type SpawnedCluster } from '../helpers/cluster.js';
import { errorOf, run, runInWorker, seenWith, valueOf } from '../helpers/bus.js';
import type { PrimaryStats } from '../../dist/index.js';

// The bus when workers die or are replaced: nothing waits forever, and messages to a slot whose
// worker is being replaced wait for the replacement (bounded by `slotWaitTimeout`).

interface Whoami { workerId: number; slot: number; pid: number }

const exitOf = (cluster: SpawnedCluster, workerId: number): Promise<unknown> =>
  cluster.next('workerExit', { where: (m) => m.workerId === workerId });

it('a worker that dies mid-request fails the pending requests to it at once, from the primary and from another worker', async () => {
  const cluster = await spawnCluster('bus-app.mjs', { env: { WORKERS: '3', OPTIONS: JSON.stringify({ ipcTimeout: 60_000 }) } });
  const victim = readySlot(cluster, 1);
  const exited = exitOf(cluster, victim.workerId);
  // Two requests pending in the victim (one from the primary, one from another worker), then one that kills it.
  // With a 60 s timeout, only the exit can end them within the helper's 15 s wait.
  const pendingSlow = run(cluster, 'requestTo', { target: { workerId: victim.workerId }, channel: 'slow', payload: { ms: 60_000, tag: 'slow-1' } });
  const fromWorkerPending = runInWorker(cluster, { slot: 0 }, { op: 'requestTo', target: { workerId: victim.workerId }, channel: 'slow', payload: { ms: 60_000, tag: 'slow-2' } });
  const started = (): number => seenWith(cluster, (n) => n.startsWith('slow-')).filter((m) => m.workerId === victim.workerId).length;
  await until(() => started() === 2, { timeout: 10_000, what: 'both slow requests pending in the victim' });
  const fromPrimary = await run(cluster, 'requestTo', { target: { slot: 1 }, channel: 'die', payload: {} });
  const fromWorker = await fromWorkerPending;
  await exited;
  expect(errorOf(fromPrimary)).toMatchObject({ code: 'STICKY_ERR_IPC_WORKER_EXIT' });
  expect(errorOf(fromPrimary).message).toContain(`Worker ${victim.workerId}`);
  expect(errorOf(fromWorker).code).toBe('STICKY_ERR_IPC_WORKER_EXIT');
  expect(errorOf(await pendingSlow).code).toBe('STICKY_ERR_IPC_WORKER_EXIT');
  // The primary and the other workers carry on.
  expect(valueOf(await run<Whoami>(cluster, 'requestTo', { target: { slot: 2 }, channel: 'whoami', payload: {} })).slot).toBe(2);
});

it('messages and requests to a slot whose worker is being respawned wait for the replacement', async () => {
  const cluster = await spawnCluster('bus-app.mjs', { env: { WORKERS: '2', OPTIONS: JSON.stringify({ slotWaitTimeout: 15_000 }) } });
  const old = readySlot(cluster, 0);
  const exited = exitOf(cluster, old.workerId);
  valueOf(await run(cluster, 'kill', { target: { slot: 0 } }));
  await exited;
  // Sent while slot 0 has no worker.
  const [sent, answered] = await Promise.all([
    run(cluster, 'sendTo', { target: { slot: 0 }, channel: 'echo', payload: { n: 'after-crash' } }),
    run<Whoami>(cluster, 'requestTo', { target: { slot: 0 }, channel: 'whoami', payload: {} }),
  ]);
  expect(sent.ok).toBe(true);
  const replacement = valueOf(answered);
  expect(replacement.slot).toBe(0);
  expect(replacement.workerId).not.toBe(old.workerId);
  const echoes = (): { workerId: number }[] => seenWith(cluster, (n) => n === 'after-crash');
  await until(() => echoes().length > 0, { timeout: 5_000, what: 'the echo sent while slot 0 had no worker' });
  expect(echoes().map((m) => m.workerId)).toEqual([replacement.workerId]);
});

it('past `slotWaitTimeout` a message to a slot without a ready worker fails with STICKY_ERR_IPC_NO_WORKER', async () => {
  // One crash marks the slot failed (no respawn within the test), so nothing ever becomes ready there.
  const cluster = await spawnCluster('bus-app.mjs', { env: { WORKERS: '2', OPTIONS: JSON.stringify({ slotWaitTimeout: 300, maxRestarts: 0 }) } });
  const old = readySlot(cluster, 1);
  const exited = exitOf(cluster, old.workerId);
  valueOf(await run(cluster, 'kill', { target: { slot: 1 } }));
  await exited;
  const fromPrimary = errorOf(await run(cluster, 'sendTo', { target: { slot: 1 }, channel: 'echo', payload: {} }));
  expect(fromPrimary.code).toBe('STICKY_ERR_IPC_NO_WORKER');
  expect(fromPrimary.message).toContain('slotWaitTimeout');
  const fromWorker = errorOf(await runInWorker(cluster, { slot: 0 }, { op: 'requestTo', target: { slot: 1 }, channel: 'whoami', payload: {} }));
  expect(fromWorker.code).toBe('STICKY_ERR_IPC_NO_WORKER');
  // The old worker's id is gone too.
  expect(errorOf(await run(cluster, 'sendTo', { target: { workerId: old.workerId }, channel: 'echo', payload: {} })).code).toBe('STICKY_ERR_IPC_NO_WORKER');
});

it('requests keep being answered through a rolling restart, by the new workers afterwards', async () => {
  const cluster = await spawnCluster('bus-app.mjs', { env: { WORKERS: '2' } });
  const before = cluster.ready.workers.map((s) => s.workerId);
  const reload = run<number>(cluster, 'reload', {}, 30_000);
  let isReloading = true;
  void reload.finally(() => { isReloading = false; });
  const failures: string[] = [];
  let answered = 0;
  while (isReloading) {
    const results = await Promise.all([0, 1].map((slot) => run<Whoami>(cluster, 'requestTo', { target: { slot }, channel: 'whoami', payload: {} })));
    for (const result of results) {
      if (result.ok) answered++;
      else failures.push(`${result.error.code}: ${result.error.message}`);
    }
  }
  expect(valueOf(await reload)).toBe(2);
  expect(failures).toEqual([]);
  expect(answered).toBeGreaterThan(0);
  for (const slot of [0, 1]) {
    const now = valueOf(await run<Whoami>(cluster, 'requestTo', { target: { slot }, channel: 'whoami', payload: {} }));
    expect(before).not.toContain(now.workerId);
  }
});

it('a request whose caller gave up while it waited for the slot\'s replacement never reaches the replacement', async () => {
  // The replacement is held (it does not listen) until the test releases it: the slot stays without a
  // ready worker for as long as the callers take to give up, however slow the machine.
  const cluster = await spawnCluster('bus-app.mjs', { env: { WORKERS: '2', HOLD_REPLACEMENTS: '1', OPTIONS: JSON.stringify({ slotWaitTimeout: 15_000 }) } });
  const old = readySlot(cluster, 0);
  const exited = exitOf(cluster, old.workerId);
  valueOf(await run(cluster, 'kill', { target: { slot: 0 } }));
  await exited;
  const slow = (tag: string): Record<string, unknown> => ({ target: { slot: 0 }, channel: 'slow', payload: { ms: 1, tag } });
  // Given up from the primary and from another worker (forwarded by the primary), by abort and by timeout.
  const givenUp = Promise.all([
    run(cluster, 'requestTo', { ...slow('aborted'), abortAfter: 50 }),
    run(cluster, 'requestTo', { ...slow('timed-out'), timeout: 100 }),
    runInWorker(cluster, { slot: 1 }, { op: 'requestTo', ...slow('aborted-in-worker'), abortAfter: 50 }),
    runInWorker(cluster, { slot: 1 }, { op: 'requestTo', ...slow('timed-out-in-worker'), timeout: 100 }),
  ]);
  const kept = run<string>(cluster, 'requestTo', slow('kept'));
  const [aborted, timedOut, abortedInWorker, timedOutInWorker] = await givenUp;
  // All four gave up while the slot had no worker.
  expect(valueOf(await run<PrimaryStats>(cluster, 'stats')).slots[0]?.isReady).toBe(false);
  expect(errorOf(aborted).message).toBe('aborted by the caller');
  expect(errorOf(abortedInWorker).message).toBe('aborted by the caller');
  expect(errorOf(timedOut).code).toBe('STICKY_ERR_IPC_TIMEOUT');
  expect(errorOf(timedOutInWorker).code).toBe('STICKY_ERR_IPC_TIMEOUT');
  valueOf(await run(cluster, 'release'));
  // The one still wanted reaches the replacement, which saw nothing else (a request sent to it
  // afterwards comes after anything released to it when it became ready).
  expect(valueOf(await kept)).toBe('late');
  expect(valueOf(await run<string>(cluster, 'requestTo', slow('last')))).toBe('late');
  const seen = cluster.all('seen', (m) => m.workerId !== old.workerId).map((m) => m.payload?.n);
  expect(seen).toEqual(['kept', 'last']);
});
