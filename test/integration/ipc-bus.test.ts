import { describe, expect, it } from 'vitest';
import { readySlot, until, useSharedCluster, type ReadySlot } from '../helpers/cluster.js';
import { errorOf, run, runInWorker, seenWith, valueOf } from '../helpers/bus.js';
import { request, sourceAddress } from '../helpers/client.js';
import { onLinux } from '../helpers/platform.js';

// The application bus between real processes: every direction, broadcast, request/response with
// its failures (timeout, abort, remote error, no responder), and routing by key.

interface Whoami { workerId: number; slot: number; pid: number; payload: unknown; from: { kind: string; workerId?: number; slot?: number } }

const WORKERS = 3;

describe('bus between the primary and its workers', () => {
  const cluster = useSharedCluster('bus-app.mjs', { env: { WORKERS: String(WORKERS) } });
  const slots = (): ReadySlot[] => cluster().ready.workers;
  const slot = (n: number): { slot: number; workerId: number; pid: number } => {
    const { slot: index, workerId, pid } = readySlot(cluster(), n);
    return { slot: index, workerId, pid };
  };
  const seen = (match: (tag: string) => boolean): ReturnType<typeof seenWith> => seenWith(cluster(), match);

  it('worker → primary: every worker\'s message arrives with its sender', async () => {
    await until(() => cluster().all('hello').length === WORKERS, { timeout: 5_000 });
    const hellos = cluster().all('hello');
    for (const info of slots()) {
      const hello = hellos.find((m) => m.workerId === info.workerId);
      expect(hello).toMatchObject({ slot: info.slot, pid: info.pid, sender: { kind: 'worker', workerId: info.workerId, slot: info.slot } });
    }
  });

  it('primary → one worker, by worker id and by slot', async () => {
    const target = slot(1);
    expect(valueOf(await run(cluster(), 'sendTo', { target: { workerId: target.workerId }, channel: 'echo', payload: { n: 'by-id' } }))).toBeUndefined();
    expect(valueOf(await run(cluster(), 'sendTo', { target: { slot: 2 }, channel: 'echo', payload: { n: 'by-slot' } }))).toBeUndefined();
    await until(() => seen((n) => n.startsWith('by-')).length === 2, { timeout: 5_000 });
    expect(seen((n) => n === 'by-id').map((m) => m.workerId)).toEqual([target.workerId]);
    expect(seen((n) => n === 'by-slot').map((m) => m.workerId)).toEqual([slot(2).workerId]);
    expect(seen((n) => n === 'by-id')[0]?.from).toEqual({ kind: 'primary' });
  });

  it('primary → all workers: a broadcast reaches each worker once', async () => {
    expect(valueOf(await run(cluster(), 'broadcast', { channel: 'echo', payload: { n: 'purge' } }))).toBe(WORKERS);
    await until(() => seen((n) => n === 'purge').length === WORKERS, { timeout: 5_000 });
    expect(seen((n) => n === 'purge').map((m) => m.workerId).sort()).toEqual(slots().map((s) => s.workerId).sort());
  });

  it('worker → worker through the primary, and a worker\'s broadcast (without and with itself)', async () => {
    const from = slot(0);
    const to = slot(2);
    expect(valueOf(await runInWorker(cluster(), { slot: 0 }, { op: 'sendTo', target: { slot: 2 }, channel: 'echo', payload: { n: 'w2w' } }))).toBeUndefined();
    await until(() => seen((n) => n === 'w2w').length === 1, { timeout: 5_000 });
    expect(seen((n) => n === 'w2w')[0]).toMatchObject({ workerId: to.workerId, from: { kind: 'worker', workerId: from.workerId, slot: 0 } });

    expect(valueOf(await runInWorker(cluster(), { slot: 0 }, { op: 'broadcast', channel: 'echo', payload: { n: 'w-bcast' } }))).toBe(WORKERS - 1);
    expect(valueOf(await runInWorker(cluster(), { slot: 1 }, { op: 'broadcast', channel: 'echo', payload: { n: 'w-bcast-self' }, includeSelf: true }))).toBe(WORKERS);
    await until(() => seen((n) => n.startsWith('w-bcast')).length === 2 * WORKERS - 1, { timeout: 5_000 });
    expect(seen((n) => n === 'w-bcast').map((m) => m.workerId).sort()).toEqual([slot(1).workerId, slot(2).workerId].sort());
  });

  it('request/response: primary → worker, worker → primary, worker → worker', async () => {
    const answer = valueOf(await run<Whoami>(cluster(), 'requestTo', { target: { slot: 1 }, channel: 'whoami', payload: { q: 1 } }));
    expect(answer).toEqual({ ...slot(1), payload: { q: 1 }, from: { kind: 'primary' } });

    const task = valueOf(await runInWorker<{ task: number; from: unknown }>(cluster(), { slot: 2 }, { op: 'request', channel: 'task:next', payload: { want: 1 } }));
    expect(task.from).toEqual({ kind: 'worker', workerId: slot(2).workerId, slot: 2 });
    const next = valueOf(await runInWorker<{ task: number }>(cluster(), { slot: 0 }, { op: 'request', channel: 'task:next', payload: {} }));
    expect(next.task).toBe(task.task + 1);

    const peer = valueOf(await runInWorker<Whoami>(cluster(), { slot: 0 }, { op: 'requestTo', target: { workerId: slot(1).workerId }, channel: 'whoami', payload: 'hi' }));
    expect(peer).toEqual({ ...slot(1), payload: 'hi', from: { kind: 'worker', workerId: slot(0).workerId, slot: 0 } });
  });

  it('many concurrent requests each get their own response (correlation ids)', async () => {
    const results = await Promise.all(Array.from({ length: 60 }, (_, i) =>
      run<Whoami>(cluster(), 'requestTo', { target: { slot: i % WORKERS }, channel: 'whoami', payload: i })));
    results.forEach((result, i) => {
      const value = valueOf(result);
      expect(value.payload).toBe(i);
      expect(value.slot).toBe(i % WORKERS);
    });
  });

  it('a request past its timeout rejects with STICKY_ERR_IPC_TIMEOUT, also between workers', async () => {
    // The responder answers after a minute, past the test's own deadline: a settled request that is a
    // timeout error (not the answer) shows the timeout fired, however slow the machine.
    const error = errorOf(await run(cluster(), 'requestTo', { target: { slot: 0 }, channel: 'slow', payload: { ms: 60_000 }, timeout: 150 }));
    expect(error.code).toBe('STICKY_ERR_IPC_TIMEOUT');
    expect(error.message).toContain("'slow'");

    const fromWorker = errorOf(await runInWorker(cluster(), { slot: 1 }, { op: 'requestTo', target: { slot: 2 }, channel: 'slow', payload: { ms: 60_000 }, timeout: 150 }));
    expect(fromWorker.code).toBe('STICKY_ERR_IPC_TIMEOUT');
  });

  it('an aborted request rejects with the signal\'s reason', async () => {
    const error = errorOf(await run(cluster(), 'requestTo', { target: { slot: 0 }, channel: 'slow', payload: { ms: 3_000 }, abortAfter: 50 }));
    expect(error.message).toBe('aborted by the caller');
    const fromWorker = errorOf(await runInWorker(cluster(), { slot: 2 }, { op: 'requestTo', target: { slot: 0 }, channel: 'slow', payload: { ms: 3_000 }, abortAfter: 50 }));
    expect(fromWorker.message).toBe('aborted by the caller');
  });

  it('a responder\'s error travels back with its code, message and stack', async () => {
    const error = errorOf(await run(cluster(), 'requestTo', { target: { slot: 1 }, channel: 'fail', payload: { user: 'ann' } }));
    expect(error).toMatchObject({ name: 'StickyError', code: 'STICKY_ERR_IPC_REMOTE', message: 'no user ann', remoteCode: 'E_NOT_FOUND', remoteName: 'Error', channel: 'fail' });
    expect(error.stack).toContain('lookUpUser');
    expect(error.stack).toContain('bus-app.mjs');

    const rejected = errorOf(await run(cluster(), 'requestTo', { target: { slot: 1 }, channel: 'failAsync', payload: {} }));
    expect(rejected).toMatchObject({ code: 'STICKY_ERR_IPC_REMOTE', message: 'bad input', remoteName: 'TypeError' });

    const fromPrimary = errorOf(await runInWorker(cluster(), { slot: 0 }, { op: 'request', channel: 'fail', payload: {} }));
    expect(fromPrimary).toMatchObject({ code: 'STICKY_ERR_IPC_REMOTE', message: 'primary says no', remoteCode: 'E_PRIMARY', remoteName: 'RangeError' });

    const between = errorOf(await runInWorker(cluster(), { slot: 0 }, { op: 'requestTo', target: { slot: 2 }, channel: 'fail', payload: { user: 'bo' } }));
    expect(between).toMatchObject({ code: 'STICKY_ERR_IPC_REMOTE', message: 'no user bo', remoteCode: 'E_NOT_FOUND' });
  });

  it('a channel without a responder, an unknown worker and a bad slot fail at once with their codes', async () => {
    expect(errorOf(await run(cluster(), 'requestTo', { target: { slot: 0 }, channel: 'nobody', payload: {} })).code).toBe('STICKY_ERR_IPC_NO_HANDLER');
    expect(errorOf(await runInWorker(cluster(), { slot: 0 }, { op: 'request', channel: 'nobody', payload: {} })).code).toBe('STICKY_ERR_IPC_NO_HANDLER');
    expect(errorOf(await run(cluster(), 'sendTo', { target: { workerId: 999 }, channel: 'echo', payload: {} })).code).toBe('STICKY_ERR_IPC_NO_WORKER');
    expect(errorOf(await run(cluster(), 'requestTo', { target: { slot: WORKERS }, channel: 'whoami', payload: {} })).code).toBe('STICKY_ERR_IPC_NO_WORKER');
    expect(errorOf(await runInWorker(cluster(), { slot: 1 }, { op: 'sendTo', target: { slot: 7 }, channel: 'echo', payload: {} })).code).toBe('STICKY_ERR_IPC_NO_WORKER');
    expect(errorOf(await run(cluster(), 'requestTo', { target: { key: 'not an address' }, channel: 'whoami', payload: {} })).code).toBe('STICKY_ERR_IPC_NO_WORKER');
  });

  it.skipIf(!onLinux)('route by key: the answering worker is the one that serves that client\'s connections', async () => {
    const { port } = cluster();
    const seenWorkers = new Set<number>();
    for (let i = 0; i < 12; i++) {
      const address = sourceAddress(40 + i);
      const served = (await request({ port, localAddress: address })).reply.workerId;
      seenWorkers.add(served);
      const fromPrimary = valueOf(await run<Whoami>(cluster(), 'requestTo', { target: { key: address }, channel: 'whoami', payload: null }));
      expect(fromPrimary.workerId).toBe(served);
      const fromWorker = valueOf(await runInWorker<Whoami>(cluster(), { slot: i % WORKERS }, { op: 'requestTo', target: { key: address }, channel: 'whoami', payload: null }));
      expect(fromWorker.workerId).toBe(served);
      // The same address written as IPv4-mapped IPv6 is the same client.
      const mapped = valueOf(await run<Whoami>(cluster(), 'requestTo', { target: { key: `::ffff:${address}` }, channel: 'whoami', payload: null }));
      expect(mapped.workerId).toBe(served);
    }
    expect(seenWorkers.size).toBeGreaterThan(1);
  });

  it('bad bus frames from a worker are dropped and counted; the primary keeps answering', async () => {
    const before = valueOf(await run<{ dropped: number }>(cluster(), 'busStats')).dropped;
    const junk = [null, 1, 'x', [], { k: 'q' }, { k: 'q', i: 'a', c: 'whoami', d: 1, t: 1 }, { k: 'q', i: 1, c: 'whoami', d: 1, t: -1 },
      { k: 'q', i: 2, c: 'whoami', d: 1, t: 5, to: { nope: 1 } }, { k: 'r' }, { k: 'e', i: 5, e: 'no' }, { k: 'm', c: 3 }, { k: 'r', i: 987654 }];
    const envelopes = [
      { __sticky: 1, v: 1, type: 'sticky:bus', payload: junk },
      { __sticky: 1, v: 1, type: 'sticky:bus', payload: 'x' },
      { __sticky: 1, v: 1, type: 'sticky:bus' },
      { __sticky: 1, v: 2, type: 'sticky:bus', payload: [{ k: 'm', c: 'hello', d: {} }] },
    ];
    for (const payload of envelopes) expect(valueOf(await runInWorker(cluster(), { slot: 0 }, { op: 'raw', payload }))).toBeUndefined();
    const after = valueOf(await run<{ dropped: number }>(cluster(), 'busStats')).dropped;
    expect(after - before).toBe(junk.length);
    expect(valueOf(await run<{ state: string; restarts: number }>(cluster(), 'stats'))).toMatchObject({ state: 'running', restarts: 0 });
    expect(valueOf(await run<Whoami>(cluster(), 'requestTo', { target: { slot: 0 }, channel: 'whoami', payload: 'still' })).payload).toBe('still');
  });
});
