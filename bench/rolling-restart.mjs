// Rolling restart under load: what clients see while every worker of a sticky-runtime cluster is
// replaced, again and again, under a continuous load.
//
// Usage (Linux; run `npm run build` first, this script loads dist/):
//   node bench/rolling-restart.mjs           full run, ≈ 4–5 min; writes the "rolling-restart" section of
//                                            bench/RESULTS.md and leaves the other sections alone
//   node bench/rolling-restart.mjs --quick   1 round, 3 reloads, 2 s steady state; ≈ 30 s; writes
//                                            bench/tmp/RESULTS.md (unless BENCH_OUT says otherwise)
// Settings (environment):
//   BENCH_ROUNDS (3, quick 1)        rounds per load shape; every figure is a median over rounds
//   BENCH_RELOADS (20, quick 3)      consecutive rolling restarts per round, each awaited before the next
//   BENCH_STEADY_SECONDS (5, quick 2) measured steady state before the reloads
//   BENCH_WARMUP (3, quick 1)        unmeasured seconds of load first (fresh workers are slow at first)
//   BENCH_VARIANTS (close,keepalive) load shapes: new connections, keep-alive connections
//   BENCH_CONCURRENCY (32)           new-connection requests in flight
//   BENCH_SOURCES (100)              source addresses of the new-connection load, from 127.0.0.2 on
//   BENCH_KEEPALIVE_CONNECTIONS (64) persistent connections, one source address each, from 127.0.0.2 on
//   BENCH_PROBE_CONNECTIONS (4)      connections of the probe client (sources 127.0.0.240 on)
//   BENCH_WORKERS (2)                workers of the target
//   BENCH_QUIET_WAIT (5, quick 0)    seconds to wait at most for other processes to calm down per round
//   BENCH_BUDGET_MINUTES (5)         no new round once the run would likely exceed this
//   BENCH_OUT                        results file
//   BENCH_LOG (unset)                e.g. `info`: the target's primary and workers log to stderr
//
// Per round: a fresh target (bench/targets/reload-target.mjs: primary + workers, IP mode) and the load
// generator (bench/lib/loadgen.mjs) on it; warm-up, then steady state measured from the generator's
// counters, then BENCH_RELOADS calls of `primary.reload()` back to back under the same load, then
// the load stops. Throughput during the reloads is compared with the steady state of the same round.
//
// Two clients count failures:
//   - The load generator counts a request as failed when its connection closes without a complete
//     `200` response (reset, refused, closed early, other status), all in one counter. Its keep-alive
//     connections write the next request as soon as a response is in, without reading `Connection:
//     close`, so it counts an error whenever the server closes one of them, gracefully or not: during
//     a reload, about one per keep-alive connection per reload. It cannot tell a graceful close from
//     a dropped request.
//   - The probe (in this process, a few connections) is a conforming HTTP/1.1 client: after a
//     response with `Connection: close` it sends nothing more on that connection and opens a new
//     one. It records every failure with its time, kind (reset, refused, closed before the response,
//     bad status) and where it fell in the reload (which reload and slot, how long after the slot's
//     replacement became ready, when the old worker began to drain).
//
// Every process stops by itself: the target and the generator on IPC disconnect and after their own
// time limit, this script after BENCH_MAX_LIFETIME_MS (10 min). All traffic stays on 127.0.0.0/8.
import net from 'node:net';
import { fork } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { startLoadgen, loopbackAddresses, stopChild } from './lib/processes.mjs';
import { foreignCores, readBusy, waitForQuiet } from './lib/machine-load.mjs';
import {
  commandLine, describeMachine, formatNumber, formatRatio, median, resultsPath, sourceRevision, table, today, writeSection,
} from './lib/report.mjs';

// A private copy of dist/ for the run when the helper is there: every reload loads the package
// again from disk, and a rebuild during the run must not change or half-write it.
const { useDistSnapshot } = await import('./lib/dist-snapshot.mjs').catch(() => ({ useDistSnapshot: () => () => {} }));

/**
 * Copies the package's runtime dependencies (and theirs) next to the private dist/ copy, where
 * module resolution finds them first: a reinstall of node_modules during the run must not break
 * the workers that reloads start.
 */
