// `sticky-runtime serve` and PM2's cluster mode side by side: the same Express app
// (bench/targets/express-app.cjs), the same workers, the same load, the same rolling reloads.
//
// Usage (Linux; run `npm run build` first, this script runs dist/cli/main.js):
//   node bench/pm2-side-by-side.mjs           3 reloads; ≈ 1.5 min plus PM2's install; writes the
//                                             "pm2-side-by-side" section of bench/RESULTS.md
//   node bench/pm2-side-by-side.mjs --quick   1 reload, 2 s windows; writes bench/tmp/RESULTS.md
// Settings (environment):
//   BENCH_PM2_VERSION (7.0.4)      PM2 version, installed with `npm install --prefix <temporary dir>`
//                                  (never into the project; its PM2_HOME is in the same temporary dir)
//   BENCH_RELOADS (3, quick 1)     rolling reloads per side, each awaited, then a window of steady load
//   BENCH_WINDOW_SECONDS (4, quick 2) steady load before the first reload and after each one
//   BENCH_SOURCES (20)             source addresses 127.0.0.2 …; the first half keep-alive, the rest a new
//                                  connection per request; one request at a time per source
//   BENCH_PACE_MS (0)              pause between two requests of a source
//   BENCH_WORKERS (2)              workers per side
//   BENCH_INFLIGHT (10)            requests in flight when the cluster is told to stop (sources 127.0.0.100 …)
//   BENCH_SLOW_MS (1000)           how long each of them takes (below PM2's 1.6 s kill timeout)
//   BENCH_STARTS (3, quick 1)      timed starts per side (the last one is the one loaded); median reported
//   BENCH_OUT                      results file
//
// Per side: start the cluster and time the first `200` (a fresh connection every 10 ms from the moment
// the start command is run); wait until every worker is ready; load; a window of steady load; then each
// reload (`sticky-runtime reload` over the control socket / `pm2 reload`), followed by a window of steady
// load. A reload's failed requests are those between its start and the next reload's start (or the
// end of the load). Stickiness: per window, the sources whose every response came from one worker pid
// and that pid's slot (PM2: NODE_APP_INSTANCE) is the slot the source had before the first reload; over
// the whole run, the sources that only ever reached one slot. Then the load stops, BENCH_INFLIGHT slow
// requests are sent, and once every worker is serving them the cluster is stopped (SIGTERM to serve /
// `pm2 stop`): the requests that did not complete are lost.
//
// All traffic stays on 127.0.0.0/8; the only other network use is PM2's install from the npm registry.
// Everything is bounded in time (BENCH_MAX_LIFETIME_MS, 5 min, after the install); the script stops
// what it started (`pm2 kill`, then the daemon's pid; the serve process by pid) also on failure or a
// signal, and removes its temporary directory.
import { mkdtempSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AttributedClient, slowRequests } from './lib/attributed-client.mjs';
import { installPm2, pm2Runner, removeDir, stickyRuntimeRunner } from './lib/cluster-runners.mjs';
import { loopbackAddresses } from './lib/processes.mjs';
import { renderSideBySide } from './lib/side-by-side-report.mjs';
import { commandLine, describeMachine, resultsPath, sourceRevision, today, writeSection } from './lib/report.mjs';

const isQuick = process.argv.includes('--quick');
const env = process.env;
const settings = {
  pm2Version: env.BENCH_PM2_VERSION ?? '7.0.4',
  reloads: Number(env.BENCH_RELOADS ?? (isQuick ? 1 : 3)),
  windowSeconds: Number(env.BENCH_WINDOW_SECONDS ?? (isQuick ? 2 : 4)),
  sources: Number(env.BENCH_SOURCES ?? 20),
  paceMs: Number(env.BENCH_PACE_MS ?? 0),
  workers: Number(env.BENCH_WORKERS ?? 2),
  inflight: Number(env.BENCH_INFLIGHT ?? 10),
  slowMs: Number(env.BENCH_SLOW_MS ?? 1000),
  starts: Number(env.BENCH_STARTS ?? (isQuick ? 1 : 3)),
};
const HOST = '127.0.0.1';
const SECTION = 'pm2-side-by-side';
const log = (...parts) => console.error(`[pm2-side-by-side ${new Date().toISOString().slice(11, 19)}]`, ...parts);

