import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { afterAll, afterEach, beforeAll, onTestFailed, onTestFinished } from 'vitest';
import { pEvent } from 'p-event';
import { isKernelAvailable } from './platform.js';
import { setTimeout as delay } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';

/** A message the fixture primary sends over IPC. */
export interface FixtureMessage {
  type: string;
  [key: string]: unknown;
}

export const isMessage = (type: string) => (message: unknown): boolean =>
  typeof message === 'object' && message !== null && (message as FixtureMessage).type === type;

export interface SpawnedCluster {
  child: ChildProcess;
  port: number;
  ready: FixtureMessage;
  /** Everything the fixture's processes wrote to stdout/stderr. */
  output: () => string;
  /** Every IPC message the primary sent, in order. */
  messages: FixtureMessage[];
  /** Sends `{ type }` and waits for the reply of the same type. */
  ask: (type: string, extra?: Record<string, unknown>) => Promise<FixtureMessage>;
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

interface StartedFixture {
  child: ChildProcess;
  output: () => string;
  messages: FixtureMessage[];
  ask: SpawnedCluster['ask'];
}

/**
 * `TEST_STEERING=primary` runs the suite on the primary hop instead of the default plane (CI runs one
 * Node version that way, so every test passes in both data planes): it is added to the fixture's
 * `OPTIONS` unless the test chose a `steering` itself.
 */
function planeOverride(env: Record<string, string> | undefined): { OPTIONS?: string } {
  const steering = process.env.TEST_STEERING;
  if (steering === undefined || steering === '') return {};
  const options = JSON.parse(env?.OPTIONS ?? '{}') as Record<string, unknown>;
  return { OPTIONS: JSON.stringify({ steering, ...options }) };
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
  const ask = async (type: string, extra: Record<string, unknown> = {}): Promise<FixtureMessage> => {
    const reply = pEvent(child, 'message', { filter: isMessage(type), timeout: 5_000 });
    child.send({ type, ...extra });
    return (await reply) as FixtureMessage;
  };
  return { child, output: () => output, messages, ask };
}

function describeRun(fixture: string, run: { output: () => string; messages: FixtureMessage[] }): string {
  return `--- output of ${fixture} ---\n${run.output()}\n--- messages ---\n${JSON.stringify(run.messages).slice(0, 4000)}`;
}

async function awaitReady(started: StartedFixture, options: SpawnOptions): Promise<SpawnedCluster> {
  const { child, output, messages, ask } = started;
  if (options.waitReady === false) return { child, port: 0, ready: { type: 'none' }, output, messages, ask };
  const ready = (await pEvent(child, 'message', { filter: isMessage('ready'), timeout: options.timeout ?? 15_000 })) as FixtureMessage;
  return { child, port: ready.port as number, ready, output, messages, ask };
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

/** Polls `predicate` until it holds; rejects at the deadline. For states without an event. */
export async function waitFor(predicate: () => boolean | Promise<boolean>, { timeout = 10_000, interval = 20 } = {}): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`waitFor: condition not met within ${timeout} ms`);
    await delay(interval);
  }
}

/** Resolves after `ms`: only for pacing a client (e.g. sending a body later), never to synchronise. */
export function pause(ms: number): Promise<void> {
  return delay(ms);
}