function copyRuntimeDependencies(into) {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const seen = new Set();
  const visit = (name) => {
    if (seen.has(name)) return;
    seen.add(name);
    const dir = join(root, 'node_modules', name);
    // Not hoisted: it lies inside its dependent's folder and was copied with it.
    if (!existsSync(join(dir, 'package.json'))) return;
    cpSync(dir, join(into, 'node_modules', name), { recursive: true, dereference: true });
    const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    for (const dependency of Object.keys({ ...manifest.dependencies, ...manifest.optionalDependencies })) visit(dependency);
  };
  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  for (const dependency of Object.keys(manifest.dependencies ?? {})) visit(dependency);
}

const SECTION = 'rolling-restart';
const TARGET_SCRIPT = new URL('./targets/reload-target.mjs', import.meta.url);
const HOST = '127.0.0.1';

const isQuick = process.argv.includes('--quick');
const env = process.env;
const rounds = Number(env.BENCH_ROUNDS ?? (isQuick ? 1 : 3));
const reloads = Number(env.BENCH_RELOADS ?? (isQuick ? 3 : 20));
const steadySeconds = Number(env.BENCH_STEADY_SECONDS ?? (isQuick ? 2 : 5));
const warmupSeconds = Number(env.BENCH_WARMUP ?? (isQuick ? 1 : 3));
const variants = (env.BENCH_VARIANTS ?? 'close,keepalive').split(',').map((v) => v.trim()).filter(Boolean);
const concurrency = Number(env.BENCH_CONCURRENCY ?? 32);
const sourceCount = Number(env.BENCH_SOURCES ?? 100);
const keepAliveConnections = Number(env.BENCH_KEEPALIVE_CONNECTIONS ?? 64);
const probeConnections = Number(env.BENCH_PROBE_CONNECTIONS ?? 4);
const workers = Number(env.BENCH_WORKERS ?? 2);
const quietWait = Number(env.BENCH_QUIET_WAIT ?? (isQuick ? 0 : 5));
const budgetMs = Number(env.BENCH_BUDGET_MINUTES ?? 5) * 60_000;
const SAMPLE_MS = 250;

for (const variant of variants) {
  if (variant !== 'close' && variant !== 'keepalive') throw new Error(`BENCH_VARIANTS: unknown load shape ${variant}`);
}

const LABEL = { close: 'new connections', keepalive: 'keep-alive' };
const log = (...parts) => console.error(`[rolling ${new Date().toISOString().slice(11, 19)}]`, ...parts);

setTimeout(() => {
  console.error('rolling-restart: time limit reached');
  process.exit(3);
}, Number(env.BENCH_MAX_LIFETIME_MS ?? 10 * 60_000)).unref();

/** Steal ticks of the whole machine (the hypervisor ran someone else), in µs; NaN off Linux. */
function readSteal() {
  try {
    const fields = readFileSync('/proc/stat', 'latin1').split('\n', 1)[0].trim().split(/\s+/);
    return { micros: (Number(fields[8]) * 1e6) / 100, at: performance.now() };
  } catch {
    return { micros: Number.NaN, at: performance.now() };
  }
}


