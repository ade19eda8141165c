import { EventEmitter, getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { deferred, pause, settlesWithin, waitUntil } from '../../src/internal/deadline.js';

const timers = (): number => process.getActiveResourcesInfo().filter((name) => name === 'Timeout').length;

describe('waitUntil', () => {
  it('resolves true at once when the condition already holds, without listening', async () => {
    const emitter = new EventEmitter();
    expect(await waitUntil(emitter, 'tick', () => true, { timeout: 0 })).toBe(true);
    expect(emitter.listenerCount('tick')).toBe(0);
  });

  it('resolves true on the first event after which the condition holds, and stops listening', async () => {
    const emitter = new EventEmitter();
    let count = 0;
    const before = timers();
    const waiting = waitUntil(emitter, 'tick', () => count >= 2, { timeout: 10_000 });
    count = 1;
    emitter.emit('tick');
    count = 2;
    emitter.emit('tick');
    expect(await waiting).toBe(true);
    expect(emitter.listenerCount('tick')).toBe(0);
    expect(timers()).toBe(before);
  });

  it('resolves false past the deadline, and false at once for a timeout of 0', async () => {
    const emitter = new EventEmitter();
    expect(await waitUntil(emitter, 'tick', () => false, { timeout: 5 })).toBe(false);
    expect(await waitUntil(emitter, 'tick', () => false, { timeout: 0 })).toBe(false);
    expect(emitter.listenerCount('tick')).toBe(0);
  });

  it('rejects with the reason of an aborted signal, before or during the wait', async () => {
    const emitter = new EventEmitter();
    const reason = new Error('stop');
    await expect(waitUntil(emitter, 'tick', () => false, { timeout: 10_000, signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    const controller = new AbortController();
    const waiting = waitUntil(emitter, 'tick', () => false, { timeout: 10_000, signal: controller.signal });
    controller.abort(reason);
    await expect(waiting).rejects.toBe(reason);
    expect(emitter.listenerCount('tick')).toBe(0);
  });

  it('leaves no listener on the caller\'s signal, whether the wait ends in time or past its deadline', async () => {
    const emitter = new EventEmitter();
    const controller = new AbortController();
    let isDone = false;
    for (let i = 0; i < 12; i++) {
      isDone = false;
      const waiting = waitUntil(emitter, 'tick', () => isDone, { timeout: 10_000, signal: controller.signal });
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
      isDone = true;
      emitter.emit('tick');
      expect(await waiting).toBe(true);
    }
    expect(await waitUntil(emitter, 'tick', () => false, { timeout: 5, signal: controller.signal })).toBe(false);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('treats an `error` event as an ordinary event', async () => {
    const emitter = new EventEmitter();
    emitter.on('error', () => undefined);
    let isDone = false;
    const waiting = waitUntil(emitter, 'tick', () => isDone, { timeout: 10_000 });
    emitter.emit('error', new Error('not ours'));
    isDone = true;
    emitter.emit('tick');
    expect(await waiting).toBe(true);
  });
});

describe('settlesWithin', () => {
  it('resolves true when the promise fulfils first, and clears its timer', async () => {
    const before = timers();
    const late = deferred<string>();
    const waiting = settlesWithin(late.promise, 10_000);
    expect(timers()).toBe(before + 1);
    late.resolve('done');
    expect(await waiting).toBe(true);
    expect(timers()).toBe(before);
  });

  it('resolves false when the deadline passes first', async () => {
    expect(await settlesWithin(deferred<void>().promise, 5)).toBe(false);
    expect(await settlesWithin(deferred<void>().promise, 0)).toBe(false);
  });

  it('passes a rejection through', async () => {
    const failure = new Error('hook failed');
    await expect(settlesWithin(Promise.reject(failure), 10_000)).rejects.toBe(failure);
  });
});

describe('pause', () => {
  it('resolves true after the delay, and false as soon as the signal aborts', async () => {
    expect(await pause(1, new AbortController().signal)).toBe(true);
    const controller = new AbortController();
    const before = timers();
    const waiting = pause(10_000, controller.signal);
    controller.abort();
    expect(await waiting).toBe(false);
    expect(timers()).toBe(before);
    expect(await pause(10_000, AbortSignal.abort())).toBe(false);
  });
});
