import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readySlot, spawnCluster, until, type MessageOf, type SpawnedCluster } from '../helpers/cluster.js';
import { run, runInWorker, valueOf, type Settled } from '../helpers/bus.js';
import type { BusStats, PrimaryStats } from '../../dist/index.js';
import { rawExchange, sourceAddress } from '../helpers/client.js';
import { isKernelAvailable } from '../helpers/platform.js';

// A worker that turns against the primary and the other workers over its IPC channel: it forges
// responses to requests sent to another worker (ids are sequential, so it sprays them), sends sockets
// with messages nobody takes, floods the primary with another protocol version's messages, asks for
// timeouts no timer holds, and reports garbage upstream-reuse counts. The primary survives all of it,
// answers only from the worker a request went to, closes the sockets, logs a few lines and counts the rest.

const slotOf = readySlot;
const seen = (cluster: SpawnedCluster, filter: (m: MessageOf<'seen'>) => boolean): MessageOf<'seen'>[] => cluster.all('seen', filter);

/** Has the worker in `slot` run the attack `op`, and waits until the primary relayed that it did. */
async function attack(cluster: SpawnedCluster, slot: number, op: string, args: Record<string, unknown>): Promise<void> {
  const before = seen(cluster, (m) => m.done === op).length;
  valueOf(await run(cluster, 'sendTo', { target: { slot }, channel: 'do', payload: { op, ...args } }));
  await until(() => seen(cluster, (m) => m.done === op).length > before, { timeout: 10_000 });
  // hostile-worker.mjs reports the attack's outcome as settled data.
  const report = seen(cluster, (m) => m.done === op).at(-1) as MessageOf<'seen'> & { result: Settled };
  expect(report.result).toEqual({ ok: true });
}

const busStats = async (cluster: SpawnedCluster): Promise<BusStats> =>
  valueOf(await run<BusStats>(cluster, 'busStats'));
const stats = async (cluster: SpawnedCluster): Promise<PrimaryStats> =>
  valueOf(await run<PrimaryStats>(cluster, 'stats'));
const logLines = (cluster: SpawnedCluster): Record<string, unknown>[] => cluster.output().split('\n')
  .filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, unknown>);
const openFds = (pid: number): number => readdirSync(`/proc/${pid}/fd`).length;

describe('forged bus responses', () => {
  it('primary → worker: a response from another worker is dropped; the caller gets the real one', async () => {
    const cluster = await spawnCluster('hostile-worker.mjs', { env: { WORKERS: '2' } });
    const victim = slotOf(cluster, 0);
    const hold = { target: { slot: 0 }, channel: 'hold', payload: { tag: 'p2w' }, timeout: 15_000 };
    const pending = run(cluster, 'requestTo', hold);
    await until(() => seen(cluster, (m) => m.held === 'p2w').length === 1, { timeout: 5_000 });
    const before = await busStats(cluster);
    // Worker 1 answers every id the primary may have used so far, the victim's pending one among them.
    await attack(cluster, 1, 'forge', { from: 1, to: 1_000 });
    valueOf(await run(cluster, 'sendTo', { target: { slot: 0 }, channel: 'release', payload: {} }));
    expect(valueOf(await pending)).toEqual({ real: victim.workerId });
    const after = await busStats(cluster);
    expect(after.foreignResponses - before.foreignResponses).toBe(1);
    // The other 999 ids wait for nothing: dropped, as a late response.
    expect(after.dropped - before.dropped).toBe(999);
    expect((await stats(cluster)).state).toBe('running');
  });

  it('worker → worker: only the worker the request was forwarded to answers it', async () => {
    const cluster = await spawnCluster('hostile-worker.mjs', { env: { WORKERS: '3' } });
    const victim = slotOf(cluster, 0);
    // Worker 2 asks worker 0 through the primary, which forwards it under an id of its own (negative).
    const hold = { op: 'requestTo', target: { slot: 0 }, channel: 'hold', payload: { tag: 'w2w' }, timeout: 15_000 };
    const pending = runInWorker(cluster, { slot: 2 }, hold);
    await until(() => seen(cluster, (m) => m.held === 'w2w').length === 1, { timeout: 5_000 });
    const before = await busStats(cluster);
    await attack(cluster, 1, 'forge', { from: -1_000, to: -1 });
    valueOf(await run(cluster, 'sendTo', { target: { slot: 0 }, channel: 'release', payload: {} }));
    expect(valueOf(await pending)).toEqual({ real: victim.workerId });
    const after = await busStats(cluster);
    expect(after.foreignResponses - before.foreignResponses).toBe(1);
    expect(after.dropped - before.dropped).toBe(999);
  });
});

