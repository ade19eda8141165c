// Throughput comparison of four ways to spread connections over cluster workers, plus the reconnect
// storm figure. See bench/README.md for the settings; results go to bench/RESULTS.md.
//
//   rr      Node's cluster, SCHED_RR (the baseline every ratio refers to)
//   none    Node's cluster, SCHED_NONE
//   ip      sticky-runtime, IP mode
//   header  sticky-runtime, header mode (x-forwarded-for)
//
// Each round starts every target once, in an order rotated by one per round, as a fresh process
// tree, and measures on it: new connections/s (Connection: close, `concurrency` in flight, source
// addresses used round-robin), then requests/s over persistent connections. Medians over rounds.
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { startLoadgen, startTarget, loopbackAddresses } from './lib/processes.mjs';
import {
  commandLine, describeMachine, formatNumber, formatRatio, median, resultsPath, table, today, writeSection,
} from './lib/report.mjs';

const isQuick = process.argv.includes('--quick');
const envNumber = (name, fallback) => {
  const value = process.env[name];
  if (value === undefined || value === '') return fallback;
  const number = Number(value);
  if (!Number.isFinite(number) || number < 0) throw new Error(`${name} must be a non-negative number, got ${value}`);
  return number;
};
const envList = (name, fallback) => (process.env[name] ?? fallback).split(',').map((s) => s.trim()).filter(Boolean);

const settings = {
  rounds: envNumber('BENCH_ROUNDS', isQuick ? 2 : 5),
  seconds: envNumber('BENCH_SECONDS', isQuick ? 2 : 5),
  warmup: envNumber('BENCH_WARMUP', isQuick ? 0.5 : 1),
  concurrency: envNumber('BENCH_CONCURRENCY', 64),
  keepAliveConnections: envNumber('BENCH_KEEPALIVE_CONNECTIONS', 64),
  sources: envNumber('BENCH_SOURCES', 200),
  loadgens: envNumber('BENCH_LOADGENS', 1),
  workers: envNumber('BENCH_WORKERS', 2),
  targets: envList('BENCH_TARGETS', 'rr,none,ip,header'),
  stormRounds: envNumber('BENCH_STORM_ROUNDS', isQuick ? 2 : 5),
  stormSizes: envList('BENCH_STORM_SIZES', '500,1000,2000,4000').map(Number),
  stormTargets: envList('BENCH_STORM_TARGETS', 'ip,rr'),
};

const LABELS = {
  rr: 'Node cluster, SCHED_RR',
  none: 'Node cluster, SCHED_NONE',
  ip: 'sticky-runtime, IP mode',
  header: 'sticky-runtime, header mode',
};

