import { expect, it } from 'vitest';
import { pEvent } from 'p-event';
import { isMessage, spawnCluster, waitFor, type FixtureMessage } from '../helpers/cluster.js';
import { errorOf, run, runInWorker, valueOf } from '../helpers/bus.js';

// The bus when workers die or are replaced: nothing waits forever, and messages to a slot whose
// worker is being replaced wait for the replacement (bounded by `slotWaitTimeout`).

interface SlotInfo { slot: number; workerId: number; pid: number }
interface Whoami { workerId: number; slot: number; pid: number }

const exitOf = (workerId: number) => (m: unknown): boolean => isMessage('workerExit')(m) && (m as FixtureMessage).workerId === workerId;

it('a worker that dies mid-request fails the pending requests to it at once, from the primary and from another worker', async () => {
  const cluster = await spawnCluster('bus-app.mjs', { env: { WORKERS: '3', OPTIONS: JSON.stringify({ ipcTimeout: 60_000 }) } });
  const victim = (cluster.ready.workers as SlotInfo[])[1] as SlotInfo;
  const exited = pEvent(cluster.child, 'message', { filter: exitOf(victim.workerId), timeout: 10_000 });
  // Two requests pending in the victim (one from the primary, one from another worker), then one that kills it.
  // With a 60 s timeout, only the exit can end them within the helper's 15 s wait.
  const pendingSlow = run(cluster, 'requestTo', { target: { workerId: victim.workerId }, channel: 'slow', payload: { ms: 60_000, tag: 'slow-1' } });
  const fromWorkerPending = runInWorker(cluster, { slot: 0 }, { op: 'requestTo', target: { workerId: victim.workerId }, channel: 'slow', payload: { ms: 60_000, tag: 'slow-2' } });
  const started = (m: FixtureMessage): boolean => m.type === 'seen' && m.workerId === victim.workerId && String((m.payload as { n: string }).n).startsWith('slow-');
  await waitFor(() => cluster.messages.filter(started).length === 2, { timeout: 10_000 });
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
  const old = (cluster.ready.workers as SlotInfo[])[0] as SlotInfo;
  const exited = pEvent(cluster.child, 'message', { filter: exitOf(old.workerId), timeout: 10_000 });
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
  const isEcho = (m: FixtureMessage): boolean => m.type === 'seen' && (m.payload as { n: string }).n === 'after-crash';
  await waitFor(() => cluster.messages.some(isEcho), { timeout: 5_000 });
  expect(cluster.messages.filter(isEcho).map((m) => m.workerId)).toEqual([replacement.workerId]);
});

it('past `slotWaitTimeout` a message to a slot without a ready worker fails with STICKY_ERR_IPC_NO_WORKER', async () => {
  // One crash marks the slot failed (no respawn within the test), so nothing ever becomes ready there.
  const cluster = await spawnCluster('bus-app.mjs', { env: { WORKERS: '2', OPTIONS: JSON.stringify({ slotWaitTimeout: 300, maxRestarts: 0 }) } });
  const old = (cluster.ready.workers as SlotInfo[])[1] as SlotInfo;
  const exited = pEvent(cluster.child, 'message', { filter: exitOf(old.workerId), timeout: 10_000 });
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
  const before = (cluster.ready.workers as SlotInfo[]).map((s) => s.workerId);
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
  // A slow respawn: the slot stays without a worker for a second.
  const cluster = await spawnCluster('bus-app.mjs', { env: { WORKERS: '2', OPTIONS: JSON.stringify({ slotWaitTimeout: 15_000, respawnDelay: 1_000 }) } });
  const old = (cluster.ready.workers as SlotInfo[])[0] as SlotInfo;
  const exited = pEvent(cluster.child, 'message', { filter: exitOf(old.workerId), timeout: 10_000 });
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
  expect(valueOf(await run<{ slots: { isReady: boolean }[] }>(cluster, 'stats')).slots[0]?.isReady).toBe(false);
  expect(errorOf(aborted).message).toBe('aborted by the caller');
  expect(errorOf(abortedInWorker).message).toBe('aborted by the caller');
  expect(errorOf(timedOut).code).toBe('STICKY_ERR_IPC_TIMEOUT');
  expect(errorOf(timedOutInWorker).code).toBe('STICKY_ERR_IPC_TIMEOUT');
  // The one still wanted reaches the replacement, which saw nothing else (a request sent to it
  // afterwards comes after anything released to it when it became ready).
  expect(valueOf(await kept)).toBe('late');
  expect(valueOf(await run<string>(cluster, 'requestTo', slow('last')))).toBe('late');
  const seen = cluster.messages.filter((m) => m.type === 'seen' && m.workerId !== old.workerId).map((m) => (m.payload as { n: string }).n);
  expect(seen).toEqual(['kept', 'last']);
});
