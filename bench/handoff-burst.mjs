// A burst of N connections that the primary holds at once and hands to its workers, two ways:
//
//   naive  worker.send(message, socket) for every socket right away. Node sends one handle per
//          channel at a time and parks the rest in the channel's _handleQueue; on every
//          NODE_HANDLE_ACK it replays the whole queue through _send, which parks all but one again.
//   link   sticky-runtime's handoff link (dist/sticky/planes/handoff-link-primary.js): its own FIFO, one
//          handle given to Node at a time, the next one on the ACK.
//
// This script is the cluster primary itself. It forks two workers (bench/targets/burst-worker.mjs,
// which answer "ok" on every socket) and one load generator (bench/lib/loadgen.mjs). Per burst:
// the generator opens N connections at once; the primary accepts them with pauseOnConnect and
// holds them until all N are in; then it hands them all over (socket i to worker i mod 2) and
// measures, from that moment until the generator reports every reply: the wall time, the primary's
// process.cpuUsage() and the longest event-loop stall. Medians of BENCH_BURST_ROUNDS rounds; the
// order of the two ways alternates from round to round. Results: the "handoff" section of RESULTS.md.
import cluster from 'node:cluster';
import net from 'node:net';
import { once } from 'node:events';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { startLoadgen, loopbackAddresses } from './lib/processes.mjs';
import { distUrl } from './lib/dist-snapshot.mjs';
import { foreignCores, processCpuMicros, readBusy, waitForQuiet } from './lib/machine-load.mjs';
import {
  commandLine, describeMachine, formatNumber, formatRatio, median, resultsPath, sourceRevision, table, today, writeSection,
} from './lib/report.mjs';

const revision = sourceRevision();
// Loaded once at start; the links are internal, so they are imported by file path.
const { WorkerLink } = await import(distUrl('sticky/worker-link-primary.js'));
const { HandoffLink } = await import(distUrl('sticky/planes/handoff-link-primary.js'));
const { CONNECTION_WITHOUT_BYTES } = await import(distUrl('ipc/index.js'));

const isQuick = process.argv.includes('--quick');
const rounds = Number(process.env.BENCH_BURST_ROUNDS ?? (isQuick ? 2 : 7));
const sizes = (process.env.BENCH_BURST_SIZES ?? '1000,2000,4000').split(',').map(Number);
const workerCount = 2;
const quietWait = Number(process.env.BENCH_QUIET_WAIT ?? (isQuick ? 0 : 5));
const sources = loopbackAddresses(2, Number(process.env.BENCH_SOURCES ?? 200));
const log = (...parts) => console.error(`[burst ${new Date().toISOString().slice(11, 19)}]`, ...parts);

// The whole run stops by itself even if something hangs.
setTimeout(() => {
  console.error('handoff-burst: time limit reached');
  process.exit(3);
}, Number(process.env.BENCH_MAX_LIFETIME_MS ?? 15 * 60_000)).unref();

async function forkWorkers() {
  cluster.setupPrimary({ exec: fileURLToPath(new URL('./targets/burst-worker.mjs', import.meta.url)) });
  const workers = Array.from({ length: workerCount }, () => cluster.fork());
  await Promise.all(workers.map((worker) => once(worker, 'message')));
  return workers;
}

/** Accepts with pauseOnConnect and resolves with the sockets once `n` are held. */
function holdConnections(server, n) {
  return new Promise((resolve) => {
    const held = [];
    const onConnection = (socket) => {
      held.push(socket);
      if (held.length === n) {
        server.off('connection', onConnection);
        resolve(held);
      }
    };
    server.on('connection', onConnection);
  });
}

function handOffNaive(workers, sockets) {
  for (let i = 0; i < sockets.length; i++) workers[i % workers.length].send(CONNECTION_WITHOUT_BYTES, sockets[i]);
  return () => {};
}

function handOffWithLinks(workers, sockets, counts) {
  const undeliverable = (_link, socket) => {
    counts.undeliverable++;
    socket.destroy();
  };
  const links = workers.map((worker, slot) => new HandoffLink(new WorkerLink(worker, slot),
    { slotWaitTimeout: 600_000, undeliverable, expired: undeliverable }));
  for (let i = 0; i < sockets.length; i++) links[i % links.length].send(sockets[i], undefined);
  return () => {
    for (const link of links) link.link.close();
  };
}

