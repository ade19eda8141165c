import { afterEach, describe, expect, it, vi } from 'vitest';
import { WorkerLink } from '../../src/sticky/worker-link-primary.js';
import { HandoffLink } from '../../src/sticky/planes/handoff-link-primary.js';
import { hopTable } from '../helpers/hop-table.js';
import type { Connection } from '../../src/sticky/connection.js';
import { FakeWorker, fakeHandle, type FakeHandle } from '../helpers/fake-worker.js';

// The primary's side of a handoff, over a fake channel: one handle in flight at a time, the next on
// Node's ACK, and every connection not acknowledged goes back to the table when the link closes.

const nameOf = (connection: Connection): string => (connection as FakeHandle).name;

function linkTo(worker: FakeWorker, slotWaitTimeout = 1_000) {
  const returned: string[] = [];
  const expired: string[] = [];
  const workerLink = new WorkerLink(worker.asWorker(), 0);
  const handoff = new HandoffLink(workerLink, {
    slotWaitTimeout,
    undeliverable: (_link, connection) => returned.push(nameOf(connection)),
    expired: (_link, connection) => expired.push(nameOf(connection)),
  });
  // The link as the hop uses it: sends through its handoff queue, closes and finishes as a WorkerLink.
  const link = {
    send: (connection: Connection, bytes: string | undefined) => handoff.send(connection, bytes),
    isStalled: (now: number) => handoff.isStalled(now),
    get queueDepth() { return handoff.queueDepth; },
    get unacknowledged() { return workerLink.unacknowledged; },
    get isOpen() { return workerLink.isOpen; },
    close: () => workerLink.close(),
    finish: (message: object) => workerLink.finish(message),
    recall: (message: object) => workerLink.recall(message),
  };
  return { link, returned, expired };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('WorkerLink', () => {
  it('gives Node one handle at a time and the next one on each ACK, in arrival order', () => {
    const worker = new FakeWorker(1);
    const { link } = linkTo(worker);
    const handles = ['a', 'b', 'c'].map(fakeHandle);
    for (const handle of handles) link.send(handle, undefined);
    expect(worker.handleNames()).toEqual(['a']);
    expect(link.queueDepth).toBe(2);
    expect(link.unacknowledged).toBe(3);
    worker.ack();
    // After the ACK the worker has its own fd: the primary's copy is closed.
    expect(handles[0]?.isClosed).toBe(true);
    expect(handles[1]?.isClosed).toBe(false);
    expect(worker.handleNames()).toEqual(['a', 'b']);
    worker.ack();
    worker.ack();
    expect(worker.handleNames()).toEqual(['a', 'b', 'c']);
    expect(link.unacknowledged).toBe(0);
    expect(handles.every((handle) => handle.isClosed)).toBe(true);
  });

  it('carries the bytes the primary already read with their connection', () => {
    const worker = new FakeWorker(1);
    const { link } = linkTo(worker);
    link.send(fakeHandle('a'), 'R0VU');
    link.send(fakeHandle('b'), undefined);
    worker.ack();
    expect(worker.sent.map((entry) => (entry.message as { payload: unknown }).payload)).toEqual([{ bytes: 'R0VU' }, {}]);
  });

  it('closes a handle the worker refused (NACK) and goes on with the next', () => {
    const worker = new FakeWorker(1);
    const { link, returned } = linkTo(worker);
    const first = fakeHandle('a');
    link.send(first, undefined);
    link.send(fakeHandle('b'), undefined);
    worker.nack();
    expect(first.isClosed).toBe(true);
    expect(worker.handleNames()).toEqual(['a', 'b']);
    expect(returned).toEqual([]);
  });

  it('on close returns the handle in flight and the queued ones to the table, in order, and ignores a late ACK', () => {
    const worker = new FakeWorker(1);
    const { link, returned } = linkTo(worker);
    const handles = ['a', 'b', 'c'].map(fakeHandle);
    for (const handle of handles) link.send(handle, undefined);
    link.close();
    // Not acknowledged: the connection is still ours, re-routed rather than closed.
    expect(returned).toEqual(['a', 'b', 'c']);
    expect(handles.some((handle) => handle.isClosed)).toBe(false);
    expect(link.isOpen).toBe(false);
    expect(link.unacknowledged).toBe(0);
    worker.ack();
    expect(worker.handleNames()).toEqual(['a']);
    expect(handles[0]?.isClosed).toBe(false);
    link.send(fakeHandle('d'), undefined);
    expect(returned).toEqual(['a', 'b', 'c', 'd']);
  });

  it('closes itself when Node reports the send failed, returning that connection and the queue', () => {
    const worker = new FakeWorker(1);
    const { link, returned } = linkTo(worker);
    link.send(fakeHandle('a'), undefined);
    link.send(fakeHandle('b'), undefined);
    worker.sent[0]?.callback?.(new Error('channel closed'));
    expect(link.isOpen).toBe(false);
    expect(returned).toEqual(['a', 'b']);
  });

  it('sends the close request only after the worker acknowledged every queued connection', () => {
    const worker = new FakeWorker(1);
    const { link, returned } = linkTo(worker);
    link.send(fakeHandle('a'), undefined);
    link.send(fakeHandle('b'), undefined);
    link.finish({ type: 'sticky:close' });
    expect(worker.controlTypes()).toEqual([]);
    link.send(fakeHandle('late'), undefined);
    expect(returned).toEqual(['late']);
    worker.ack();
    expect(worker.controlTypes()).toEqual([]);
    worker.ack();
    expect(worker.handleNames()).toEqual(['a', 'b']);
    expect(worker.controlTypes()).toEqual(['sticky:close']);
  });

  it('on recall returns the queued connections at once and tells the worker after the one in flight', () => {
    const worker = new FakeWorker(1);
    const { link, returned } = linkTo(worker);
    for (const name of ['a', 'b', 'c']) link.send(fakeHandle(name), undefined);
    link.recall({ type: 'sticky:unrouted' });
    expect(returned).toEqual(['b', 'c']);
    expect(link.unacknowledged).toBe(1);
    link.send(fakeHandle('late'), undefined);
    expect(returned).toEqual(['b', 'c', 'late']);
    expect(worker.controlTypes()).toEqual([]);
    worker.ack();
    expect(worker.handleNames()).toEqual(['a']);
    expect(worker.controlTypes()).toEqual(['sticky:unrouted']);
    // A second recall does nothing; the close request of the worker's retirement follows.
    link.recall({ type: 'sticky:unrouted' });
    link.finish({ type: 'sticky:close' });
    expect(worker.controlTypes()).toEqual(['sticky:unrouted', 'sticky:close']);
  });

  it('sends only the close request when it comes before the recall\'s message went out', () => {
    const worker = new FakeWorker(1);
    const { link } = linkTo(worker);
    link.send(fakeHandle('a'), undefined);
    link.recall({ type: 'sticky:unrouted' });
    link.finish({ type: 'sticky:close' });
    worker.ack();
    expect(worker.controlTypes()).toEqual(['sticky:close']);
  });

  it('hands connections back after slotWaitTimeout only while the worker makes no progress', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const worker = new FakeWorker(1);
    const { link, expired } = linkTo(worker, 100);
    for (const name of ['a', 'b', 'c']) link.send(fakeHandle(name), undefined);
    vi.advanceTimersByTime(60);
    worker.ack();
    // 'b' went out at 60 ms: the worker progressed, so 'c' waits another full timeout from there.
    vi.advanceTimersByTime(60);
    expect(expired).toEqual([]);
    vi.advanceTimersByTime(60);
    expect(link.isStalled(performance.now())).toBe(true);
    expect(expired).toEqual(['c']);
    expect(link.unacknowledged).toBe(1);
  });
});

