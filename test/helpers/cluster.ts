import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { afterAll, afterEach, beforeAll, onTestFailed, onTestFinished } from 'vitest';
import { pEvent } from 'p-event';
import { isKernelAvailable } from './platform.js';
import { setTimeout as delay } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import type { PrimaryStats } from '../../dist/index.js';
import { isMessage, type FixtureMessage, type FixtureMessageType, type MessageOf, type ReadySlot } from './protocol.js';

export { isMessage, type FixtureMessage, type FixtureMessageType, type MessageOf, type ReadySlot } from './protocol.js';

export interface WaitOptions<K extends FixtureMessageType> {
  /** Only a message for which this holds. */
  where?: (message: MessageOf<K>) => boolean;
  /** Ms before the wait fails, naming the message it waited for. @default 10_000 */
  timeout?: number;
  /** Stops waiting (the promise rejects) when aborted. */
  signal?: AbortSignal;
}

export interface SpawnedCluster {
  child: ChildProcess;
  port: number;
  ready: MessageOf<'ready'>;
  /** Everything the fixture's processes wrote to stdout/stderr. */
  output: () => string;
  /** Every IPC message the primary sent, in order. */
  messages: FixtureMessage[];
  /** Sends `{ type, ...extra }` and waits for the reply of the same type. */
  ask: <K extends FixtureMessageType>(type: K, extra?: Record<string, unknown>) => Promise<MessageOf<K>>;
  /** The next message of `type` (from now on): call it before the action that causes the message. */
  next: <K extends FixtureMessageType>(type: K, options?: WaitOptions<K>) => Promise<MessageOf<K>>;
  /** The first message of `type`, already received or still to come. */
  first: <K extends FixtureMessageType>(type: K, options?: WaitOptions<K>) => Promise<MessageOf<K>>;
  /** The messages of `type` received so far, in order. */
  all: <K extends FixtureMessageType>(type: K, where?: (message: MessageOf<K>) => boolean) => MessageOf<K>[];
}

export interface SpawnOptions {
  env?: Record<string, string>;
  /** Wait for the fixture's `ready` message (default true). */
  waitReady?: boolean;
  detached?: boolean;
  timeout?: number;
  /** Start the fixture primary (and so its workers) with this soft and hard limit of open files (Linux prlimit). */
  nofile?: number;
  /** Run the fixture from a copy of the package at this directory (its test/fixtures/, dist/, prebuilds/). */
  packageRoot?: string;
}

/** Forks a fixture primary (which forks real workers) and registers its cleanup. */
export async function spawnCluster(fixture: string, options: SpawnOptions = {}): Promise<SpawnedCluster> {
  const started = forkFixture(fixture, options);
  onTestFinished(() => stopProcess(started.child));
  onTestFailed(() => { console.error(describeRun(fixture, started)); });
  return awaitReady(started, options);
}

/**
 * Like `spawnCluster`, for one cluster shared by the tests of a `describe` block: call it in
 * `beforeAll` and stop it in `afterAll` with `stopProcess`. Registers no per-test hooks (they cannot
 * be registered outside a test); pair it with `printOutputOnFailure` to see the fixture's logs.
 * If the fixture does not become ready, it is stopped before the error is thrown.
 */
export async function spawnSharedCluster(fixture: string, options: SpawnOptions = {}): Promise<SpawnedCluster> {
  const started = forkFixture(fixture, options);
  try {
    return await awaitReady(started, options);
  } catch (error) {
    console.error(describeRun(fixture, started));
    await stopProcess(started.child);
    throw error;
  }
}

/**
 * One cluster for the tests of the current `describe` block: started in `beforeAll`, stopped in
 * `afterAll`, its logs printed after a failed test. Returns a getter for the running cluster.
 */
export function useSharedCluster(fixture: string, options: SpawnOptions = {}): () => SpawnedCluster {
  let cluster: SpawnedCluster | undefined;
  beforeAll(async () => {
    cluster = await spawnSharedCluster(fixture, options);
  });
  afterAll(async () => {
    if (cluster !== undefined) await stopProcess(cluster.child);
  });
  printOutputOnFailure(fixture, () => cluster);
  return () => {
    if (cluster === undefined) throw new Error(`the shared cluster of ${fixture} is not running`);
    return cluster;
  };
}