function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Forks reload-target.mjs and waits for its 'ready'; `call(cmd)` sends a command and awaits its answer. */
async function startReloadTarget() {
  const child = fork(TARGET_SCRIPT, [], {
    env: { ...process.env, BENCH_WORKERS: String(workers) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const events = [];
  const waiting = new Map();
  let nextId = 0;
  let onReady;
  const ready = new Promise((resolve, reject) => {
    onReady = resolve;
    child.once('exit', (code, signal) => reject(new Error(`target exited (${code ?? signal}) before it was ready`)));
  });
  child.on('message', (message) => {
    if (message?.type === 'ready') onReady(message);
    else if (message?.type === 'event') events.push(message);
    else if (waiting.has(message?.id)) {
      waiting.get(message.id)(message);
      waiting.delete(message.id);
    }
  });
  child.on('exit', () => {
    for (const resolve of waiting.values()) resolve({ ok: false, code: 'TARGET_EXITED', message: 'the target exited' });
    waiting.clear();
  });
  try {
    const { port } = await withTimeout(ready, 30_000, 'target start');
    return {
      port,
      events,
      call(cmd, ms = 10_000) {
        const id = ++nextId;
        const answer = new Promise((resolve) => waiting.set(id, resolve));
        child.send({ cmd, id });
        return withTimeout(answer, ms, `target '${cmd}'`);
      },
      stop: () => stopChild(child, 15_000),
    };
  } catch (error) {
    await stopChild(child, 5_000);
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------
// The probe: a conforming HTTP/1.1 client that records every failure in detail.

const HEAD_END = Buffer.from('\r\n\r\n');

/** One response at the start of `buffer`: { length, status, close } or undefined when incomplete. */
function parseResponse(buffer) {
  const end = buffer.indexOf(HEAD_END);
  if (end === -1) return undefined;
  const head = buffer.toString('latin1', 0, end).toLowerCase();
  const lengthMatch = /\r\ncontent-length:\s*(\d+)/.exec(head);
  const length = end + 4 + (lengthMatch === null ? 0 : Number(lengthMatch[1]));
  if (buffer.length < length) return undefined;
  return { length, status: Number(head.slice(9, 12)), close: /\r\nconnection:\s*close/.test(head) };
}

class Probe {
  phase = 'warmup';
  /** Per phase: { ok, maxLatencyMs } */
  byPhase = {};
  failures = [];
  /** Keep-alive connections the server closed: after a `Connection: close` response, or while idle. */
  closes = { afterConnectionClose: 0, whileIdle: 0 };
  connections = 0;
  #running = true;
  #open = new Set();
  #onIdle;

  constructor({ port, keepAlive, addresses }) {
    this.port = port;
    this.keepAlive = keepAlive;
    for (const source of addresses) this.#connect(source);
  }

  #phaseStats() {
    return (this.byPhase[this.phase] ??= { ok: 0, maxLatencyMs: 0 });
  }

  #connect(source) {
    const request = Buffer.from(
      `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-For: ${source}\r\n${this.keepAlive ? '' : 'Connection: close\r\n'}\r\n`,
      'latin1',
    );
    const socket = net.connect({ port: this.port, host: HOST, localAddress: source });
    socket.setNoDelay(true);
    this.connections++;
    this.#open.add(socket);
    const state = { outstanding: false, sentAt: 0, requests: 0, lastClose: false, error: undefined, buffer: undefined, connected: false };
    const send = () => {
      state.outstanding = true;
      state.sentAt = performance.now();
      state.requests++;
      socket.write(request);
    };
    socket.on('connect', () => { state.connected = true; });
    socket.on('error', (error) => { state.error = error.code ?? error.message; });
    socket.on('data', (chunk) => {
      let buffer = state.buffer === undefined ? chunk : Buffer.concat([state.buffer, chunk]);
      let response;
      while ((response = parseResponse(buffer)) !== undefined) {
        buffer = buffer.subarray(response.length);
        state.outstanding = false;
        state.lastClose = response.close;
        const stats = this.#phaseStats();
        if (response.status === 200) {
          stats.ok++;
          stats.maxLatencyMs = Math.max(stats.maxLatencyMs, performance.now() - state.sentAt);
        } else {
          this.#fail('bad status', { status: response.status }, state, source);
        }
      }
      state.buffer = buffer.length === 0 ? undefined : buffer;
      if (state.outstanding || !this.keepAlive || state.lastClose) return; // the server closes
      if (this.#running) send();
      else socket.end();
    });
    socket.on('close', () => {
      this.#open.delete(socket);
      if (state.outstanding) {
        const kind = state.error === 'ECONNREFUSED' ? 'refused' : state.error !== undefined ? 'reset' : 'closed before the response';
        this.#fail(kind, { code: state.error, partialBytes: state.buffer?.length ?? 0, connected: state.connected }, state, source);
      } else if (this.keepAlive && this.#running) {
        if (state.lastClose) this.closes.afterConnectionClose++;
        else this.closes.whileIdle++;
      }
      if (this.#running) this.#connect(source);
      else if (this.#open.size === 0) this.#onIdle?.();
    });
    send();
  }

  #fail(kind, details, state, source) {
    this.failures.push({
      at: Date.now(),
      phase: this.phase,
      kind,
      source,
      requestOnConnection: state.requests,
      waitedMs: Math.round(performance.now() - state.sentAt),
      ...details,
    });
  }

  /** Stops sending; resolves once every connection closed (or after `ms`). */
  stop(ms = 5_000) {
    this.#running = false;
    return withTimeout(new Promise((resolve) => {
      this.#onIdle = resolve;
      if (this.#open.size === 0) resolve();
      // In keep-alive mode a connection between two requests has nothing in flight.
      else if (this.keepAlive) for (const socket of this.#open) if (socket.writableLength === 0) socket.end();
    }), ms, 'probe stop').catch(() => {
      for (const socket of this.#open) socket.destroy();
    });
  }
}

// ---------------------------------------------------------------------------------------------
// One round: a fresh target, steady state, then the reloads.

async function readings(target, loadgen) {
  const [snapshot, tree] = await Promise.all([loadgen.call({ cmd: 'snapshot' }), target.call('cpu')]);
  const { user, system } = process.cpuUsage();
  return { snapshot, busy: readBusy(), steal: readSteal(), ownMicros: snapshot.micros + tree.micros + user + system, treeMicros: tree.micros, at: Date.now() };
}

function phaseFigures(from, to) {
  const seconds = (to.snapshot.at - from.snapshot.at) / 1000;
  return {
    seconds,
    rate: (to.snapshot.completed - from.snapshot.completed) / seconds,
    errors: to.snapshot.errors - from.snapshot.errors,
    completed: to.snapshot.completed - from.snapshot.completed,
    foreign: foreignCores(from.busy, to.busy, to.ownMicros - from.ownMicros),
    steal: (to.steal.micros - from.steal.micros) / ((to.steal.at - from.steal.at) * 1000),
    treeCores: (to.treeMicros - from.treeMicros) / (seconds * 1e6),
  };
}

/**
 * Where a failure fell: the reload and slot, relative to the moment the slot's replacement became
 * ready (the old worker is asked to drain right then) and to the old worker's exit.
 */
function placeFailure(failure, reloadTimes, events) {
  const index = reloadTimes.findIndex((r) => failure.at >= r.start && failure.at <= r.end + 50);
  if (index === -1) return { where: 'outside any reload', sinceReadyMs: undefined };
  const { start, end } = reloadTimes[index];
  const inReload = events.filter((e) => e.at >= start && e.at <= end + 50);
  const notes = [`reload ${index + 1}`];
  const lastReady = inReload.filter((e) => e.name === 'workerReady' && e.at <= failure.at).at(-1);
  if (lastReady !== undefined) notes.push(`${failure.at - lastReady.at} ms after slot ${lastReady.payload.slot}'s replacement was ready (old worker draining)`);
  else notes.push(`${failure.at - start} ms after the reload began, before any replacement was ready`);
  const nextExit = inReload.find((e) => e.name === 'workerExit' && e.at >= failure.at);
  if (nextExit !== undefined) notes.push(`${nextExit.at - failure.at} ms before worker ${nextExit.payload.workerId} (slot ${nextExit.payload.slot}) exited`);
  return { where: notes.join(', '), sinceReadyMs: lastReady === undefined ? undefined : failure.at - lastReady.at };
}

async function runRound(variant, round, loadgen) {
  const quiet = quietWait > 0 ? await waitForQuiet({ threshold: 0.25, maxSeconds: quietWait }) : { cores: Number.NaN, isQuiet: true };
  const target = await startReloadTarget();
  const keepAlive = variant === 'keepalive';
  const addresses = keepAlive ? loopbackAddresses(2, keepAliveConnections) : loopbackAddresses(2, sourceCount);
  let probe;
  try {
    await loadgen.call({
      cmd: 'start', kind: variant, port: target.port, host: HOST, addresses,
      concurrency: keepAlive ? keepAliveConnections : concurrency,
    });
    probe = new Probe({ port: target.port, keepAlive, addresses: loopbackAddresses(240, probeConnections) });
    await sleep(warmupSeconds * 1000);

    probe.phase = 'steady';
    const r0 = await readings(target, loadgen);
    await sleep(steadySeconds * 1000);
    const r1 = await readings(target, loadgen);

    probe.phase = 'reloads';
    const samples = [r1.snapshot];
    let isSampling = true;
    const sampler = (async () => {
      while (isSampling) {
        await sleep(SAMPLE_MS);
        if (isSampling) samples.push(await loadgen.call({ cmd: 'snapshot' }));
      }
    })();
    const reloadTimes = [];
    const reloadFailures = [];
    for (let i = 0; i < reloads; i++) {
      const start = Date.now();
      const reply = await target.call('reload', 60_000);
      reloadTimes.push({ start, end: Date.now(), ms: reply.ms });
      if (!reply.ok) reloadFailures.push({ reload: i + 1, code: reply.code, message: reply.message });
    }
    isSampling = false;
    await sampler;
    const r2 = await readings(target, loadgen);
    samples.push(r2.snapshot);

    probe.phase = 'stop';
    const { drained } = await loadgen.call({ cmd: 'stop', drainMs: 5_000 });
    await probe.stop();
    const final = await loadgen.call({ cmd: 'snapshot' });
    const { stats } = await target.call('stats');

    // Lowest throughput over any 0.5 s (two samples) of the reload phase.
    let lowest = Number.POSITIVE_INFINITY;
    for (let i = 2; i < samples.length; i++) {
      const rate = ((samples[i].completed - samples[i - 2].completed) * 1000) / (samples[i].at - samples[i - 2].at);
      lowest = Math.min(lowest, rate);
    }
    const steady = phaseFigures(r0, r1);
    const reloading = phaseFigures(r1, r2);
    const result = {
      variant,
      round,
      quiet,
      steady,
      reloading,
      ratio: reloading.rate / steady.rate,
      lowestRatio: lowest / steady.rate,
      reloadMs: reloadTimes.map((r) => r.ms),
      reloadFailures,
      errors: {
        warmup: r0.snapshot.errors,
        steady: steady.errors,
        reloads: reloading.errors,
        stop: final.errors - r2.snapshot.errors,
        total: final.errors,
      },
      completed: final.completed,
      drained,
      probe: {
        byPhase: probe.byPhase,
        closes: probe.closes,
        connections: probe.connections,
        failures: probe.failures.map((f) => ({ ...f, ...placeFailure(f, reloadTimes, target.events) })),
      },
      balancer: stats.connections,
      restarts: stats.restarts,
    };
    log(`${LABEL[variant]} round ${round + 1}: steady ${formatNumber(steady.rate)}/s, reloads ${formatNumber(reloading.rate)}/s ` +
      `(${formatRatio(result.ratio)}), reload ${formatNumber(median(result.reloadMs))} ms median, ` +
      `generator errors ${final.errors}, probe failures ${probe.failures.length}`);
    return result;
  } finally {
    if (probe !== undefined) await probe.stop(1_000);
    await loadgen.call({ cmd: 'stop', drainMs: 2_000 }).catch(() => undefined);
    await target.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// The report.

const sum = (values) => values.reduce((a, b) => a + b, 0);
const ms = (value) => `${formatNumber(value)} ms`;
const range = (values) => `${formatRatio(Math.min(...values))}–${formatRatio(Math.max(...values))}`;

function summarize(results) {
  const byVariant = {};
  for (const variant of variants) {
    const list = results.filter((r) => r.variant === variant);
    if (list.length === 0) continue;
    const allReloads = list.flatMap((r) => r.reloadMs);
    const probeOk = sum(list.map((r) => sum(Object.values(r.probe.byPhase).map((p) => p.ok))));
    const probeFailures = list.flatMap((r) => r.probe.failures.map((f) => ({ ...f, round: r.round + 1 })));
    byVariant[variant] = {
      list,
      steady: median(list.map((r) => r.steady.rate)),
      reloading: median(list.map((r) => r.reloading.rate)),
      ratio: median(list.map((r) => r.ratio)),
      ratios: list.map((r) => r.ratio),
      lowestRatio: median(list.map((r) => r.lowestRatio)),
      reloadMedian: median(allReloads),
      reloadMax: Math.max(...allReloads),
      reloadCount: allReloads.length,
      reloadFailures: list.flatMap((r) => r.reloadFailures),
      errors: sum(list.map((r) => r.errors.total)),
      errorsInReloads: sum(list.map((r) => r.errors.reloads)),
      completed: sum(list.map((r) => r.completed)),
      probeOk,
      probeFailures,
      probeResets: probeFailures.filter((f) => f.kind === 'reset' || f.kind === 'refused').length,
      closesAfterConnectionClose: sum(list.map((r) => r.probe.closes.afterConnectionClose)),
      closesWhileIdle: sum(list.map((r) => r.probe.closes.whileIdle)),
      failedOver: sum(list.map((r) => r.balancer.failedOver + r.balancer.rejected + r.balancer.overloaded)),
      maxLatency: {
        steady: Math.max(...list.map((r) => r.probe.byPhase.steady?.maxLatencyMs ?? Number.NaN)),
        reloads: Math.max(...list.map((r) => r.probe.byPhase.reloads?.maxLatencyMs ?? Number.NaN)),
      },
    };
  }
  return byVariant;
}

function verdictLine(variant, s) {
  const failed = s.probeFailures.length;
  const isClean = s.reloadFailures.length === 0 && failed === 0 && (variant === 'keepalive' || s.errors === 0);
  const parts = [];
  if (variant === 'close') {
    parts.push(`${formatNumber(s.errors)} of ${formatNumber(s.completed + s.errors)} requests of the load generator failed`);
  } else {
    parts.push(`the load generator counted ${formatNumber(s.errors)} errors in ${formatNumber(s.completed + s.errors)} requests, ` +
      `${formatNumber(s.errorsInReloads)} of them during the ${s.reloadCount} reloads ` +
      `(${formatNumber(s.errorsInReloads / s.reloadCount, 1)} per reload with ${keepAliveConnections} connections; see "What is counted")`);
  }
  parts.push(`the probe saw ${formatNumber(failed)} failed of ${formatNumber(s.probeOk + failed)} requests` +
    (failed > 0 ? `, ${s.probeResets} of them reset or refused` : ''));
  if (s.reloadFailures.length > 0) parts.push(`${s.reloadFailures.length} reload(s) failed`);
  return `${isClean ? '**met**' : '**not met**'}: ${parts.join('; ')}`;
}

function failureRows(failures) {
  return failures.slice(0, 15).map((f) => [
    String(f.round), LABEL[f.variant], f.phase, f.kind, f.code ?? (f.status !== undefined ? `status ${f.status}` : '–'),
    String(f.requestOnConnection), `${f.waitedMs} ms`, f.where,
  ]);
}

function render(results, startedAt, skipped) {
  const s = summarize(results);
  const minutes = (Date.now() - startedAt) / 60_000;
  const roundsRun = Math.max(...Object.values(s).map((v) => v.list.length));
  const out = [];
  out.push('## Rolling restart under load');
  out.push('');
  out.push(`A sticky-runtime cluster (IP mode, ${workers} workers) under continuous load; after ${steadySeconds} s of steady state, ` +
    `${reloads} rolling restarts (\`primary.reload()\`) back to back, each awaited before the next, under the same load. ` +
    `Medians of ${roundsRun} round(s); throughput during the reloads is divided by the steady state of the same round.`);
  out.push('');
  const rows = Object.entries(s).map(([variant, v]) => [
    LABEL[variant],
    `${formatNumber(v.steady)}/s`,
    `${formatNumber(v.reloading)}/s`,
    `${formatRatio(v.ratio)} (${range(v.ratios)})`,
    formatRatio(v.lowestRatio),
    `${ms(v.reloadMedian)} / ${ms(v.reloadMax)}`,
    `${formatNumber(v.errors)}`,
    `${formatNumber(v.probeFailures.length)} / ${formatNumber(v.probeOk + v.probeFailures.length)}`,
  ]);
  out.push(table(
    ['load', 'steady state', 'during reloads', 'ratio (range over rounds)', 'lowest 0.5 s', 'time per reload: median / max', 'generator errors', 'probe: failed / requests'],
    rows,
  ));
  out.push('');
  out.push('"lowest 0.5 s" is the lowest throughput over any half second of the reload phase, against the steady state. ' +
    `Time per reload is the primary's own measure of \`reload()\` (all ${workers} slots, one after the other: fork, ready, ` +
    `switch, drain and exit of the old worker), over all ${formatNumber(sum(Object.values(s).map((v) => v.reloadCount)))} reloads.`);
  out.push('');
  out.push('### Targets');
  out.push('');
  const targetRows = [];
  for (const [variant, v] of Object.entries(s)) {
    targetRows.push([`rolling restart under load, ${LABEL[variant]}`, '0 failed requests, 0 reset connections', verdictLine(variant, v)]);
  }
  for (const [variant, v] of Object.entries(s)) {
    targetRows.push([`throughput during a rolling restart vs steady state, ${LABEL[variant]}`, 'none set',
      `reported: ${formatRatio(v.ratio)} (rounds: ${v.ratios.map(formatRatio).join(', ')}); lowest half second ${formatRatio(v.lowestRatio)}`]);
  }
  out.push(table(['figure', 'target', 'verdict'], targetRows));
  out.push('');
  out.push('### What is counted');
  out.push('');
  out.push('- **Load generator** (`bench/lib/loadgen.mjs`): a request failed when its connection closed without a complete ' +
    '`200` response; resets, refused connections, early closes and other statuses share one counter. New connections: ' +
    'one `GET /` with `Connection: close` per TCP connection. Keep-alive: after each response it writes the next request at ' +
    'once, without reading `Connection: close`, and replaces a connection the server closed.');
  if (s.keepalive !== undefined) {
    const k = s.keepalive;
    const probeCloses = k.closesAfterConnectionClose + k.closesWhileIdle + k.probeFailures.length;
    out.push(`- Keep-alive during a reload: every connection of the old worker closes once per reload, and the generator, which ` +
      `always has a request on the wire, counts an error for each: ${formatNumber(k.errorsInReloads)} errors in ${k.reloadCount} ` +
      `reloads, ${formatNumber(k.errorsInReloads / k.reloadCount, 1)} per reload with ${keepAliveConnections} connections. The ` +
      'count is the same whether the server closed the connection gracefully (after a response with `Connection: close`, ' +
      'which the generator does not read) or dropped a request; the probe tells the two apart. Of the probe\'s ' +
      `${formatNumber(probeCloses)} keep-alive connections closed by the server during the run, ` +
      `${formatNumber(k.closesAfterConnectionClose)} closed after a \`Connection: close\` response, ` +
      `${formatNumber(k.closesWhileIdle)} while idle (neither is a failure) and ${formatNumber(k.probeFailures.length)} with ` +
      'a request outstanding (failures, listed below).');
  }
  out.push(`- **Probe** (this script, ${probeConnections} connections from 127.0.0.240 on, alongside the generator): a conforming ` +
    'client, one request at a time per connection, back to back; after `Connection: close` it opens a new connection. Its ' +
    'failures are listed below with their place in the reload.');
  out.push(`- Balancer counters of the primary (\`stats().connections\`: failed over, rejected, overloaded), summed: ` +
    Object.entries(s).map(([variant, v]) => `${LABEL[variant]} ${formatNumber(v.failedOver)}`).join(', ') + '.');
  out.push('- Longest probe request: ' + Object.entries(s).map(([variant, v]) =>
    `${LABEL[variant]} ${ms(v.maxLatency.steady)} in steady state, ${ms(v.maxLatency.reloads)} during reloads`).join('; ') + '.');
  const failures = Object.entries(s).flatMap(([variant, v]) => v.probeFailures.map((f) => ({ ...f, variant })));
  if (failures.length > 0) {
    out.push('');
    out.push(`### Probe failures (${failures.length}${failures.length > 15 ? ', first 15' : ''})`);
    out.push('');
    const kinds = {};
    for (const f of failures) kinds[`${LABEL[f.variant]}: ${f.kind}`] = (kinds[`${LABEL[f.variant]}: ${f.kind}`] ?? 0) + 1;
    const sinceReady = failures.map((f) => f.sinceReadyMs).filter((v) => v !== undefined);
    if (sinceReady.length > 0) {
      out.push(`${sinceReady.length} of the ${failures.length} failures fell ${Math.min(...sinceReady)}–${Math.max(...sinceReady)} ms after ` +
        'a slot\'s replacement became ready, which is when the old worker is asked to drain (median ' +
        `${formatNumber(median(sinceReady))} ms); the old worker exited shortly after.`);
      out.push('');
    }
    out.push(`By kind: ${Object.entries(kinds).map(([kind, n]) => `${kind} ${n}`).join(', ')}. "waited" is the time from writing the ` +
      'request to the close; "where" places the failure between the moment the slot\'s replacement became ready (the old ' +
      'worker is sent its close request right then and begins to drain) and the old worker\'s exit.');
    out.push('');
    out.push(table(['round', 'load', 'phase', 'kind', 'code', 'request # on its connection', 'waited', 'where'], failureRows(failures)));
  }
  out.push('');
  out.push('### Setup');
  out.push('');
  // BENCH_DIST names the run's private copy of dist/, not a setting.
  const command = commandLine('bench/rolling-restart.mjs').replace(/(^| )BENCH_DIST=\S+/, '').trim();
  out.push(`- Command: \`${command}\` (after \`npm run build\`)`);
  out.push(`- Date: ${today()}, duration ${minutes.toFixed(1)} min; source: ${sourceRevision()}`);
  out.push(`- Machine: ${describeMachine()}`);
  out.push(`- Target: \`bench/targets/reload-target.mjs\`, ${workers} workers, IP mode, default options (one slot replaced at a ` +
    'time, `drainTimeout` 10 s); the workers answer `200` with a 2-byte body. One load generator process; the target, the ' +
    'generator and this script share the machine.');
  out.push(`- New connections: ${concurrency} in flight from 127.0.0.2 … 127.0.0.${sourceCount + 1}. Keep-alive: ` +
    `${keepAliveConnections} persistent connections from 127.0.0.2 … 127.0.0.${keepAliveConnections + 1}, one request at a time each.`);
  out.push(`- Per round: a fresh target, ${warmupSeconds} s warm-up, ${steadySeconds} s steady state, ${reloads} reloads, stop. ` +
    `Rounds alternate the load shapes.${skipped > 0 ? ` ${skipped} round(s) skipped to stay within the time budget.` : ''}`);
  out.push('');
  out.push('### Per round');
  out.push('');
  out.push(table(
    ['load', 'round', 'steady', 'during reloads', 'ratio', 'reload ms: median / max', 'generator errors (warm-up / steady / reloads / stop)', 'probe: failed / closed after `Connection: close`', 'target tree CPU, cores (steady / reloads)', 'other load, cores (steady / reloads)'],
    results.map((r) => [
      LABEL[r.variant], String(r.round + 1), `${formatNumber(r.steady.rate)}/s`, `${formatNumber(r.reloading.rate)}/s`, formatRatio(r.ratio),
      `${formatNumber(median(r.reloadMs))} / ${formatNumber(Math.max(...r.reloadMs))}`,
      `${r.errors.warmup} / ${r.errors.steady} / ${r.errors.reloads} / ${r.errors.stop}`,
      `${r.probe.failures.length} / ${r.probe.closes.afterConnectionClose}`,
      `${r.steady.treeCores.toFixed(2)} / ${r.reloading.treeCores.toFixed(2)}`,
      `${r.steady.foreign.toFixed(2)} / ${r.reloading.foreign.toFixed(2)}`,
    ]),
  ));
  out.push('');
  out.push('"target tree CPU" is the primary and all its workers (the exited ones included): starting a replacement worker ' +
    'costs CPU that the load no longer gets, on a machine where the load already uses every core. "other load" is the ' +
    'machine\'s CPU time (/proc/stat) minus the benchmark\'s own processes; tick-based, about ±0.2 cores. Steal by the ' +
    `hypervisor: median ${median(results.flatMap((r) => [r.steady.steal, r.reloading.steal])).toFixed(2)} cores.`);
  return out.join('\n');
}

function ensureSection(path) {
  // writeSection() only replaces a section whose markers are in the file.
  const begin = `<!-- begin:${SECTION} -->`;
  const text = existsSync(path) ? readFileSync(path, 'utf8') : '# Benchmark results\n\nSee [README.md](README.md) for how to run the benchmarks.\n';
  if (!text.includes(begin)) writeFileSync(path, `${text.trimEnd()}\n\n${begin}\n_Not run yet._\n<!-- end:${SECTION} -->\n`);
}

async function main() {
  const startedAt = Date.now();
  const hadDist = process.env.BENCH_DIST !== undefined;
  const removeSnapshot = useDistSnapshot();
  if (!hadDist && process.env.BENCH_DIST !== undefined) copyRuntimeDependencies(process.env.BENCH_DIST);
  const loadgen = startLoadgen();
  const results = [];
  let skipped = 0;
  let longestRound = 0;
  try {
    log(`${rounds} round(s) × ${variants.join(', ')}, ${reloads} reloads each, ${steadySeconds} s steady state`);
    for (let round = 0; round < rounds; round++) {
      for (const variant of variants) {
        if (results.length > 0 && Date.now() - startedAt + longestRound > budgetMs) {
          skipped++;
          continue;
        }
        const roundStart = Date.now();
        results.push(await runRound(variant, round, loadgen));
        longestRound = Math.max(longestRound, Date.now() - roundStart);
      }
    }
  } finally {
    await loadgen.stop();
    removeSnapshot();
  }
  if (skipped > 0) log(`${skipped} round(s) skipped: time budget`);
  const path = resultsPath(isQuick);
  ensureSection(path);
  writeSection(path, SECTION, render(results, startedAt, skipped));
  mkdirSync(new URL('./tmp/', import.meta.url), { recursive: true });
  writeFileSync(new URL('./tmp/rolling-restart.json', import.meta.url), JSON.stringify(results, null, 2));
  log(`written to ${path} (raw figures: bench/tmp/rolling-restart.json)`);
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
