// Starting and stopping the benchmark's child processes: target process trees and load generators.
// Every wait is bounded; a child that does not stop in time is killed by its pid.
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { buildCLoadgen, startCLoadgen } from './c-loadgen.mjs';

const TARGET_SCRIPT = new URL('../targets/server.mjs', import.meta.url);
const LOADGEN_SCRIPT = new URL('./loadgen.mjs', import.meta.url);

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Waits for the next IPC message of `type` from `child`. */
function nextMessage(child, type, ms) {
  return withTimeout(new Promise((resolve, reject) => {
    const onMessage = (message) => {
      if (message?.type !== type) return;
      cleanup();
      resolve(message);
    };
    const onExit = (code, signal) => {
      cleanup();
      reject(new Error(`process exited (${code ?? signal}) while waiting for '${type}'`));
    };
    const cleanup = () => {
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.on('exit', onExit);
  }), ms, `waiting for '${type}'`);
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the child has exited. */
export async function stopChild(child, graceMs = 10_000) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  try {
    await withTimeout(exited, graceMs, 'stop');
  } catch {
    child.kill('SIGKILL');
    await exited;
  }
}

/**
 * Forks a target process tree (bench/targets/server.mjs) and waits until every worker can serve.
 * Returns { port, pids, cpu(), stop() }; cpu() resolves to { primary, workers } in µs.
 */
export async function startTarget(target, env = {}) {
  // BENCH_TARGET_NODE_OPTIONS (e.g. "--cpu-prof --cpu-prof-dir=bench/tmp/prof") reaches the primary
  // and, through cluster's default execArgv, the workers.
  const execArgv = (process.env.BENCH_TARGET_NODE_OPTIONS ?? '').split(' ').filter(Boolean);
  const child = fork(TARGET_SCRIPT, [], {
    execArgv,
    env: { ...process.env, ...env, BENCH_TARGET: target },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  try {
    const ready = await nextMessage(child, 'ready', 30_000);
    return {
      child,
      port: ready.port,
      pids: ready.pids,
      async cpu() {
        const reply = nextMessage(child, 'cpu', 10_000);
        child.send({ type: 'cpu' });
        const { primary, workers } = await reply;
        return { primary, workers: workers.reduce((sum, w) => sum + w.micros, 0) };
      },
      stop: () => stopChild(child),
    };
  } catch (error) {
    await stopChild(child);
    throw error;
  }
}

/** Forks a load generator (bench/lib/loadgen.mjs); `call(message)` sends a command and awaits its answer. */
export function startLoadgen() {
  const child = fork(LOADGEN_SCRIPT, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let nextId = 0;
  const waiting = new Map();
  child.on('message', (message) => {
    const entry = waiting.get(message.id);
    if (entry === undefined) return;
    waiting.delete(message.id);
    if (message.error !== undefined) entry.reject(new Error(message.error));
    else entry.resolve(message);
  });
  child.on('exit', (code, signal) => {
    for (const entry of waiting.values()) entry.reject(new Error(`load generator exited (${code ?? signal})`));
    waiting.clear();
  });
  return {
    kind: 'node',
    child,
    call(message, ms = 120_000) {
      const id = ++nextId;
      const answer = new Promise((resolve, reject) => waiting.set(id, { resolve, reject }));
      child.send({ ...message, id });
      return withTimeout(answer, ms, `load generator '${message.cmd}'`);
    },
    stop: () => stopChild(child, 5_000),
  };
}

/**
 * The load generator BENCH_LOADGEN asks for: 'c' (default; bench/loadgen/loadgen.c, built when needed) or
 * 'node' (bench/lib/loadgen.mjs). Without a C compiler the Node generator stands in and `isFallback` says so.
 * Returns { kind, description, isFallback, start() }.
 */
export function chooseLoadgen() {
  const wanted = process.env.BENCH_LOADGEN || 'c';
  if (wanted !== 'c' && wanted !== 'node') throw new Error(`BENCH_LOADGEN must be c or node, got ${wanted}`);
  if (wanted === 'node') {
    return {
      kind: 'node', isFallback: false, start: startLoadgen,
      description: 'Node (`bench/lib/loadgen.mjs`, BENCH_LOADGEN=node)',
    };
  }
  const built = buildCLoadgen();
  if (built.binary !== undefined) {
    return {
      kind: 'c', isFallback: false, start: () => startCLoadgen(built.binary),
      description: 'C (`bench/loadgen/loadgen.c`: one thread, epoll; built with `cc -O2`)',
    };
  }
  return {
    kind: 'node', isFallback: true, start: startLoadgen,
    description: `Node (\`bench/lib/loadgen.mjs\`) as a fallback: ${built.missing}, so the C generator was not built`,
  };
}

/** Source addresses 127.0.0.<first> … 127.0.0.<first + count - 1>. */
export function loopbackAddresses(first, count) {
  if (first < 1 || first + count - 1 > 254) throw new Error('source addresses must stay within 127.0.0.1-254');
  return Array.from({ length: count }, (_, i) => `127.0.0.${first + i}`);
}