const log = (...parts) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}]`, ...parts);
const sum = (values) => values.reduce((a, b) => a + b, 0);

// The first `sources` loopback addresses after 127.0.0.1: 127.0.0.2 … 127.0.0.201 by default.
const sources = loopbackAddresses(2, settings.sources);

/** Splits the sources and the concurrency over the load generators. */
function shareOf(index, count, addresses, concurrency) {
  return {
    addresses: addresses.filter((_, i) => i % count === index),
    concurrency: Math.floor(concurrency / count) + (index < concurrency % count ? 1 : 0),
  };
}

async function snapshotAll(loadgens, target) {
  const [snapshots, cpu] = await Promise.all([
    Promise.all(loadgens.map((lg) => lg.call({ cmd: 'snapshot' }))),
    target.cpu(),
  ]);
  return { snapshots, cpu };
}

/** Runs one load shape against a target: warm-up, then a measured window. */
async function measure(target, loadgens, kind) {
  const isKeepAlive = kind === 'keepalive';
  const addresses = isKeepAlive ? sources.slice(0, settings.keepAliveConnections) : sources;
  const concurrency = isKeepAlive ? settings.keepAliveConnections : settings.concurrency;
  await Promise.all(loadgens.map((lg, i) => lg.call({
    cmd: 'start', kind, host: '127.0.0.1', port: target.port, ...shareOf(i, loadgens.length, addresses, concurrency),
  })));
  await sleep(settings.warmup * 1000);
  const before = await snapshotAll(loadgens, target);
  await sleep(settings.seconds * 1000);
  const after = await snapshotAll(loadgens, target);
  const stopped = await Promise.all(loadgens.map((lg) => lg.call({ cmd: 'stop', drainMs: 10_000 })));
  const final = await Promise.all(loadgens.map((lg) => lg.call({ cmd: 'snapshot' })));

  const completed = sum(after.snapshots.map((s, i) => s.completed - before.snapshots[i].completed));
  const seconds = sum(after.snapshots.map((s, i) => s.at - before.snapshots[i].at)) / loadgens.length / 1000;
  const byWorker = {};
  for (const [i, s] of after.snapshots.entries()) {
    for (const [worker, count] of Object.entries(s.byWorker)) {
      byWorker[worker] = (byWorker[worker] ?? 0) + count - (before.snapshots[i].byWorker[worker] ?? 0);
    }
  }
  return {
    rate: completed / seconds,
    completed,
    // Every failure from the first request to the last, warm-up and stop included.
    errors: sum(final.map((s) => s.errors)),
    drained: stopped.every((s) => s.drained !== false),
    primaryMicros: (after.cpu.primary - before.cpu.primary) / completed,
    workerMicros: (after.cpu.workers - before.cpu.workers) / completed,
    loadgenMicros: sum(after.snapshots.map((s, i) => s.micros - before.snapshots[i].micros)) / completed,
    busiestShare: Math.max(...Object.values(byWorker)) / completed,
    workersSeen: Object.keys(byWorker).length,
  };
}

async function runComparison(loadgens) {
  const results = Object.fromEntries(settings.targets.map((t) => [t, []]));
  for (let round = 0; round < settings.rounds; round++) {
    const order = settings.targets.map((_, i) => settings.targets[(i + round) % settings.targets.length]);
    for (const name of order) {
      const target = await startTarget(name, { BENCH_WORKERS: String(settings.workers) });
      try {
        const close = await measure(target, loadgens, 'close');
        const keepAlive = await measure(target, loadgens, 'keepalive');
        results[name].push({ round, close, keepAlive });
        log(`round ${round + 1}/${settings.rounds} ${name.padEnd(6)} new conn/s ${formatNumber(close.rate).padStart(7)}` +
          `  keep-alive req/s ${formatNumber(keepAlive.rate).padStart(7)}  errors ${close.errors}/${keepAlive.errors}`);
      } finally {
        await target.stop();
      }
    }
  }
  return results;
}

async function runStorms(loadgen) {
  const results = Object.fromEntries(settings.stormTargets.map((t) => [t, Object.fromEntries(settings.stormSizes.map((n) => [n, []]))]));
  const config = { cmd: 'storm', host: '127.0.0.1', addresses: sources };
  for (let round = 0; round < settings.stormRounds; round++) {
    const targets = settings.stormTargets.map((_, i) => settings.stormTargets[(i + round) % settings.stormTargets.length]);
    for (const name of targets) {
      const target = await startTarget(name, { BENCH_WORKERS: String(settings.workers) });
      try {
        // Warm-up storm, not measured: JIT and first-use allocations in every process.
        await loadgen.call({ ...config, port: target.port, n: 500 });
        const sizes = settings.stormSizes.map((_, i) => settings.stormSizes[(i + round) % settings.stormSizes.length]);
        for (const n of sizes) {
          await sleep(300);
          const before = await target.cpu();
          const storm = await loadgen.call({ ...config, port: target.port, n });
          const after = await target.cpu();
          results[name][n].push({
            primaryMicros: (after.primary - before.primary) / n,
            workerMicros: (after.workers - before.workers) / n,
            elapsed: storm.elapsed,
            errors: storm.errors,
          });
        }
        log(`storm round ${round + 1}/${settings.stormRounds} ${name}: ` +
          settings.stormSizes.map((n) => `${n}: ${results[name][n].at(-1).primaryMicros.toFixed(1)} µs/conn`).join(', '));
      } finally {
        await target.stop();
      }
    }
  }
  return results;
}

const medianOf = (runs, pick) => median(runs.map(pick));

function verdict(ratio, threshold) {
  if (!Number.isFinite(ratio)) return 'n/a';
  const margin = (ratio / threshold - 1) * 100;
  return ratio >= threshold
    ? `**met** (${formatRatio(ratio)} vs ≥ ${threshold.toFixed(2)}×, ${margin.toFixed(0)}% above)`
    : `**not met** (${formatRatio(ratio)} vs ≥ ${threshold.toFixed(2)}×, ${Math.abs(margin).toFixed(0)}% short)`;
}

/** Ratio of the medians, and the range of the per-round ratios (rounds pair the two targets). */
function ratioOf(results, name, base, pick) {
  const ratio = medianOf(results[name] ?? [], pick) / medianOf(results[base] ?? [], pick);
  const paired = (results[name] ?? []).map((run) => {
    const other = (results[base] ?? []).find((b) => b.round === run.round);
    return other === undefined ? Number.NaN : pick(run) / pick(other);
  }).filter(Number.isFinite);
  const range = paired.length === 0 ? '' : ` (${Math.min(...paired).toFixed(2)}–${Math.max(...paired).toFixed(2)})`;
  return { ratio, text: `${formatRatio(ratio)}${range}` };
}

function summarySection(results, startedAt, minutes) {
  const has = (name) => (results[name] ?? []).length > 0;
  const closeRate = (run) => run.close.rate;
  const keepRate = (run) => run.keepAlive.rate;
  const rows = settings.targets.map((name) => {
    const runs = results[name];
    const close = has('rr') ? ratioOf(results, name, 'rr', closeRate).text : 'n/a';
    const keep = has('rr') ? ratioOf(results, name, 'rr', keepRate).text : 'n/a';
    return [
      LABELS[name],
      formatNumber(medianOf(runs, closeRate)), close,
      formatNumber(medianOf(runs, keepRate)), keep,
      String(sum(runs.map((r) => r.close.errors + r.keepAlive.errors))),
    ];
  });
  const cpuRows = settings.targets.map((name) => {
    const runs = results[name];
    return [
      LABELS[name],
      formatNumber(medianOf(runs, (r) => r.close.primaryMicros), 1),
      formatNumber(medianOf(runs, (r) => r.close.workerMicros), 1),
      formatNumber(medianOf(runs, (r) => r.close.loadgenMicros), 1),
      `${formatNumber(medianOf(runs, (r) => r.close.busiestShare * 100))}%`,
      formatNumber(medianOf(runs, (r) => r.keepAlive.primaryMicros), 2),
      formatNumber(medianOf(runs, (r) => r.keepAlive.workerMicros), 1),
      formatNumber(medianOf(runs, (r) => r.keepAlive.loadgenMicros), 1),
      `${formatNumber(medianOf(runs, (r) => r.keepAlive.busiestShare * 100))}%`,
    ];
  });
  const perRound = settings.targets.map((name) => [
    LABELS[name],
    results[name].map((r) => formatNumber(r.close.rate)).join(' · '),
    results[name].map((r) => formatNumber(r.keepAlive.rate)).join(' · '),
  ]);

  const verdicts = [];
  if (has('ip') && has('rr')) {
    verdicts.push(['IP mode, new connections/s vs SCHED_RR', '≥ 1.20×', verdict(ratioOf(results, 'ip', 'rr', closeRate).ratio, 1.2)]);
    verdicts.push(['IP mode, keep-alive requests/s vs SCHED_RR', '≥ 0.98×', verdict(ratioOf(results, 'ip', 'rr', keepRate).ratio, 0.98)]);
  }
  if (has('header') && has('ip')) {
    verdicts.push(['header mode, new connections/s vs IP mode', '≥ 0.90×', verdict(ratioOf(results, 'header', 'ip', closeRate).ratio, 0.9)]);
  }
  if (has('header') && has('rr')) {
    verdicts.push(['header mode, keep-alive requests/s vs SCHED_RR', '≥ 0.98×', verdict(ratioOf(results, 'header', 'rr', keepRate).ratio, 0.98)]);
  }

  return [
    '## Summary: throughput against Node\'s cluster',
    '',
    `Medians of ${settings.rounds} rounds. Ratios are median / median of Node's SCHED_RR; in brackets the lowest and highest`,
    'ratio of the individual rounds (each round measures every target once, back to back).',
    '',
    table(['target', 'new connections/s', 'vs SCHED_RR', 'keep-alive requests/s', 'vs SCHED_RR', 'failed requests'], rows),
    '',
    '### Targets (DESIGN.md, "Numbers it must reach")',
    '',
    table(['figure', 'target', 'verdict'], verdicts),
    '',
    '### Setup',
    '',
    `- Command: \`${commandLine('bench/run.mjs')}\` (\`npm run bench\` builds first)`,
    `- Date: ${startedAt}, duration ${minutes.toFixed(1)} min`,
    `- Machine: ${describeMachine()}`,
    `- ${settings.workers} workers per target; ${settings.loadgens} load generator process(es) on the same machine.`,
    `- Rounds: ${settings.rounds}; per target and round a fresh process tree, ${settings.warmup} s warm-up then ${settings.seconds} s measured,`,
    '  first new connections, then keep-alive. The order of the targets rotates by one each round.',
    `- New connections: one \`GET /\` with \`Connection: close\` per TCP connection, ${settings.concurrency} in flight, from`,
    `  ${sources[0]} … ${sources.at(-1)} in turn. Keep-alive: ${settings.keepAliveConnections} persistent connections from`,
    `  ${sources[0]} … ${sources[settings.keepAliveConnections - 1]}, one request at a time each.`,
    '- Every request carries `X-Forwarded-For: <its source address>`, so header mode routes like IP mode; the',
    '  workers answer `200` with a 2-byte body and an `x-worker` header the generator uses to count the spread.',
    '',
    '### Where the CPU goes (medians, µs of CPU time per request)',
    '',
    'Primary, workers (sum of both) and load generator. "busiest" is the share of requests the busiest worker',
    'answered: sticky modes spread clients by a hash of their address, so a small set of addresses splits unevenly.',
    '',
    table([
      'target', 'new conn: primary', 'workers', 'generator', 'busiest',
      'keep-alive: primary', 'workers', 'generator', 'busiest',
    ], cpuRows),
    '',
    '### Per round',
    '',
    table(['target', 'new connections/s', 'keep-alive requests/s'], perRound),
    '',
    '### CPU contention',
    '',
    `The machine has ${describeMachine().split(',')[0]}. The primary, ${settings.workers} workers and the load generator all compete for`,
    'them, so the figures are throughput of the whole machine, not of the balancer alone: a design that spends',
    'less CPU per connection anywhere (primary, workers or generator) wins, and one that needs more processes to',
    'be busy at once loses. The CPU table above is the fairer view of cost; the ratios are what this machine',
    'delivers. On a machine with spare cores for the primary the new-connection figures would differ.',
  ].join('\n');
}