describe('what a worker sends the primary on its channel', () => {
  it('a forwarded request with a timeout no timer can hold is dropped, without a warning per frame', async () => {
    const cluster = await spawnCluster('hostile-worker.mjs', { env: { WORKERS: '2' } });
    const before = await busStats(cluster);
    const frames = Array.from({ length: 200 }, (_, n) =>
      ({ k: 'q', i: n + 1, c: 'none', d: null, t: 1e308, to: { s: 0 } }));
    await attack(cluster, 1, 'raw', { messages: [{ __sticky: 1, v: 1, type: 'sticky:bus', payload: frames }] });
    valueOf(await run(cluster, 'mark', { text: 'after-timeouts' }));
    await until(() => cluster.output().includes('after-timeouts'), { timeout: 5_000 });
    expect(cluster.output()).not.toContain('TimeoutOverflowWarning');
    expect((await busStats(cluster)).dropped - before.dropped).toBe(200);
  });

  it.runIf(process.platform === 'linux')('sockets sent with messages nobody takes are closed: fds come back', async () => {
    const cluster = await spawnCluster('hostile-worker.mjs', { env: { WORKERS: '2' } });
    const pid = cluster.child.pid as number;
    const baseline = openFds(pid);
    await attack(cluster, 1, 'handles', { count: 100 });
    await until(() => openFds(pid) <= baseline + 3, { timeout: 5_000 });
    const after = await stats(cluster);
    expect(after.ipc.closedHandles).toBe(100);
    expect(after.state).toBe('running');
    expect(after.readyWorkers).toBe(2);

    // An application that listens to its workers' messages itself gets the sockets, open.
    valueOf(await run(cluster, 'adoptHandles'));
    await attack(cluster, 0, 'handles', { count: 5 });
    expect(valueOf(await run(cluster, 'adopted'))).toEqual({ count: 5, open: 5 });
    expect((await stats(cluster)).ipc.closedHandles).toBe(100);
  });

  it('2,000 messages of another protocol version: one warning (a few at most), all counted', async () => {
    const cluster = await spawnCluster('hostile-worker.mjs', { env: { WORKERS: '2' } });
    const victim = slotOf(cluster, 1);
    const messages = [
      { __sticky: 1, v: 99, type: 'sticky:ready', payload: {} },
      { __sticky: 1, v: 2, type: 'sticky:bus', payload: [{ k: 'r', i: 1, d: 'x' }] },
    ];
    await attack(cluster, 1, 'raw', { messages, repeat: 1_000 });
    // The marker goes to the same stderr pipe after every warning the primary wrote.
    valueOf(await run(cluster, 'mark', { text: 'after-flood' }));
    await until(() => cluster.output().includes('after-flood'), { timeout: 5_000 });
    const warnings = logLines(cluster).filter((line) => line.msg === 'protocol version mismatch');
    expect(warnings.length).toBeGreaterThanOrEqual(1);
    expect(warnings.length).toBeLessThanOrEqual(3);
    expect(warnings[0]).toMatchObject({ workerId: victim.workerId, version: 99 });
    const after = await stats(cluster);
    expect(after.ipc.versionMismatches).toBe(2_000);
    expect(after.state).toBe('running');
  });

  it('garbage upstream-reuse counts are dropped and counted; the figures stay as they were', async () => {
    const cluster = await spawnCluster('hostile-worker.mjs', { env: { WORKERS: '2' } });
    const report = (payload: unknown): unknown => ({ __sticky: 1, v: 1, type: 'sticky:upstreamReuse', payload });
    const garbage = [
      { requests: -1, connections: 0 },
      { requests: 'NaN', connections: 1 },
      { requests: 1e308, connections: 1e308 },
      { requests: 1e308, connections: 1 },
      { requests: 2 ** 53, connections: 1 },
      { requests: 1.5, connections: 1 },
      { requests: {}, connections: [] },
      { requests: null, connections: null },
      { requests: 5, connections: 6 },
      { requests: 5 },
    ];
    await attack(cluster, 1, 'raw', { messages: garbage.map(report) });
    let after = await stats(cluster);
    expect(after.connections).toMatchObject({ upstreamReuseRequests: 0, upstreamReuseConnections: 0 });
    expect(after.ipc.invalidMessages).toBe(garbage.length);
    expect(after.state).toBe('running');
    expect(cluster.messages.filter((m) => m.type === 'upstreamReuse')).toEqual([]);

    // Reports in bounds still count, but a worker that sends them in a loop gets no log line each.
    await attack(cluster, 1, 'raw', { messages: [report({ requests: 3, connections: 1 })], repeat: 500 });
    after = await stats(cluster);
    expect(after.connections).toMatchObject({ upstreamReuseRequests: 1_500, upstreamReuseConnections: 500 });
    expect(after.ipc.invalidMessages).toBe(garbage.length);
    valueOf(await run(cluster, 'mark', { text: 'after-reports' }));
    await until(() => cluster.output().includes('after-reports'), { timeout: 5_000 });
    const warnings = logLines(cluster).filter((line) => line.msg === 'upstream connections carry several clients');
    expect(warnings.length).toBeGreaterThanOrEqual(1);
    expect(warnings.length).toBeLessThanOrEqual(3);
  });
});

