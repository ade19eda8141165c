import { pEvent } from 'p-event';
import type { SpawnedCluster } from './cluster.js';

// Drives test/fixtures/bus-app.mjs: each op runs in the fixture's primary (or, with op 'worker', in a
// worker) and comes back as a settled result with the error as plain data.

export interface ErrorData {
  name: string;
  code: string;
  message: string;
  stack: string;
  remoteCode?: string;
  remoteName?: string;
  channel?: string;
}

export type Settled<T = unknown> = { ok: true; value: T } | { ok: false; error: ErrorData };

let nextId = 0;

export async function run<T = unknown>(cluster: SpawnedCluster, op: string, args: Record<string, unknown> = {}, timeout = 15_000): Promise<Settled<T>> {
  const id = ++nextId;
  // Tests run many requests at once, each waiting for its own result.
  if (cluster.child.getMaxListeners() < 200) cluster.child.setMaxListeners(200);
  const result = pEvent(cluster.child, 'message', {
    filter: (message: unknown) => (message as { type?: string; id?: number })?.type === 'result' && (message as { id: number }).id === id,
    timeout,
  });
  cluster.child.send({ type: 'run', id, op, ...args });
  const { ok, value, error } = (await result) as { ok: boolean; value: T; error: ErrorData };
  return ok ? { ok: true, value } : { ok: false, error };
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
