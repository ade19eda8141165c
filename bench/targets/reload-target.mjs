// Target of bench/rolling-restart.mjs: a sticky-runtime cluster in IP mode, BENCH_WORKERS workers (2)
// that answer every request with the same tiny response and an `x-worker: <slot>` header.
//
// The primary talks to the bench over IPC:
//   sends    { type: 'ready', port, pids }        once every slot has a ready worker
//   sends    { type: 'event', name, at, payload } reloadStart / reloadProgress / reloadEnd / workerReady / workerExit
//                                                 (`at`: Date.now() in ms)
//   answers  { cmd: 'reload', id }  → { id, ok, ms, report } or { id, ok: false, ms, code, message, report }
//   answers  { cmd: 'stats', id }   → { id, stats }  (primary.stats())
//   answers  { cmd: 'cpu', id }     → { id, micros } (CPU time of the whole tree: primary, live workers
//                                     and the workers that already exited, in µs; Linux /proc)
// It shuts down gracefully on SIGTERM (the package's own signal handling), and stops when the bench
// goes away (IPC disconnect) or after BENCH_MAX_LIFETIME_MS. Workers are cluster workers: they exit
// when the primary does.
//
// The package is loaded from ../../dist/, or from the run's private copy of it (BENCH_DIST) when the
// bench made one. Every worker a reload forks loads it again from disk.
import cluster from 'node:cluster';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { processCpuMicros } from '../lib/machine-load.mjs';

// BENCH_DIST: the run's private copy of dist/ (set by the bench), else the package's dist/.
const { listen } = await import(process.env.BENCH_DIST ? pathToFileURL(`${process.env.BENCH_DIST}/index.js`).href : '../../dist/index.js');

const workerCount = Number(process.env.BENCH_WORKERS ?? 2);
const host = '127.0.0.1';
const maxLifetime = Number(process.env.BENCH_MAX_LIFETIME_MS ?? 10 * 60_000);

async function options() {
  const result = { workers: workerCount, handleSignals: true };
  // BENCH_LOG=info (or warn, debug…) makes the package log to stderr, for diagnosing a run.
  if (process.env.BENCH_LOG) {
    const { pino } = await import('pino');
    result.logger = pino({ level: process.env.BENCH_LOG, base: { pid: process.pid } }, pino.destination(2));
  }
  return result;
}

function createApp() {
  const body = Buffer.from('ok');
  const headers = { 'content-type': 'text/plain', 'content-length': body.length, 'x-worker': String(process.env.STICKY_RUNTIME_SLOT) };
  return http.createServer((request, response) => {
    response.writeHead(200, headers);
    response.end(body);
  });
}

/** utime + stime of this process plus cutime + cstime (its exited, reaped children), in µs. */
function selfAndReapedMicros() {
  try {
    const stat = readFileSync('/proc/self/stat', 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) * 1e6) / 100;
  } catch {
    return Number.NaN;
  }
}

/** The primary, the exited workers and every live one (serving or draining), in µs. */
function treeMicros() {
  let micros = selfAndReapedMicros();
  for (const worker of Object.values(cluster.workers ?? {})) {
    if (worker?.process.pid !== undefined) micros += processCpuMicros(worker.process.pid);
  }
  return micros;
}

/** To the bench, unless it has gone away (then the process is stopping anyway). */
function tell(message) {
  if (process.connected) process.send(message, () => {}); // a send error means the bench is gone
}

async function reload(primary) {
  const started = performance.now();
  try {
    const report = await primary.reload();
    return { ok: true, ms: performance.now() - started, report };
  } catch (error) {
    return { ok: false, ms: performance.now() - started, code: error?.code, message: String(error?.message ?? error), report: error?.report };
  }
}

function runPrimary(closeMaster, app) {
  const { primary } = closeMaster;
  app.once('listening', async () => {
    await primary.whenReady();
    tell({ type: 'ready', port: app.address().port, pids: primary.stats().slots.map((slot) => slot.pid) });
  });
  for (const name of ['reloadStart', 'reloadProgress', 'reloadEnd', 'workerReady', 'workerExit']) {
    primary.on(name, (payload) => tell({ type: 'event', name, at: Date.now(), payload }));
  }
  process.on('message', async (message) => {
    if (message?.cmd === 'reload') tell({ id: message.id, ...(await reload(primary)) });
    else if (message?.cmd === 'stats') tell({ id: message.id, stats: primary.stats() });
    else if (message?.cmd === 'cpu') tell({ id: message.id, micros: treeMicros() });
  });
  let isStopping = false;
  const stop = (code) => {
    if (isStopping) return;
    isStopping = true;
    closeMaster(() => process.exit(code), false);
    setTimeout(() => process.exit(code || 1), 5_000).unref();
  };
  process.on('disconnect', () => stop(0));
  setTimeout(() => {
    console.error('reload-target: lifetime limit reached');
    stop(2);
  }, maxLifetime).unref();
}

const app = createApp();
const closeMaster = listen(app, 0, host, await options());
if (closeMaster) runPrimary(closeMaster, app);