function stormSection(results, startedAt) {
  const sizes = settings.stormSizes;
  const rows = [];
  const verdicts = [];
  for (const name of settings.stormTargets) {
    const perSize = sizes.map((n) => medianOf(results[name][n], (r) => r.primaryMicros));
    const first = perSize[0];
    rows.push([
      LABELS[name],
      ...sizes.map((n, i) => `${formatNumber(perSize[i], 1)} (${formatRatio(perSize[i] / first)})`),
    ]);
    rows.push([
      `↳ time until all answered, ms`,
      ...sizes.map((n) => formatNumber(medianOf(results[name][n], (r) => r.elapsed))),
    ]);
    const errors = sum(sizes.map((n) => sum(results[name][n].map((r) => r.errors))));
    const spread = Math.max(...perSize) / Math.min(...perSize);
    verdicts.push(`- ${LABELS[name]}: largest / smallest median per connection = ${formatRatio(spread)}; ` +
      `${spread <= 1.25 ? '**flat**' : '**not flat**'} by the ≤ 1.25× criterion; failed connections: ${errors}.`);
  }
  return [
    '## Reconnect storm: primary CPU per connection',
    '',
    `N connections opened at once by one generator process (sources ${sources[0]} … ${sources.at(-1)}), each sending one`,
    '`GET /` with `Connection: close`. The figure is the primary\'s `process.cpuUsage()` (user + system) across the',
    `storm divided by N, in µs; in brackets relative to the ${sizes[0]}-connection storm. Medians of ${settings.stormRounds} rounds; each round`,
    'starts a fresh process tree per target, runs an unmeasured 500-connection storm, then the sizes in rotated order.',
    '',
    table(['target', ...sizes.map((n) => `N = ${n}`)], rows),
    '',
    ...verdicts,
    '',
    'The listening socket\'s backlog is Node\'s default (511, net.core.somaxconn here is ' +
      `${readSomaxconn()}), so the largest storms overflow the accept queue and some clients retry their SYN after 1 s:`,
    'that shows in the time, not in the CPU per connection.',
    '',
    `- Command: \`${commandLine('bench/run.mjs')}\`, date ${startedAt}, ${describeMachine()}`,
  ].join('\n');
}

function readSomaxconn() {
  try {
    return readFileSync('/proc/sys/net/core/somaxconn', 'utf8').trim();
  } catch {
    return 'unknown';
  }
}

async function main() {
  const started = performance.now();
  const startedAt = today();
  const out = resultsPath(isQuick);
  log(`settings ${JSON.stringify(settings)}`);
  log(`machine: ${describeMachine()}; results -> ${out}`);
  const loadgens = Array.from({ length: settings.loadgens }, () => startLoadgen());
  try {
    if (settings.rounds > 0 && settings.targets.length > 0) {
      const results = await runComparison(loadgens);
      writeSection(out, 'summary', summarySection(results, startedAt, (performance.now() - started) / 60_000));
    }
    if (settings.stormRounds > 0 && settings.stormTargets.length > 0 && settings.stormSizes.length > 0) {
      const storms = await runStorms(loadgens[0]);
      writeSection(out, 'storm', stormSection(storms, startedAt));
    }
  } finally {
    await Promise.all(loadgens.map((lg) => lg.stop()));
  }
  log(`done in ${((performance.now() - started) / 60_000).toFixed(1)} min; results in ${out}`);
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