describe('SlotTable.withdraw', () => {
  it('keeps the withdrawn worker\'s queued connections and later ones in its slot for the next worker, in order', () => {
    const { table, hop } = hopTable(2, { slotQueueLimit: 10, slotWaitTimeout: 1_000, reject: () => undefined });
    const closing = new FakeWorker(1);
    const other = new FakeWorker(2);
    const link = table.link(0, closing.asWorker());
    table.setRoute(0, link);
    table.setRoute(1, table.link(1, other.asWorker()));
    for (const name of ['a', 'b', 'c']) hop.dispatch(0, fakeHandle(name), undefined);
    table.withdraw(link, { type: 'sticky:unrouted' });
    hop.dispatch(0, fakeHandle('d'), undefined);
    expect(table.queueDepth(0)).toBe(3);
    closing.ack();
    expect(closing.handleNames()).toEqual(['a']);
    expect(closing.controlTypes()).toEqual(['sticky:unrouted']);
    const successor = new FakeWorker(3);
    table.setRoute(0, table.link(0, successor.asWorker()));
    for (let i = 0; i < 3; i++) successor.ack();
    expect(successor.handleNames()).toEqual(['b', 'c', 'd']);
    expect(other.handleNames()).toEqual([]);
    expect(hop.stats).toMatchObject({ failedOver: 0, rejected: 0 });
  });
});

describe('SlotTable with a stalled link', () => {
  it('lets a stalled worker hold at most slotQueueLimit connections; the rest fail over at once', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const rejected: string[] = [];
    const { table, hop } = hopTable(2, { slotQueueLimit: 2, slotWaitTimeout: 100, reject: (connection) => rejected.push(nameOf(connection)) });
    const stuck = new FakeWorker(1);
    const live = new FakeWorker(2);
    table.setRoute(0, table.link(0, stuck.asWorker()));
    table.setRoute(1, table.link(1, live.asWorker()));
    hop.dispatch(0, fakeHandle('a'), undefined);
    vi.advanceTimersByTime(101);
    for (const name of ['b', 'c', 'd', 'e']) hop.dispatch(0, fakeHandle(name), undefined);
    expect(stuck.handleNames()).toEqual(['a']);
    expect(live.handleNames()).toEqual(['d']);
    expect(hop.stats).toMatchObject({ routed: 3, failedOver: 2, rejected: 0 });
    expect(rejected).toEqual([]);
  });

  it('keeps a burst on a worker that acknowledges, however long its queue', () => {
    const { table, hop } = hopTable(2, { slotQueueLimit: 2, slotWaitTimeout: 100, reject: () => undefined });
    const busy = new FakeWorker(1);
    const other = new FakeWorker(2);
    const link = table.link(0, busy.asWorker());
    table.setRoute(0, link);
    table.setRoute(1, table.link(1, other.asWorker()));
    for (let i = 0; i < 10; i++) hop.dispatch(0, fakeHandle(`h${i}`), undefined);
    expect(link.unacknowledged).toBe(10);
    expect(other.handleNames()).toEqual([]);
    expect(hop.stats.failedOver).toBe(0);
  });
});