async function runBurst(way, n, workers, server, loadgen) {
  const port = server.address().port;
  const held = holdConnections(server, n);
  const replies = loadgen.call({ cmd: 'burst', host: '127.0.0.1', port, addresses: sources, n }, 90_000);
  const sockets = await held;
  const counts = { undeliverable: 0 };
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  // Workers and generator from /proc, read at the same moments as the machine's total.
  const pids = [...workers.map((worker) => worker.process.pid), loadgen.child.pid];
  const othersCpu = () => pids.reduce((total, pid) => total + processCpuMicros(pid), 0);
  const busyBefore = readBusy();
  const othersBefore = othersCpu();
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const finish = way === 'naive' ? handOffNaive(workers, sockets) : handOffWithLinks(workers, sockets, counts);
  const result = await replies;
  const elapsed = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  const foreign = foreignCores(busyBefore, readBusy(), cpu.user + cpu.system + othersCpu() - othersBefore);
  delay.disable();
  finish();
  return {
    foreign,
    elapsed,
    cpuMs: (cpu.user + cpu.system) / 1000,
    maxStallMs: delay.max / 1e6,
    errors: result.errors + counts.undeliverable,
  };
}

function section(results, startedAt) {
  const rows = [];
  for (const n of sizes) {
    const pick = (way, key) => median(results[n][way].map((r) => r[key]));
    const errors = (way) => results[n][way].reduce((a, r) => a + r.errors, 0);
    for (const way of ['naive', 'link']) {
      rows.push([
        String(n),
        way === 'naive' ? 'naive `worker.send` per socket' : 'WorkerLink (own FIFO)',
        formatNumber(pick(way, 'elapsed')),
        formatNumber(pick(way, 'cpuMs')),
        formatNumber((pick(way, 'cpuMs') * 1000) / n, 1),
        formatNumber(pick(way, 'maxStallMs'), 1),
        String(errors(way)),
        formatNumber(pick(way, 'foreign'), 2),
      ]);
    }
    rows.push([
      String(n), '**naive / link**',
      formatRatio(pick('naive', 'elapsed') / pick('link', 'elapsed')),
      formatRatio(pick('naive', 'cpuMs') / pick('link', 'cpuMs')),
      '', formatRatio(pick('naive', 'maxStallMs') / pick('link', 'maxStallMs')), '', '',
    ]);
  }
  return { rows, text: (conclusion) => [
    '## Handoff burst: Node\'s handle queue against WorkerLink',
    '',
    `The primary holds N accepted connections (pauseOnConnect) and hands them all to ${workerCount} workers at once`,
    '(socket i to worker i mod 2); the workers answer "ok" and close. Measured from the first send until the',
    'load generator has every reply: wall time, the primary\'s CPU time (`process.cpuUsage()`, user + system)',
    `and the longest event-loop stall in the primary. Medians of ${rounds} rounds, the two ways alternating.`,
    '"Other load" is CPU used by processes outside the benchmark during the burst (from /proc/stat).',
    '',
    table(['N', 'handoff', 'time until all replied, ms', 'primary CPU, ms', 'primary CPU per conn, µs', 'longest stall, ms', 'failed', 'other load, cores'], rows),
    '',
    conclusion,
    '',
    `- Command: \`${commandLine('bench/handoff-burst.mjs')}\` (after \`npm run build\`)`,
    `- Date: ${startedAt}; commit ${revision}; machine: ${describeMachine()}`,
    '- Same machine for the primary, both workers and the load generator; see the contention note above.',
  ].join('\n') };
}