if (settings.sources < 2 || settings.sources > 96) throw new Error('BENCH_SOURCES must be 2 … 96 (127.0.0.2 … 127.0.0.97)');
if (settings.inflight < 1 || settings.inflight > 100) throw new Error('BENCH_INFLIGHT must be 1 … 100');
const sources = loopbackAddresses(2, settings.sources);
const keepAliveSources = sources.slice(0, Math.floor(sources.length / 2));
const closeSources = sources.slice(keepAliveSources.length);
const inflightSources = loopbackAddresses(100, settings.inflight);

async function freePort() {
  const server = net.createServer().listen(0, HOST);
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** One GET / on a fresh connection; resolves true on a 200. */
function answers(port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: HOST, port });
    let text = '';
    socket.setTimeout(1_000, () => socket.destroy());
    socket.on('connect', () => socket.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
    socket.on('data', (chunk) => { text += chunk; });
    socket.on('error', () => {});
    socket.on('close', () => resolve(text.startsWith('HTTP/1.1 200')));
  });
}

/** Starts the cluster and polls until the first 200: ms from the start command to that answer. */
async function timedStart(runner, port) {
  const started = performance.now();
  runner.start();
  const deadline = started + 30_000;
  while (!(await answers(port))) {
    if (performance.now() > deadline) throw new Error(`${runner.name}: no answer within 30 s ${runner.log()}`);
    await sleep(10);
  }
  return performance.now() - started;
}

/** slot of a source in one window: its only pid's slot, or undefined when it reached several (or none). */
function slotOf(pids, slots) {
  if (pids === undefined || pids.size !== 1) return undefined;
  return slots.get([...pids][0]);
}

function stickiness(window, baseline, slots, list) {
  let sticky = 0;
  for (const source of list) {
    const slot = slotOf(window.pids.get(source), slots);
    if (slot !== undefined && slot === slotOf(baseline.pids.get(source), slots)) sticky++;
  }
  return { sticky, of: list.length };
}

async function runSide(runner, port) {
  log(`${runner.name}: start`);
  await runner.prepare?.();
  const loadAverage = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const startsMs = [];
  for (let i = 1; i < settings.starts; i++) {
    startsMs.push(await timedStart(runner, port));
    await runner.waitReady();
    await runner.discard();
  }
  startsMs.push(await timedStart(runner, port));
  await runner.waitReady();
  const slots = await runner.slots(); // every pid ever seen → slot, old workers included
  const remember = async () => { for (const [pid, slot] of await runner.slots()) slots.set(pid, slot); };
  const client = new AttributedClient({ host: HOST, port, keepAliveSources, closeSources, paceMs: settings.paceMs });
  const cpuBefore = process.cpuUsage();
  const loadStarted = performance.now();
  let served = 0;
  const steady = AttributedClient.newSink(true);
  client.use(AttributedClient.newSink(false)); // 1 s to settle, not counted
  await sleep(1_000);
  client.use(steady);
  await sleep(settings.windowSeconds * 1000);
  served += steady.ok;
  const reloads = [];
  for (let k = 0; k < settings.reloads; k++) {
    const during = AttributedClient.newSink(false);
    client.use(during);
    const { ms, stdout } = await runner.reload();
    await remember();
    await sleep(500); // old workers finish leaving; their failures still count for this reload
    const after = AttributedClient.newSink(true);
    client.use(after);
    await sleep(settings.windowSeconds * 1000);
    served += during.ok + after.ok;
    const failures = {};
    for (const sink of [during, after]) for (const [kind, n] of Object.entries(sink.failures)) failures[kind] = (failures[kind] ?? 0) + n;
    reloads.push({ ms, output: stdout.trim(), ok: during.ok + after.ok, failures, window: after });
    log(`${runner.name}: reload ${k + 1} in ${Math.round(ms)} ms, failures ${JSON.stringify(failures)}`);
  }
  await client.stop(5_000);
  const loadSeconds = (performance.now() - loadStarted) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  await remember().catch(() => {});

  // In flight at the stop: every worker has sent the first line of each slow request.
  const slow = slowRequests({ host: HOST, port, sources: inflightSources, ms: settings.slowMs });
  const arrived = await Promise.race([slow.arrived, sleep(10_000).then(() => false)]);
  const stop = await runner.stop();
  const inflight = await slow.results;
  log(`${runner.name}: stopped in ${Math.round(stop.ms)} ms, in flight completed ${inflight.filter((r) => r.ok).length}/${inflight.length}`);

  const result = {
    name: runner.name,
    describe: runner.describe,
    startsMs,
    loadAverage,
    served,
    loadSeconds,
    clientCores: (cpu.user + cpu.system) / 1e6 / loadSeconds,
    steady: { failures: steady.failures, ok: steady.ok },
    baseline: {
      keepAlive: stickiness(steady, steady, slots, keepAliveSources),
      close: stickiness(steady, steady, slots, closeSources),
    },
    reloads: reloads.map((r) => ({
      ms: r.ms,
      ok: r.ok,
      failures: r.failures,
      keepAlive: stickiness(r.window, steady, slots, keepAliveSources),
      close: stickiness(r.window, steady, slots, closeSources),
    })),
    oneSlot: {
      keepAlive: keepAliveSources.filter((s) => new Set([...(client.allPids.get(s) ?? [])].map((p) => slots.get(p))).size === 1).length,
      close: closeSources.filter((s) => new Set([...(client.allPids.get(s) ?? [])].map((p) => slots.get(p))).size === 1).length,
    },
    unknownPids: [...client.allPids.values()].flatMap((set) => [...set]).filter((pid) => !slots.has(pid)).length,
    inflight: {
      arrived,
      completed: inflight.filter((r) => r.ok).length,
      lost: inflight.filter((r) => !r.ok).map((r) => r.kind),
    },
    stop,
  };
  return result;
}