/** Prints a shared cluster's output and messages after each failed test of the current block. */
export function printOutputOnFailure(fixture: string, cluster: () => SpawnedCluster | undefined): void {
  afterEach((context) => {
    const current = cluster();
    if (context.task.result?.state === 'fail' && current !== undefined) {
      console.error(describeRun(fixture, { output: current.output, messages: current.messages }));
    }
  });
}

type StartedFixture = Omit<SpawnedCluster, 'port' | 'ready'>;

/**
 * `TEST_STEERING=primary` runs the suite on the primary hop instead of the default plane (CI runs one
 * Node version that way, so every test passes in both data planes): it is added to the fixture's
 * `OPTIONS` unless the test chose a `steering` itself. `TEST_HANDOFF=ipc` likewise makes the hop hand
 * connections over Node's IPC (`nativeHandoff: false`) where the test did not choose.
 */
function planeOverride(env: Record<string, string> | undefined): { OPTIONS?: string } {
  const steering = process.env.TEST_STEERING;
  const isIpc = process.env.TEST_HANDOFF === 'ipc';
  if ((steering === undefined || steering === '') && !isIpc) return {};
  const options = JSON.parse(env?.OPTIONS ?? '{}') as Record<string, unknown>;
  return {
    OPTIONS: JSON.stringify({
      ...(steering === undefined || steering === '' ? {} : { steering }),
      ...(isIpc ? { nativeHandoff: false } : {}),
      ...options,
    }),
  };
}

/** The plane a fixture that does not choose `steering` runs on: kernel where it can load, unless TEST_STEERING says otherwise. */
export function defaultPlane(): 'kernel' | 'primary' {
  if (process.env.TEST_STEERING === 'primary') return 'primary';
  return isKernelAvailable ? 'kernel' : 'primary';
}

