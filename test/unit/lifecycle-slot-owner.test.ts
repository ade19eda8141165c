import { afterEach, describe, expect, it, vi } from 'vitest';
import { SlotOwner } from '../../src/lifecycle/slot-owner-primary.js';
import { Tracked } from '../../src/lifecycle/tracked-worker-primary.js';
import { EMPTY_HISTORY, type CrashHistory } from '../../src/lifecycle/respawn-policy.js';
import { hopTable } from '../helpers/hop-table.js';
import type { Connection } from '../../src/sticky/connection.js';
import { FakeWorker, fakeHandle, type FakeHandle } from '../helpers/fake-worker.js';

// The slot owner over a real slot table whose links talk to fake channels: which worker each slot's
// connections reach as workers are installed, replaced, fail, and slots are added and removed.

function cluster(count: number) {
  const rejected: string[] = [];
  const { table, hop } = hopTable(count, {
    slotQueueLimit: 8,
    slotWaitTimeout: 10_000,
    reject: (connection: Connection) => rejected.push((connection as FakeHandle).name),
  });
  const owner = new SlotOwner(table, count);
  let nextId = 1;
  const fork = (slot: number): { tracked: Tracked; worker: FakeWorker } => {
    const worker = new FakeWorker(nextId++);
    return { tracked: new Tracked(worker.asWorker(), slot, table.link(slot, worker.asWorker())), worker };
  };
  /** Installs a new worker in `slot` and makes it ready. */
  const start = (slot: number): { tracked: Tracked; worker: FakeWorker } => {
    const started = fork(slot);
    owner.install(started.tracked);
    started.tracked.markReady();
    owner.ready(started.tracked);
    return started;
  };
  return { table, hop, owner, fork, start, rejected };
}

const CRASHED: CrashHistory = { crashes: [1, 2, 3], streak: 3 };

afterEach(() => {
  vi.useRealTimers();
});