function conclude(results) {
  const largest = sizes.at(-1);
  const smallest = sizes[0];
  const cpu = (n, way) => median(results[n][way].map((r) => r.cpuMs));
  const time = (n, way) => median(results[n][way].map((r) => r.elapsed));
  const stall = (n, way) => median(results[n][way].map((r) => r.maxStallMs));
  const perConn = (n, way) => cpu(n, way) / n;
  const growth = (way) => perConn(largest, way) / perConn(smallest, way);
  // The part of the naive cost that WorkerLink does not have, per connection: it should grow
  // linearly with N if the replays are what costs (n²/2 replays for n handles).
  const extra = (n) => ((cpu(n, 'naive') - cpu(n, 'link')) * 1000) / n;
  const isBetter = sizes.every((n) => cpu(n, 'naive') > cpu(n, 'link')) && time(largest, 'naive') > time(largest, 'link');
  const isGrowing = sizes.every((n, i) => i === 0 || extra(n) > extra(sizes[i - 1]));
  const ratio = (n) => cpu(n, 'naive') / cpu(n, 'link');
  const isWidening = sizes.every((n, i) => i === 0 || ratio(n) > ratio(sizes[i - 1]));
  return [
    `**Conclusion.** At N = ${largest} the naive handoff costs the primary ${formatRatio(cpu(largest, 'naive') / cpu(largest, 'link'))} the CPU time`,
    `of WorkerLink (${formatNumber(cpu(largest, 'naive'))} ms against ${formatNumber(cpu(largest, 'link'))} ms), takes ${formatRatio(time(largest, 'naive') / time(largest, 'link'))} as long until every client has its`,
    `reply, and stalls the primary's event loop for up to ${formatNumber(stall(largest, 'naive'), 1)} ms against ${formatNumber(stall(largest, 'link'), 1)} ms. The naive handoff's extra CPU per`,
    `connection over WorkerLink is ${sizes.map((n) => `${formatNumber(extra(n), 1)} µs at N = ${n}`).join(', ')}`,
    `(${isGrowing ? 'it grows with the burst size' : 'it does not grow steadily with the burst size'}; Node's per-ACK replay of the whole queue is quadratic in`,
    `total), while WorkerLink's CPU per connection changes by ${formatRatio(growth('link'))} from N = ${smallest} to N = ${largest} (naive: ${formatRatio(growth('naive'))}).`,
    isBetter ? `**The own queue measures better** at every burst size${isWidening ? ', and the gap widens with the burst' : ''}.`
      : '**The own queue does not measure better at every size** here; see the table.',
  ].join('\n');
}

async function main() {
  const startedAt = today();
  const out = resultsPath(isQuick);
  log(`sizes ${sizes.join(', ')}, rounds ${rounds}; results -> ${out}`);
  const workers = await forkWorkers();
  const loadgen = startLoadgen();
  const server = net.createServer({ pauseOnConnect: true, noDelay: true });
  server.listen({ port: 0, host: '127.0.0.1', backlog: 8192 });
  await once(server, 'listening');
  try {
    // Warm-up, not measured: JIT in all processes, both code paths.
    for (const way of ['naive', 'link']) await runBurst(way, 500, workers, server, loadgen);
    const results = Object.fromEntries(sizes.map((n) => [n, { naive: [], link: [] }]));
    for (let round = 0; round < rounds; round++) {
      for (const n of sizes) {
        const ways = round % 2 === 0 ? ['naive', 'link'] : ['link', 'naive'];
        if (quietWait > 0) await waitForQuiet({ threshold: 0.15, maxSeconds: quietWait });
        for (const way of ways) {
          const result = await runBurst(way, n, workers, server, loadgen);
          results[n][way].push(result);
          log(`round ${round + 1}/${rounds} N=${n} ${way.padEnd(5)} ${formatNumber(result.elapsed).padStart(6)} ms, ` +
            `primary CPU ${formatNumber(result.cpuMs).padStart(5)} ms, stall ${result.maxStallMs.toFixed(1)} ms, failed ${result.errors}, ` +
            `other load ${result.foreign.toFixed(2)} cores`);
        }
      }
    }
    const { text } = section(results, startedAt);
    const conclusion = conclude(results);
    writeSection(out, 'handoff', text(conclusion));
    log(conclusion.replace(/\*\*/g, ''));
  } finally {
    server.close();
    await loadgen.stop();
    for (const worker of workers) worker.process.kill('SIGTERM');
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