function forkFixture(fixture: string, options: SpawnOptions): StartedFixture {
  const fixtures = options.packageRoot === undefined ? new URL('../fixtures/', import.meta.url)
    : pathToFileURL(`${options.packageRoot}/test/fixtures/`);
  const child = fork(new URL(fixture, fixtures), [], {
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    env: { ...process.env, ...options.env, ...planeOverride(options.env) },
    detached: options.detached ?? false,
    // prlimit sets the limit and execs node in place, keeping the IPC channel's fd.
    ...(options.nofile === undefined ? {} : { execPath: 'prlimit', execArgv: [`--nofile=${options.nofile}:${options.nofile}`, process.execPath] }),
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  child.stderr?.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  const messages: FixtureMessage[] = [];
  child.on('message', (message) => messages.push(message as FixtureMessage));
  const next = async <K extends FixtureMessageType>(type: K, { where, timeout = 10_000, signal }: WaitOptions<K> = {}): Promise<MessageOf<K>> => {
    const matches = (message: unknown): message is MessageOf<K> => isMessage(type)(message) && (where?.(message) ?? true);
    try {
      return (await pEvent(child, 'message', { filter: matches, timeout, signal })) as MessageOf<K>;
    } catch (error) {
      throw new Error(`no message '${type}'${where === undefined ? '' : ` where ${String(where)}`} within ${timeout} ms`, { cause: error });
    }
  };
  const all = <K extends FixtureMessageType>(type: K, where?: (message: MessageOf<K>) => boolean): MessageOf<K>[] => {
    const matches = (message: unknown): message is MessageOf<K> => isMessage(type)(message) && (where?.(message) ?? true);
    return (messages as unknown[]).filter(matches);
  };
  const first = async <K extends FixtureMessageType>(type: K, options: WaitOptions<K> = {}): Promise<MessageOf<K>> =>
    all(type, options.where)[0] ?? await next(type, options);
  const ask = async <K extends FixtureMessageType>(type: K, extra: Record<string, unknown> = {}): Promise<MessageOf<K>> => {
    const reply = next(type, { timeout: 5_000 });
    child.send({ type, ...extra });
    return reply;
  };
  return { child, output: () => output, messages, ask, next, first, all };
}

function describeRun(fixture: string, run: { output: () => string; messages: FixtureMessage[] }): string {
  return `--- output of ${fixture} ---\n${run.output()}\n--- messages ---\n${JSON.stringify(run.messages).slice(0, 4000)}`;
}

async function awaitReady(started: StartedFixture, options: SpawnOptions): Promise<SpawnedCluster> {
  if (options.waitReady === false) return { ...started, port: 0, ready: { type: 'ready', port: 0, workers: [] } };
  const ready = await started.first('ready', { timeout: options.timeout ?? 15_000 });
  return { ...started, port: ready.port, ready };
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process has exited. */
export async function stopProcess(child: ChildProcess, graceMs = 5_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = delay(graceMs, 'timeout' as const);
  if ((await Promise.race([exited, timer])) === 'timeout') {
    child.kill('SIGKILL');
    await exited;
  }
}

/** Waits for the child's exit; rejects after `timeout` ms. */
export async function waitForExit(child: ChildProcess, timeout = 15_000): Promise<{ code: number | null; signal: string | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return { code: child.exitCode, signal: child.signalCode };
  const [code, signal] = (await pEvent(child, 'exit', { multiArgs: true, timeout })) as [number | null, string | null];
  return { code, signal };
}

/** The ready message's slot `n` (its worker, pid, state); throws if the fixture reported no such slot. */
export function readySlot(cluster: SpawnedCluster, n: number): ReadySlot {
  const slot = cluster.ready.workers[n];
  if (slot === undefined) throw new Error(`the fixture reported ${cluster.ready.workers.length} slots, not slot ${n}`);
  return slot;
}

/** The fixture primary's `primary.stats()`. */
export async function statsOf(cluster: SpawnedCluster): Promise<PrimaryStats> {
  return (await cluster.ask('stats')).stats;
}

export interface UntilOptions {
  /** Ms before it fails. @default 10_000 */
  timeout?: number;
  /** Ms between checks. @default 20 */
  interval?: number;
  /** What it waits for, for the failure message. @default the predicate's source */
  what?: string;
}

/**
 * Checks `predicate` until it returns a truthy value, and resolves with that value; rejects at the
 * deadline with a message naming what it waited for. For states without an event (a counter in
 * `stats()`, a file, a port): wait for the state the test asserts about, never for a time.
 */
export async function until<T>(predicate: () => T | Promise<T>, { timeout = 10_000, interval = 20, what }: UntilOptions = {}):
Promise<Exclude<T, false | 0 | '' | null | undefined>> {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await predicate();
    if (value) return value as Exclude<T, false | 0 | '' | null | undefined>;
    if (Date.now() > deadline) throw new Error(`until: ${what ?? String(predicate)} did not hold within ${timeout} ms`);
    await delay(interval);
  }
}

/** Resolves after `ms`: only for pacing a client (e.g. sending a body later), never to synchronise. */
export function pause(ms: number): Promise<void> {
  return delay(ms);
}

/** The older name of `until()`, kept for the tests that still call it. */
export async function waitFor(predicate: () => unknown, options: UntilOptions = {}): Promise<void> {
  await until(predicate, options);
}

/** Asks the fixture primary for a rolling restart (`reload`) and waits for its `reloaded` answer. */
export async function reloadCluster(cluster: SpawnedCluster, timeout = 60_000): Promise<MessageOf<'reloaded'>> {
  const reply = cluster.next('reloaded', { timeout });
  cluster.child.send({ type: 'reload' });
  return await reply;
}

/** The pids of the slots' workers now (`stats`). */
export async function workerPids(cluster: SpawnedCluster): Promise<Set<number>> {
  const { stats } = await cluster.ask('stats');
  return new Set(stats.slots.map((slot) => slot.pid ?? 0));
}

/**
 * A worker the test hangs (a blocked event loop ignores its primary's exit) is SIGKILLed when the test
 * ends, also when it fails before its own kill.
 */
export function killWhenFinished(pid: number | undefined): void {
  onTestFinished(() => {
    try {
      if (pid !== undefined) process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  });
}
