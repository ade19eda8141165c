import { describe, expect, it } from 'vitest';
import { BusCore } from '../../src/ipc/bus-core.js';
import {
  BusRemoteError, encodeBatch, framesOf, isFrame, rebuildError, runtimeError, serializeError, toWireTarget, type Frame,
} from '../../src/ipc/bus-protocol.js';
import { MAX_BATCH, MAX_BATCH_BYTES, Outbox } from '../../src/ipc/outbox.js';
import { ErrorCode, StickyError } from '../../src/errors.js';

// The bus's pure parts: the wire format, error round trips, batching and the request table.

describe('bus wire format', () => {
  it('accepts only our envelope of the current version', () => {
    expect(framesOf(encodeBatch([{ k: 'm', c: 'a', d: 1 }]))).toEqual([{ k: 'm', c: 'a', d: 1 }]);
    for (const value of [null, [], 'x', { __sticky: 1, v: 2, type: 'sticky:bus', payload: [] }, { __sticky: 1, v: 1, type: 'sticky:ready', payload: [] },
      { __sticky: 1, v: 1, type: 'sticky:bus', payload: {} }, { source: '_sio_adapter', type: 1 }]) {
      expect(framesOf(value)).toBeUndefined();
    }
  });

  it('narrows frames and rejects malformed ones', () => {
    const good: Frame[] = [
      { k: 'm', c: 'x', d: undefined }, { k: 'm', c: 'x', d: 1, f: { w: 1, s: 0 } },
      { k: 'q', i: 1, c: 'x', d: null, t: 10 }, { k: 'q', i: 2, c: 'x', d: 1, t: 10, to: { key: [1, 2] }, a: 1 },
      { k: 'q', i: 3, c: 'x', d: 1, t: 10, to: { all: 1 } }, { k: 'r', i: -4, d: 1 },
      { k: 'e', i: 5, e: { name: 'Error', code: undefined, message: 'm', stack: undefined } },
    ];
    for (const frame of good) expect(isFrame(JSON.parse(JSON.stringify(frame)))).toBe(true);
    const bad = [null, 1, 'm', [], { k: 'x' }, { k: 'm' }, { k: 'm', c: 1 }, { k: 'm', c: 'x', f: { w: 'a', s: 0 } },
      { k: 'q', i: 1.5, c: 'x', t: 1 }, { k: 'q', i: 1, c: 'x', t: -1 }, { k: 'q', i: 1, c: 'x', t: 1, to: { w: 'a' } },
      { k: 'q', i: 1, c: 'x', t: 1e308 }, { k: 'q', i: 1, c: 'x', t: 2 ** 31 }, { k: 'q', i: 1, c: 'x', t: 1.5 },
      { k: 'q', i: 1, c: 'x', t: 1, to: { key: {} } }, { k: 'q', i: 1, c: 'x', t: 1, to: { all: true } }, { k: 'r' },
      { k: 'e', i: 1, e: 'boom' }, { k: 'e', i: 1, e: { message: 'm' } }, { k: 'e', i: 1, e: { name: 'E', message: 'm', code: 5 } }];
    for (const frame of bad) expect(isFrame(frame), JSON.stringify(frame)).toBe(false);
  });

  it('turns targets into wire targets; byte keys become arrays of the same numbers', () => {
    expect(toWireTarget({ workerId: 3 })).toEqual({ w: 3 });
    expect(toWireTarget({ slot: 0 })).toEqual({ s: 0 });
    expect(toWireTarget({ key: 'a' })).toEqual({ key: 'a' });
    expect(toWireTarget({ key: new Uint8Array([1, 255]) })).toEqual({ key: [1, 255] });
    for (const bad of [{}, { slot: 1.5 }, { key: {} }, null, { workerId: '1' }]) {
      expect(() => toWireTarget(bad as never)).toThrow(expect.objectContaining({ code: ErrorCode.InvalidOption }));
    }
  });
});

