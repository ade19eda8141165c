import type { EventEmitter } from 'node:events';

// The runtime's own listeners on emitters the application shares (`cluster`, a worker, its process),
// marked, so that the runtime can tell whether the application listens too.

const RUNTIME = new WeakSet<object>();

/** Marks `listener` as the runtime's; returns it. */
export function runtimeListener<T extends (...args: never[]) => unknown>(listener: T): T {
  RUNTIME.add(listener);
  return listener;
}

/** Listeners of `event` on `emitter` that are not the runtime's (Node's own included). */
export function foreignListenerCount(emitter: EventEmitter, event: string): number {
  let count = 0;
  for (const listener of emitter.listeners(event)) if (!RUNTIME.has(listener)) count++;
  return count;
}
