import { setTimeout as sleep } from 'node:timers/promises';
import { pEvent, TimeoutError } from 'p-event';

// Every wait with a deadline goes through here: an event (p-event) or a promise, each raced against
// a timer that ends with the wait, so no timer or listener outlives it. Callers get a boolean for
// "in time or not" and word their own error, since only they know what was late.

/** An emitter with `on`/`off` (EventEmitter, TypedEmitter) that emits `E`. */
export interface Listenable<E extends string> {
  on(event: E, listener: () => void): unknown;
  off(event: E, listener: () => void): unknown;
}

export interface WaitOptions {
  /** Ms to wait at most; `Infinity` waits without a deadline, `0` (or less) checks once. */
  timeout: number;
  /** Ends the wait early: it rejects with the signal's reason. */
  signal?: AbortSignal | undefined;
}

/**
 * Resolves true once `isDone()` holds, checked now and after each `event`; false when `timeout` ms
 * pass first. Rejects with the signal's reason when it aborts first.
 */
export async function waitUntil<E extends string>(
  emitter: Listenable<E>, event: E, isDone: () => boolean, { timeout, signal }: WaitOptions,
): Promise<boolean> {
  if (isDone()) return true;
  signal?.throwIfAborted();
  if (timeout <= 0) return false;
  // p-event leaves its abort listener on the signal it is given: it gets a signal of this wait's own,
  // which follows the caller's until the wait ends, so a long-lived caller's signal collects nothing.
  const own = new AbortController();
  const follow = (): void => own.abort(signal?.reason);
  signal?.addEventListener('abort', follow, { once: true });
  try {
    // No rejection events: the emitters waited on here report failures as ordinary events.
    await pEvent(emitter, event, { filter: isDone, timeout, signal: own.signal, rejectionEvents: [] });
    return true;
  } catch (error) {
    if (error instanceof TimeoutError) return false;
    throw error;
  } finally {
    signal?.removeEventListener('abort', follow);
  }
}

/**
 * Resolves true once `promise` fulfils, false when `timeout` ms pass first (the timer is cleared
 * either way); a rejection of `promise` passes through.
 */
export async function settlesWithin(promise: Promise<unknown>, timeout: number): Promise<boolean> {
  // The same pattern as execa's killOnTimeout: a cancellable timers/promises timer.
  const cancel = new AbortController();
  try {
    const deadline = sleep(Math.max(0, timeout), false, { signal: cancel.signal });
    return await Promise.race([promise.then(() => true), deadline]);
  } finally {
    cancel.abort();
  }
}

/** Resolves true after `ms`, or false as soon as `signal` aborts. */
export async function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  try {
    await sleep(ms, undefined, { signal });
    return true;
  } catch (error) {
    if (signal.aborted) return false;
    throw error;
  }
}

export interface Deferred<T> {
  readonly promise: Promise<T>;
  readonly resolve: (value: T) => void;
}

/** A promise settled from outside; `Promise.withResolvers()` without its reject. */
export function deferred<T>(): Deferred<T> {
  // TODO(node>=22): Promise.withResolvers().
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((settle) => { resolve = settle; });
  return { promise, resolve };
}