const cleanups = [];
let cleaning;
function cleanupAll() {
  cleaning ??= (async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch((error) => log(`cleanup: ${error.message}`));
  })();
  return cleaning;
}
// The last resort when the script dies before its cleanup ran: SIGTERM to the processes it started
// (the serve primary stops its workers, PM2's daemon its apps).
const startedPids = new Set();
process.on('exit', () => {
  for (const pid of startedPids) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // Already gone.
    }
  }
});
process.on('uncaughtException', (error) => {
  console.error(error);
  cleanupAll().finally(() => process.exit(1));
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    log(`${signal}: stopping`);
    cleanupAll().finally(() => process.exit(130));
  });
}

async function main() {
  const startedAt = Date.now();
  const dir = mkdtempSync(join(tmpdir(), 'sticky-pm2-bench-'));
  cleanups.push(async () => removeDir(dir));
  log(`installing pm2@${settings.pm2Version} into ${dir}/prefix`);
  const pm2 = await installPm2({ dir, version: settings.pm2Version });
  log(`pm2 ${pm2.version} installed in ${pm2.installSeconds.toFixed(1)} s`);
  setTimeout(() => {
    log('time limit reached');
    cleanupAll().finally(() => process.exit(3));
  }, Number(env.BENCH_MAX_LIFETIME_MS ?? 5 * 60_000)).unref();

  const results = [];
  const sides = [
    (port) => stickyRuntimeRunner({ dir: mkdtempSync(join(dir, 'serve-')), host: HOST, port, workers: settings.workers }),
    (port) => pm2Runner({ dir, host: HOST, port, workers: settings.workers, pm2 }),
  ];
  for (const makeRunner of sides) {
    const port = await freePort();
    const runner = makeRunner(port);
    cleanups.push(async () => {
      await runner.cleanup();
      startedPids.clear();
    });
    runner.onPid = (pid) => startedPids.add(pid);
    runner.onPidGone = (pid) => startedPids.delete(pid);
    results.push(await runSide(runner, port));
    await runner.cleanup();
    startedPids.clear();
  }
  const path = resultsPath(isQuick);
  const setup = {
    command: commandLine('bench/pm2-side-by-side.mjs'),
    date: today(),
    minutes: (Date.now() - startedAt) / 60_000,
    revision: sourceRevision(),
    machine: describeMachine(),
    cores: availableParallelism(),
    settings,
    keepAliveSources,
    closeSources,
    inflightSources,
  };
  writeSection(path, SECTION, renderSideBySide(results, setup));
  log(`written to ${path}`);
}

main()
  .then(() => cleanupAll().then(() => process.exit(0)))
  .catch((error) => {
    console.error(error);
    return cleanupAll().finally(() => process.exit(1));
  });
