import type { SpawnedCluster } from './cluster.js';
import type { ErrorData, MessageOf } from './protocol.js';

// Drives test/fixtures/bus-app.mjs: each op runs in the fixture's primary (or, with op 'worker', in a
// worker) and comes back as a settled result with the error as plain data.

export type { ErrorData } from './protocol.js';

export type Settled<T = unknown> = { ok: true; value: T } | { ok: false; error: ErrorData };

let nextId = 0;

export async function run<T = unknown>(cluster: SpawnedCluster, op: string, args: Record<string, unknown> = {}, timeout = 15_000): Promise<Settled<T>> {
  const id = ++nextId;
  // Tests run many requests at once, each waiting for its own result.
  if (cluster.child.getMaxListeners() < 200) cluster.child.setMaxListeners(200);
  const result = cluster.next('result', { where: (message) => message.id === id, timeout });
  cluster.child.send({ type: 'run', id, op, ...args });
  const settled = await result;
  // The fixture runs `op` and sends back its value as is: the caller names the type it expects.
  return settled.ok ? { ok: true, value: settled.value as T } : { ok: false, error: settled.error };
}

/** Runs `cmd` in the worker at `target` (a bus request from the primary); returns that worker's settled result. */
export async function runInWorker<T = unknown>(cluster: SpawnedCluster, target: Record<string, unknown>, cmd: Record<string, unknown>): Promise<Settled<T>> {
  const outer = await run<Settled<T>>(cluster, 'worker', { target, cmd });
  if (!outer.ok) throw new Error(`the command did not reach the worker: ${outer.error.code} ${outer.error.message}`);
  return outer.value;
}

export function valueOf<T>(settled: Settled<T>): T {
  if (!settled.ok) throw new Error(`expected success, got ${settled.error.code}: ${settled.error.message}`);
  return settled.value;
}

export function errorOf(settled: Settled): ErrorData {
  if (settled.ok) throw new Error(`expected an error, got ${JSON.stringify(settled.value)}`);
  return settled.error;
}

/** The `seen` messages (bus messages relayed by the primary) whose payload tag `n` passes `match`. */
export function seenWith(cluster: SpawnedCluster, match: (tag: string) => boolean): MessageOf<'seen'>[] {
  return cluster.all('seen', (m) => typeof m.payload?.n === 'string' && match(m.payload.n));
}
