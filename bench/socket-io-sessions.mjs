// What `socketIoSessions` costs the primary, against IP mode over the primary hop (the same hop with
// no byte read): new connections/s (one request per connection, Connection: close) and the primary's
// CPU per connection, for the two kinds of Socket.IO requests:
//   handshake  no `sid` yet: the primary reads the head and spreads by connection
//   session    `sid=<id>.<slot>` in the query: the primary reads the head and routes by the slot
// The workers answer a tiny response (no Socket.IO server): only the primary's routing differs.
// One process tree per target for the whole run; rounds of short windows visit every case once, in
// an order rotated by one each round, so load from other processes falls on all alike. Medians.
// Writes the "socket-io-sessions" section of RESULTS.md (`--quick`: bench/tmp/RESULTS.md).
//
//   npm run build && node bench/socket-io-sessions.mjs [--quick]
//   (BENCH_ROUNDS, BENCH_SECONDS, BENCH_WARMUP, BENCH_CONCURRENCY, BENCH_SOURCES, BENCH_WORKERS)
import { setTimeout as sleep } from 'node:timers/promises';
import { startLoadgen, startTarget, loopbackAddresses } from './lib/processes.mjs';
import { useDistSnapshot } from './lib/dist-snapshot.mjs';
import { foreignCores, readBusy } from './lib/machine-load.mjs';
import { commandLine, describeMachine, formatNumber, formatRatio, median, resultsPath, sourceRevision, table, today, writeSection } from './lib/report.mjs';

const isQuick = process.argv.includes('--quick');
const setting = (name, fallback) => {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a non-negative number, got ${process.env[name]}`);
  return value;
};
const settings = {
  rounds: setting('BENCH_ROUNDS', isQuick ? 2 : 8),
  seconds: setting('BENCH_SECONDS', isQuick ? 1 : 2),
  warmup: setting('BENCH_WARMUP', 0.5),
  concurrency: setting('BENCH_CONCURRENCY', 64),
  sources: setting('BENCH_SOURCES', 200),
  workers: setting('BENCH_WORKERS', 2),
};
const log = (...parts) => console.error(`[sio ${new Date().toISOString().slice(11, 19)}]`, ...parts);

const HANDSHAKE = '/socket.io/?EIO=4&transport=polling&t=PbC1kqd';
// A session id as generateSessionId() makes them (20 base64url characters, then the slot); one per slot.
const sessionPaths = Array.from({ length: settings.workers }, (_, slot) => `${HANDSHAKE}&sid=Qm9vdHN0cmFwU2Vzc2lvbklk.${slot}`);

const CASES = [
  { name: 'ip-hop', target: 'ip-hop', label: 'IP mode, primary hop', paths: ['/'] },
  { name: 'handshake', target: 'sio', label: 'socketIoSessions, handshake (no sid)', paths: [HANDSHAKE] },
  { name: 'session', target: 'sio', label: 'socketIoSessions, request with sid', paths: sessionPaths },
];

async function snapshot(loadgen, target) {
  const [counts, cpu] = await Promise.all([loadgen.call({ cmd: 'snapshot' }), target.cpu()]);
  return { counts, cpu, busy: readBusy() };
}

async function measure(loadgen, target, paths) {
  const addresses = loopbackAddresses(2, settings.sources);
  await loadgen.call({ cmd: 'start', kind: 'close', host: '127.0.0.1', port: target.port, addresses, concurrency: settings.concurrency, paths });
  await sleep(settings.warmup * 1000);
  const before = await snapshot(loadgen, target);
  await sleep(settings.seconds * 1000);
  const after = await snapshot(loadgen, target);
  await loadgen.call({ cmd: 'stop', drainMs: 10_000 });
  const final = await loadgen.call({ cmd: 'snapshot' });
  const completed = after.counts.completed - before.counts.completed;
  const elapsed = (after.counts.at - before.counts.at) / 1000;
  const primaryMicros = after.cpu.primary - before.cpu.primary;
  const ownCpu = primaryMicros + after.cpu.workers - before.cpu.workers + after.counts.micros - before.counts.micros;
  return {
    rate: completed / elapsed,
    primaryMicros: primaryMicros / completed,
    errors: final.errors,
    workersSeen: Object.keys(after.counts.byWorker).length,
    foreign: foreignCores(before.busy, after.busy, ownCpu),
  };
}

async function main() {
  const removeSnapshot = useDistSnapshot();
  const loadgen = startLoadgen();
  const targets = {};
  const runs = Object.fromEntries(CASES.map((c) => [c.name, []]));
  try {
    for (const name of new Set(CASES.map((c) => c.target))) targets[name] = await startTarget(name, { BENCH_WORKERS: String(settings.workers) });
    // Unmeasured: JIT and first-use allocations in every process, for this load shape.
    for (const c of CASES) await measure(loadgen, targets[c.target], c.paths);
    for (let round = 0; round < settings.rounds; round++) {
      for (let i = 0; i < CASES.length; i++) {
        const c = CASES[(i + round) % CASES.length];
        const run = await measure(loadgen, targets[c.target], c.paths);
        runs[c.name].push(run);
        log(`round ${round + 1}/${settings.rounds} ${c.name}: ${formatNumber(run.rate)} conn/s, primary ${formatNumber(run.primaryMicros, 1)} µs/conn, foreign ${run.foreign.toFixed(2)} cores`);
      }
    }
  } finally {
    await loadgen.stop();
    await Promise.all(Object.values(targets).map((t) => t.stop()));
    removeSnapshot();
  }
  const base = median(runs['ip-hop'].map((r) => r.rate));
  const baseCpu = median(runs['ip-hop'].map((r) => r.primaryMicros));
  const rows = CASES.map((c) => {
    const rate = median(runs[c.name].map((r) => r.rate));
    const cpu = median(runs[c.name].map((r) => r.primaryMicros));
    return [c.label, formatNumber(rate), formatRatio(rate / base), formatNumber(cpu, 1), formatRatio(cpu / baseCpu),
      String(Math.max(...runs[c.name].map((r) => r.errors))), formatNumber(median(runs[c.name].map((r) => r.foreign)), 2)];
  });
  const body = [
    `## Socket.IO sessions: the primary's cost (${today()})`,
    '',
    `${describeMachine()}; source ${sourceRevision()}. \`${commandLine('bench/socket-io-sessions.mjs')}\``,
    `${settings.workers} workers, ${settings.concurrency} connections in flight from ${settings.sources} source addresses, one request each; ` +
      `medians of ${settings.rounds} rounds of ${settings.seconds} s.`,
    '',
    table(['case', 'new conn/s', 'vs IP hop', 'primary µs/conn', 'vs IP hop', 'errors', 'foreign cores'], rows),
  ].join('\n');
  const path = resultsPath(isQuick);
  writeSection(path, 'socket-io-sessions', body);
  console.log(body);
  log(`written to ${path}`);
}

await main();