describe('errors over the bus', () => {
  it('a responder\'s error comes back as STICKY_ERR_IPC_REMOTE with its code, name, message and stack', () => {
    const thrown = Object.assign(new TypeError('no user'), { code: 'E_NOT_FOUND' });
    const wire = JSON.parse(JSON.stringify(serializeError(thrown)));
    const rebuilt = rebuildError('session:get', wire, new Error('here').stack);
    expect(rebuilt).toBeInstanceOf(BusRemoteError);
    expect(rebuilt).toMatchObject({ code: ErrorCode.IpcRemote, message: 'no user', remoteCode: 'E_NOT_FOUND', remoteName: 'TypeError', channel: 'session:get', name: 'StickyError' });
    expect(rebuilt.stack?.startsWith(thrown.stack as string)).toBe(true);
    expect(rebuilt.stack).toContain("-- answered to request 'session:get' --");
  });

  it('anything thrown is serialized; a responder\'s StickyError stays remote', () => {
    expect(serializeError('text')).toMatchObject({ name: 'Error', message: 'text' });
    expect(serializeError(42).message).toContain('42');
    const remote = rebuildError('c', serializeError(new StickyError(ErrorCode.IpcTimeout, 'late')), undefined);
    expect(remote.code).toBe(ErrorCode.IpcRemote);
    expect((remote as BusRemoteError).remoteCode).toBe(ErrorCode.IpcTimeout);
  });

  it('an error the runtime raised on the way keeps its own code', () => {
    const wire = JSON.parse(JSON.stringify(runtimeError(new StickyError(ErrorCode.IpcWorkerExit, 'Worker 3 exited.'))));
    const rebuilt = rebuildError('c', wire, undefined);
    expect(rebuilt).not.toBeInstanceOf(BusRemoteError);
    expect(rebuilt).toMatchObject({ code: ErrorCode.IpcWorkerExit, message: 'Worker 3 exited.' });
    // A look-alike with an unknown code is a remote error, not a runtime one.
    expect(rebuildError('c', { ...wire, code: 'STICKY_ERR_MADE_UP' }, undefined).code).toBe(ErrorCode.IpcRemote);
  });
});

describe('outbox', () => {
  const frame = (n: number): Frame => ({ k: 'm', c: 'n', d: n });
  const writes: { frames: Frame[]; done: (error: Error | null) => void }[] = [];
  const channel = (message: object, done: (error: Error | null) => void): void => {
    JSON.stringify(message);
    writes.push({ frames: framesOf(message) as Frame[], done });
  };

  it('sends a tick\'s frames as one batch and keeps one batch in flight', async () => {
    writes.length = 0;
    const outbox = new Outbox(channel);
    const settled: number[] = [];
    for (let i = 0; i < MAX_BATCH + 10; i++) outbox.push(frame(i), () => settled.push(i));
    await Promise.resolve();
    expect(writes).toHaveLength(1);
    expect(writes[0]?.frames).toHaveLength(MAX_BATCH);
    outbox.push(frame(-1));
    await Promise.resolve();
    expect(writes).toHaveLength(1);
    writes[0]?.done(null);
    expect(settled).toHaveLength(MAX_BATCH);
    expect(writes).toHaveLength(2);
    expect(writes[1]?.frames.map((f) => (f as { d: number }).d)).toEqual([...Array.from({ length: 10 }, (_, i) => MAX_BATCH + i), -1]);
  });

  it('closes a batch at about MAX_BATCH_BYTES of payload, so large payloads do not make one huge write', async () => {
    writes.length = 0;
    const outbox = new Outbox(channel);
    const big = 'x'.repeat(MAX_BATCH_BYTES / 4);
    for (let i = 0; i < 10; i++) outbox.push({ k: 'm', c: 'big', d: big });
    await Promise.resolve();
    expect(writes.map((w) => w.frames.length)).toEqual([4]);
    writes[0]?.done(null);
    writes[1]?.done(null);
    expect(writes.map((w) => w.frames.length)).toEqual([4, 4, 2]);
  });

  it('a frame that cannot be serialized fails alone; the others still go', async () => {
    writes.length = 0;
    const outbox = new Outbox(channel);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const outcomes: (string | undefined)[] = [];
    outbox.push(frame(1), (error) => outcomes.push(error?.code));
    outbox.push({ k: 'm', c: 'bad', d: cyclic }, (error) => outcomes.push(error?.code));
    outbox.push(frame(3), (error) => outcomes.push(error?.code));
    await Promise.resolve();
    while (writes.length > 0) writes.shift()?.done(null);
    await Promise.resolve();
    while (writes.length > 0) writes.shift()?.done(null);
    expect(outcomes.sort()).toEqual([ErrorCode.IpcInvalidPayload, undefined, undefined].sort());
  });

  it('withdraws a frame still queued, without settling it; one already written stays', async () => {
    writes.length = 0;
    const outbox = new Outbox(channel);
    const outcomes: (string | undefined)[] = [];
    const first = frame(1);
    const second = frame(2);
    outbox.push(first, () => outcomes.push('first'));
    await Promise.resolve();
    outbox.push(second, () => outcomes.push('second'));
    outbox.push(frame(3), () => outcomes.push('third'));
    expect(outbox.withdraw(first)).toBe(false);
    expect(outbox.withdraw(second)).toBe(true);
    writes[0]?.done(null);
    writes[1]?.done(null);
    expect(writes.map((w) => w.frames.map((f) => (f as { d: number }).d))).toEqual([[1], [3]]);
    expect(outcomes).toEqual(['first', 'third']);
  });

  it('a failed write fails its frames and everything after with STICKY_ERR_IPC_CLOSED', async () => {
    writes.length = 0;
    const outbox = new Outbox(channel);
    const outcomes: (string | undefined)[] = [];
    outbox.push(frame(1), (error) => outcomes.push(error?.code));
    await Promise.resolve();
    outbox.push(frame(2), (error) => outcomes.push(error?.code));
    writes[0]?.done(new Error('ERR_IPC_CHANNEL_CLOSED'));
    outbox.push(frame(3), (error) => outcomes.push(error?.code));
    expect(outcomes).toEqual([ErrorCode.IpcClosed, ErrorCode.IpcClosed, ErrorCode.IpcClosed]);
  });
});