describe('a worker that abuses its native handoff channel', () => {
  /** The worker id that answers a fresh connection from `localAddress` (the fixture answers its id). */
  const answerer = async (port: number, localAddress: string): Promise<number> => {
    const { text } = await rawExchange(port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', { localAddress });
    return Number(text.split('\r\n\r\n')[1]);
  };

  it.runIf(isKernelAvailable)('descriptors and absurd answers on it are closed and ignored, what it leaves unread fails over; an oversized packet ends it and IPC takes over', async () => {
    const cluster = await spawnCluster('hostile-worker.mjs', {
      env: { WORKERS: '2', STEAL_HANDOFF: '1', OPTIONS: JSON.stringify({ steering: 'primary', nativeHandoff: true, slotWaitTimeout: 300 }) },
    });
    const pid = cluster.child.pid as number;
    const hostile = slotOf(cluster, 0).workerId;
    const other = slotOf(cluster, 1).workerId;
    // A client of the hostile worker's slot; until the worker answers on its channel, IPC carries its connections.
    let client: string | undefined;
    for (let n = 0; client === undefined && n < 64; n++) {
      if (await answerer(cluster.port, sourceAddress(n)) === hostile) client = sourceAddress(n);
    }
    expect(client).toBeDefined();
    const baseline = openFds(pid);
    await attack(cluster, 0, 'handoffAbuse', { count: 200 });
    // The primary now sends there and the worker reads nothing: read back after 300 ms, served by slot 1.
    expect(await answerer(cluster.port, client as string)).toBe(other);
    await until(() => openFds(pid) <= baseline + 3, { timeout: 5_000 });
    let after = await stats(cluster);
    expect(after.connections.failedOver).toBe(1);
    expect(after.slots[0]?.unacknowledged).toBe(0);
    await attack(cluster, 0, 'handoffOversize', {});
    // The channel ended: the worker's connections go over IPC again, to the worker itself.
    await until(async () => await answerer(cluster.port, client as string) === hostile, { timeout: 10_000 });
    after = await stats(cluster);
    expect(after.state).toBe('running');
    expect(after.readyWorkers).toBe(2);
    expect(openFds(pid)).toBeLessThanOrEqual(baseline + 3);
  });
});