describe('SlotOwner', () => {
  it('routes a slot to its worker once the worker is ready; until then its connections wait', () => {
    const { table, hop, owner, fork } = cluster(2);
    const { tracked, worker } = fork(0);
    owner.install(tracked);
    expect(owner.view(0)?.state).toBe('starting');
    hop.dispatch(0, fakeHandle('early'), undefined);
    expect(worker.handleNames()).toEqual([]);
    expect(table.queueDepth(0)).toBe(1);
    tracked.markReady();
    owner.ready(tracked);
    expect(owner.view(0)?.state).toBe('ready');
    expect(worker.handleNames()).toEqual(['early']);
    expect(table.queueDepth(0)).toBe(0);
    expect(owner.readyCount()).toBe(1);
  });

  it('never routes again to a worker that closed its server; its successor gets the slot\'s waiting clients', () => {
    const { hop, owner, start, fork } = cluster(1);
    const closing = start(0);
    closing.tracked.markServerClosed();
    owner.withdraw(closing.tracked, { type: 'sticky:unrouted' });
    expect(closing.worker.controlTypes()).toEqual(['sticky:unrouted']);
    expect(owner.view(0)?.state).toBe('withdrawn');
    expect(owner.states()[0]).toMatchObject({ state: 'withdrawn', isReady: true });
    hop.dispatch(0, fakeHandle('waits'), undefined);
    // A late readiness report does not route it again.
    owner.ready(closing.tracked);
    expect(closing.worker.handleNames()).toEqual([]);
    const successor = fork(0);
    successor.tracked.markReady();
    owner.install(successor.tracked);
    expect(successor.worker.handleNames()).toEqual(['waits']);
    expect(owner.view(0)?.leaving).toEqual([closing.tracked]);
    expect(owner.view(0)?.state).toBe('ready');
  });

  it('replaces a slot\'s worker: new connections reach the new one, the old one is leaving until it exits', () => {
    const { hop, owner, start } = cluster(1);
    const old = start(0);
    hop.dispatch(0, fakeHandle('a'), undefined);
    const next = start(0);
    hop.dispatch(0, fakeHandle('b'), undefined);
    expect(old.worker.handleNames()).toEqual(['a']);
    expect(next.worker.handleNames()).toEqual(['b']);
    expect(owner.view(0)?.current).toBe(next.tracked);
    expect(owner.view(0)?.leaving).toEqual([old.tracked]);
    expect(owner.view(0)?.generation).toBe(1);
    expect(owner.vacate(old.tracked)).toBe(false);
    expect(owner.view(0)?.leaving).toEqual([]);
    expect(owner.states()[0]).toMatchObject({ slot: 0, workerId: next.worker.id, isReady: true, generation: 1 });
  });

  it('a worker that exits vacates its slot, whose connections then wait for the respawn', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { hop, owner, start } = cluster(1);
    const first = start(0);
    owner.detach(first.tracked);
    expect(owner.view(0)?.state).toBe('withdrawn');
    expect(owner.vacate(first.tracked)).toBe(true);
    expect(owner.view(0)?.state).toBe('vacant');
    hop.dispatch(0, fakeHandle('waiting'), undefined);
    const respawn = vi.fn(() => start(0));
    owner.scheduleRespawn(0, CRASHED, 500, respawn);
    expect(owner.view(0)?.state).toBe('respawning');
    expect(owner.states()[0]?.isRespawnPending).toBe(true);
    vi.advanceTimersByTime(499);
    expect(respawn).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(respawn).toHaveBeenCalledTimes(1);
    expect(owner.view(0)?.history).toBe(CRASHED);
    expect(owner.view(0)?.current?.worker.id).toBe(2);
    expect(respawn.mock.results[0]?.value.worker.handleNames()).toEqual(['waiting']);
  });

  it('a failed slot fails its connections over at once and heals when a worker is installed', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { hop, owner, start } = cluster(2);
    const crashed = start(0);
    const other = start(1);
    owner.detach(crashed.tracked);
    owner.vacate(crashed.tracked);
    const respawn = vi.fn();
    owner.fail(0, CRASHED, 1_000, respawn);
    expect(owner.view(0)?.state).toBe('failed');
    expect(owner.states()[0]?.isFailed).toBe(true);
    hop.dispatch(0, fakeHandle('moved'), undefined);
    expect(other.worker.handleNames()).toEqual(['moved']);
    expect(hop.stats.failedOver).toBe(1);
    const healed = start(0);
    expect(owner.view(0)?.state).toBe('ready');
    hop.dispatch(0, fakeHandle('home'), undefined);
    expect(healed.worker.handleNames()).toEqual(['home']);
    // Installing the worker cancelled the retry.
    vi.advanceTimersByTime(1_000);
    expect(respawn).not.toHaveBeenCalled();
  });

  it('retries a failed slot after retryIn with a fresh crash history', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { owner, start } = cluster(1);
    start(0);
    const respawn = vi.fn();
    owner.fail(0, CRASHED, 1_000, respawn);
    expect(owner.view(0)?.history).toBe(CRASHED);
    vi.advanceTimersByTime(1_000);
    expect(respawn).toHaveBeenCalledTimes(1);
    expect(owner.view(0)?.history).toBe(EMPTY_HISTORY);
  });

  it('adds a slot outside the table until it is confirmed, then routes it', () => {
    const { table, hop, owner, start, rejected } = cluster(2);
    start(0);
    start(1);
    const slot = owner.add();
    expect(slot).toBe(2);
    const added = start(slot);
    expect(owner.view(slot)?.isProvisional).toBe(true);
    expect(owner.view(slot)?.state).toBe('starting');
    expect(table.size).toBe(2);
    hop.dispatch(slot, fakeHandle('too-early'), undefined);
    expect(rejected).toEqual(['too-early']);
    owner.confirmLast();
    expect(table.size).toBe(3);
    expect(owner.view(slot)?.isProvisional).toBe(false);
    expect(owner.view(slot)?.state).toBe('ready');
    hop.dispatch(slot, fakeHandle('routed'), undefined);
    expect(added.worker.handleNames()).toEqual(['routed']);
  });

  it('removes the last slot: the table shrinks, its worker is returned and nothing reaches the slot again', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { table, hop, owner, start, rejected } = cluster(2);
    start(0);
    const last = start(1);
    const view = owner.view(1);
    expect(owner.removeLast()).toBe(last.tracked);
    expect(owner.size).toBe(1);
    expect(table.size).toBe(1);
    expect(view?.isRemoved).toBe(true);
    hop.dispatch(1, fakeHandle('gone'), undefined);
    expect(rejected).toEqual(['gone']);
    const respawn = vi.fn();
    owner.scheduleRespawn(1, CRASHED, 0, respawn);
    expect(respawn).not.toHaveBeenCalled();
  });

  it('a pending respawn is dropped when its slot is removed', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { owner, start } = cluster(2);
    start(0);
    const last = start(1);
    owner.vacate(last.tracked);
    const respawn = vi.fn();
    owner.scheduleRespawn(1, CRASHED, 100, respawn);
    owner.removeLast();
    vi.advanceTimersByTime(100);
    expect(respawn).not.toHaveBeenCalled();
  });

  it('routes nothing once stopped: not a ready worker, not a confirmed slot, no respawn', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { hop, owner, fork, start } = cluster(2);
    start(0);
    const gone = start(1);
    owner.vacate(gone.tracked);
    const respawn = vi.fn();
    owner.scheduleRespawn(1, CRASHED, 100, respawn);
    const slot = owner.add();
    const added = start(slot);
    owner.stop();
    vi.advanceTimersByTime(100);
    expect(respawn).not.toHaveBeenCalled();
    const late = fork(1);
    owner.install(late.tracked);
    late.tracked.markReady();
    owner.ready(late.tracked);
    hop.dispatch(1, fakeHandle('late'), undefined);
    expect(late.worker.handleNames()).toEqual([]);
    owner.confirmLast();
    hop.dispatch(slot, fakeHandle('new-slot'), undefined);
    expect(added.worker.handleNames()).toEqual([]);
  });
});