describe('request table', () => {
  it('matches responses by id, and drops late or unknown ones', async () => {
    const core = new BusCore(1_000);
    const sent: number[] = [];
    const first = core.request('a', 1, undefined, (id, _timeout, settle) => { sent.push(id); settle(undefined); });
    const second = core.request('b', 1, undefined, (id, _timeout, settle) => { sent.push(id); settle(undefined); });
    core.settle({ k: 'r', i: sent[1] as number, d: 'two' }, 1);
    core.settle({ k: 'r', i: sent[0] as number, d: 'one' }, 1);
    core.settle({ k: 'r', i: 999, d: 'nobody' }, 1);
    expect(await Promise.all([first, second])).toEqual(['one', 'two']);
    expect(core.stats).toMatchObject({ pending: 0, dropped: 1, foreignResponses: 0 });
  });

  it('settles a request only with its own peer\'s response; another peer\'s is dropped and counted', async () => {
    const core = new BusCore(1_000);
    let id = 0;
    const toTwo = core.request('a', 2, undefined, (sent) => { id = sent; });
    let unwritten = 0;
    // The primary's requestTo() knows its worker only once written: NaN until then.
    const notYetWritten = core.request('b', Number.NaN, { timeout: 30 }, (sent) => { unwritten = sent; });
    core.settle({ k: 'r', i: id, d: 'forged' }, 3);
    core.settle({ k: 'e', i: id, e: { name: 'Error', code: undefined, message: 'forged', stack: undefined } }, -1);
    core.settle({ k: 'r', i: unwritten, d: 'forged' }, 2);
    expect(core.stats).toMatchObject({ pending: 2, dropped: 0, foreignResponses: 3 });
    core.settle({ k: 'r', i: id, d: 'real' }, 2);
    expect(await toTwo).toBe('real');
    await expect(notYetWritten).rejects.toMatchObject({ code: ErrorCode.IpcTimeout });
  });

  it('times out with STICKY_ERR_IPC_TIMEOUT, aborts with the signal\'s reason, fails a dead peer\'s requests', async () => {
    const core = new BusCore(1_000);
    const write = (): void => {};
    await expect(core.request('slow', 1, { timeout: 5 }, write)).rejects.toMatchObject({ code: ErrorCode.IpcTimeout });
    const controller = new AbortController();
    const aborted = core.request('a', 1, { signal: controller.signal }, write);
    controller.abort(new Error('stop'));
    await expect(aborted).rejects.toThrow('stop');
    await expect(core.request('a', 1, { signal: AbortSignal.abort(new Error('early')) }, write)).rejects.toThrow('early');
    const onDead = core.request('a', 7, undefined, write);
    const onOther = core.request('a', 8, { timeout: 20 }, write);
    core.failPeer(7, () => new StickyError(ErrorCode.IpcWorkerExit, 'gone'));
    await expect(onDead).rejects.toMatchObject({ code: ErrorCode.IpcWorkerExit });
    await expect(onOther).rejects.toMatchObject({ code: ErrorCode.IpcTimeout });
    await expect(core.request('a', 1, { timeout: 0 }, write)).rejects.toMatchObject({ code: ErrorCode.InvalidOption });
    // A longer one would fire at once (Node's timers hold 2³¹−1 ms at most).
    await expect(core.request('a', 1, { timeout: 2 ** 31 }, write)).rejects.toMatchObject({ code: ErrorCode.InvalidOption });
    expect(core.stats.pending).toBe(0);
  });

  it('takes a request back (its writer\'s cancel) when the caller gives up, not when it is answered or its peer dies', async () => {
    const core = new BusCore(1_000);
    const cancelled: string[] = [];
    const writer = (name: string) => (id: number): (() => void) => {
      ids.set(name, id);
      return () => cancelled.push(name);
    };
    const ids = new Map<string, number>();
    const timedOut = core.request('a', 1, { timeout: 5 }, writer('timeout'));
    const controller = new AbortController();
    const aborted = core.request('a', 1, { signal: controller.signal }, writer('abort'));
    const answered = core.request('a', 1, undefined, writer('answered'));
    const dead = core.request('a', 2, undefined, writer('dead'));
    controller.abort(new Error('stop'));
    core.settle({ k: 'r', i: ids.get('answered') as number, d: 1 }, 1);
    core.failPeer(2, () => new StickyError(ErrorCode.IpcWorkerExit, 'gone'));
    await Promise.allSettled([timedOut, aborted, answered, dead]);
    expect(cancelled.sort()).toEqual(['abort', 'timeout']);
  });

  it('answers with the responder\'s value or error, and STICKY_ERR_IPC_NO_HANDLER without one', async () => {
    const core = new BusCore(1_000);
    const replies: Frame[] = [];
    const from = { kind: 'primary' } as const;
    core.handle('sync', (payload) => (payload as number) * 2);
    core.handle('async', async () => { throw Object.assign(new Error('no'), { code: 'E_NO' }); });
    expect(() => core.handle('sync', () => 1)).toThrow(expect.objectContaining({ code: ErrorCode.InvalidState }));
    core.answer(1, 'sync', 21, from, (frame) => replies.push(frame));
    core.answer(2, 'async', null, from, (frame) => replies.push(frame));
    core.answer(3, 'none', null, from, (frame) => replies.push(frame));
    await new Promise((resolve) => setImmediate(resolve));
    expect(replies.find((f) => f.k === 'r')).toEqual({ k: 'r', i: 1, d: 42 });
    expect(replies.find((f) => f.k === 'e' && f.i === 2)).toMatchObject({ e: { code: 'E_NO', message: 'no' } });
    expect(replies.find((f) => f.k === 'e' && f.i === 3)).toMatchObject({ e: { code: ErrorCode.IpcNoHandler, r: 1 } });
  });

  it('once() runs a listener one time and off() removes it, also a once() listener', () => {
    const core = new BusCore(1_000);
    const calls: string[] = [];
    const from = { kind: 'primary' } as const;
    const keep = (p: unknown): void => { calls.push(`keep:${String(p)}`); };
    const one = (p: unknown): void => { calls.push(`once:${String(p)}`); };
    const removed = (): void => { calls.push('removed'); };
    core.on('c', keep);
    core.once('c', one);
    core.once('c', removed);
    core.off('c', removed);
    core.deliver('c', 1, from);
    core.deliver('c', 2, from);
    core.off('c', keep);
    core.deliver('c', 3, from);
    expect(calls).toEqual(['keep:1', 'once:1', 'keep:2']);
    expect(core.stats.dropped).toBe(1);
  });
});
