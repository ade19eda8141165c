// Throughput comparison of four ways to spread connections over cluster workers, plus the reconnect
// storm figure. See bench/README.md for the settings; results go to bench/RESULTS.md.
//
//   rr      Node's cluster, SCHED_RR (the baseline every ratio refers to)
//   none    Node's cluster, SCHED_NONE
//   ip      sticky-runtime, IP mode over the kernel plane (steering: 'kernel': workers accept on their slot sockets)
//   ip-hop  sticky-runtime, IP mode over the primary hop (steering: 'primary')
//   header  sticky-runtime, header mode (x-forwarded-for)
//   proxy   sticky-runtime, PROXY protocol mode (a v1 header starts every connection); proxy-v2: the same, v2
//   ip-hop-ipc, header-ipc, proxy-ipc: those hop targets with `nativeHandoff: false` (Node's IPC handoff)
//
// The load comes from the C generator (bench/loadgen/loadgen.c, built into bench/tmp/) unless BENCH_LOADGEN=node;
// its CPU share (CPU seconds / wall seconds) is reported per figure: near one core, it limits the figures.
// Every target runs as its own process tree for the whole comparison (idle while another one is
// measured). First new connections/s (Connection: close, `concurrency` in flight, source addresses
// used round-robin), then requests/s over persistent connections: for each, an unmeasured warm-up
// per target, then rounds of short windows that visit every target once, in an order rotated by one
// each round. Short interleaved windows make load from other processes on the machine fall on all
// targets alike. Medians over rounds; the storms afterwards start fresh process trees per round.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { chooseLoadgen, startTarget, loopbackAddresses } from './lib/processes.mjs';
import { useDistSnapshot } from './lib/dist-snapshot.mjs';
import { modelRate, primaryBoundFrom, scalingSvg } from './lib/scaling-model.mjs';
import { foreignCores, readBusy, readListenOverflows, stolenCores, waitForQuiet } from './lib/machine-load.mjs';
import {
  commandLine, describeMachine, formatNumber, formatRatio, median, resultsPath, sourceRevision, table, today, writeSection,
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
  rounds: envNumber('BENCH_ROUNDS', isQuick ? 3 : 12),
  seconds: envNumber('BENCH_SECONDS', isQuick ? 1 : 2),
  warmup: envNumber('BENCH_WARMUP', 0.5),
  firstWarmup: envNumber('BENCH_FIRST_WARMUP', isQuick ? 1 : 3),
  concurrency: envNumber('BENCH_CONCURRENCY', 64),
  keepAliveConnections: envNumber('BENCH_KEEPALIVE_CONNECTIONS', 64),
  sources: envNumber('BENCH_SOURCES', 200),
  loadgens: envNumber('BENCH_LOADGENS', 1),
  workers: envNumber('BENCH_WORKERS', 2),
  targets: envList('BENCH_TARGETS', 'rr,none,ip,ip-hop,header,proxy'),
  stormRounds: envNumber('BENCH_STORM_ROUNDS', isQuick ? 2 : 5),
  stormSizes: envList('BENCH_STORM_SIZES', '500,1000,2000,4000').map(Number),
  stormTargets: envList('BENCH_STORM_TARGETS', 'ip,rr'),
  // Other processes on the machine: wait up to quietWait s for them to calm down before a target
  // starts; a measurement during which they used more than maxForeign cores is repeated (up to
  // `retries` times, while the time budget allows) and the quietest attempt is kept.
  quietWait: envNumber('BENCH_QUIET_WAIT', isQuick ? 0 : 10),
  maxForeign: envNumber('BENCH_MAX_FOREIGN', 0.25),
  retries: envNumber('BENCH_RETRIES', isQuick ? 0 : 1),
  budgetMinutes: envNumber('BENCH_BUDGET_MINUTES', 9.5),
};

const LABELS = {
  rr: 'Node cluster, SCHED_RR',
  none: 'Node cluster, SCHED_NONE',
  ip: 'sticky-runtime, IP mode (kernel steering)',
  'ip-hop': 'sticky-runtime, IP mode (primary hop)',
  header: 'sticky-runtime, header mode',
  proxy: 'sticky-runtime, PROXY protocol v1',
  'proxy-v2': 'sticky-runtime, PROXY protocol v2',
  'fd-pass': 'experiment: native fd passing, no ACK',
  'ip-hop-ipc': 'sticky-runtime, IP mode (primary hop, IPC handoff)',
  'header-ipc': 'sticky-runtime, header mode (IPC handoff)',
  'proxy-ipc': 'sticky-runtime, PROXY protocol v1 (IPC handoff)',
};
// What starts each connection or request, per target: PROXY targets get a PROXY header naming the source
// address instead of X-Forwarded-For (a target that does not expect it would take it for a bad request).
const HEADERS = { proxy: 'proxy1', 'proxy-v2': 'proxy2', 'proxy-ipc': 'proxy1' };
const headerOf = (name) => HEADERS[name] ?? 'xff';
// The generator's CPU share above which it is flagged as what limits a figure (1 = one core).
const GENERATOR_LIMIT = 0.9;

const log = (...parts) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}]`, ...parts);
const sum = (values) => values.reduce((a, b) => a + b, 0);

// The first `sources` loopback addresses after 127.0.0.1: 127.0.0.2 … 127.0.0.201 by default.
const sources = loopbackAddresses(2, settings.sources);

/** Splits the sources (in consecutive blocks) and the concurrency over the load generators. */
function shareOf(index, count, addresses, concurrency) {
  const size = Math.ceil(addresses.length / count);
  return {
    addresses: addresses.slice(index * size, (index + 1) * size),
    concurrency: Math.floor(concurrency / count) + (index < concurrency % count ? 1 : 0),
  };
}

async function snapshotAll(loadgens, target) {
  const [snapshots, cpu] = await Promise.all([
    Promise.all(loadgens.map((lg) => lg.call({ cmd: 'snapshot' }))),
    target.cpu(),
  ]);
  return { snapshots, cpu, busy: readBusy() };
}

/** Runs one load shape against a target: warm-up, then a measured window of `seconds`. */
async function measure(target, loadgens, kind, warmup = settings.warmup, seconds = settings.seconds) {
  const isKeepAlive = kind === 'keepalive';
  const addresses = isKeepAlive ? sources.slice(0, settings.keepAliveConnections) : sources;
  const concurrency = isKeepAlive ? settings.keepAliveConnections : settings.concurrency;
  await Promise.all(loadgens.map((lg, i) => lg.call({
    cmd: 'start', kind, host: '127.0.0.1', port: target.port, header: headerOf(target.name),
    ...shareOf(i, loadgens.length, addresses, concurrency),
  })));
  await sleep(warmup * 1000);
  const before = await snapshotAll(loadgens, target);
  await sleep(seconds * 1000);
  const after = await snapshotAll(loadgens, target);
  const stopped = await Promise.all(loadgens.map((lg) => lg.call({ cmd: 'stop', drainMs: 10_000 })));
  const final = await Promise.all(loadgens.map((lg) => lg.call({ cmd: 'snapshot' })));

  const completed = sum(after.snapshots.map((s, i) => s.completed - before.snapshots[i].completed));
  const loadgenCpu = sum(after.snapshots.map((s, i) => s.micros - before.snapshots[i].micros));
  const ownCpu = after.cpu.primary - before.cpu.primary + after.cpu.workers - before.cpu.workers + loadgenCpu;
  const elapsed = sum(after.snapshots.map((s, i) => s.at - before.snapshots[i].at)) / loadgens.length / 1000;
  const byWorker = {};
  for (const [i, s] of after.snapshots.entries()) {
    for (const [worker, count] of Object.entries(s.byWorker)) {
      byWorker[worker] = (byWorker[worker] ?? 0) + count - (before.snapshots[i].byWorker[worker] ?? 0);
    }
  }
  return {
    rate: completed / elapsed,
    completed,
    // Every failure from the first request to the last, warm-up and stop included.
    errors: sum(final.map((s) => s.errors)),
    drained: stopped.every((s) => s.drained !== false),
    primaryMicros: (after.cpu.primary - before.cpu.primary) / completed,
    workerMicros: (after.cpu.workers - before.cpu.workers) / completed,
    loadgenMicros: loadgenCpu / completed,
    // The busiest generator process's CPU seconds per wall second: 1 is a full core.
    loadgenShare: Math.max(...after.snapshots.map((s, i) => (s.micros - before.snapshots[i].micros) / 1000 / (s.at - before.snapshots[i].at))),
    // Cores' worth of CPU that processes outside the benchmark used during the window.
    foreign: foreignCores(before.busy, after.busy, ownCpu),
    steal: stolenCores(before.busy, after.busy),
    busiestShare: Math.max(...Object.values(byWorker)) / completed,
    workersSeen: Object.keys(byWorker).length,
  };
}

const started = performance.now();
const elapsedMinutes = () => (performance.now() - started) / 60_000;
const WINDOW_OVERHEAD = 0.4; // s: starting and stopping the load, snapshots

/**
 * Seconds that waiting for a quiet machine or repeating a measurement may take now: the time left
 * in the budget after what is still to do (`windows` comparison windows, `storms` storm runs of one
 * target and round), shared evenly among the steps still to come.
 */
function slackSeconds(windows, storms) {
  const perWindow = settings.warmup + settings.seconds + WINDOW_OVERHEAD;
  const perStorm = 14;
  const left = settings.budgetMinutes * 60 - elapsedMinutes() * 60 - windows * perWindow - storms * perStorm;
  return Math.max(0, left / Math.max(1, windows + storms));
}

const stormRuns = () => (settings.stormRounds > 0 ? settings.stormRounds * settings.stormTargets.length : 0);

/** Waits for other load to calm down, then measures; repeats a disturbed window while the slack allows. */
async function measureWindow(target, loadgens, kind, windowsLeft) {
  let best;
  for (let attempt = 0; attempt <= settings.retries; attempt++) {
    let slack = slackSeconds(windowsLeft, stormRuns());
    if (attempt > 0) {
      const cost = settings.warmup + settings.seconds + WINDOW_OVERHEAD;
      if (slack < cost) break;
      slack -= cost;
    }
    const wait = Math.min(settings.quietWait, slack);
    if (wait >= 1) await waitForQuiet({ threshold: settings.maxForeign / 2, maxSeconds: wait });
    const run = await measure(target, loadgens, kind);
    if (best === undefined || run.foreign < best.foreign) best = { ...run, attempts: attempt + 1 };
    if (run.foreign <= settings.maxForeign) break;
  }
  return best;
}

async function runComparison(loadgens) {
  const results = Object.fromEntries(settings.targets.map((t) => [t, Array.from({ length: settings.rounds }, (_, round) => ({ round }))]));
  const targets = {};
  try {
    // One process tree per target for the whole comparison; the ones not measured are idle.
    for (const name of settings.targets) targets[name] = await startNamedTarget(name);
    let windowsLeft = 2 * settings.rounds * settings.targets.length;
    for (const kind of ['close', 'keepalive']) {
      const key = kind === 'close' ? 'close' : 'keepAlive';
      // Unmeasured: JIT and first-use allocations in every process, for this load shape.
      for (const name of settings.targets) await measure(targets[name], loadgens, kind, settings.firstWarmup, 0);
      for (let round = 0; round < settings.rounds; round++) {
        const order = settings.targets.map((_, i) => settings.targets[(i + round) % settings.targets.length]);
        const line = [];
        for (const name of order) {
          const run = await measureWindow(targets[name], loadgens, kind, windowsLeft);
          windowsLeft--;
          results[name][round][key] = run;
          line.push(`${name} ${formatNumber(run.rate)}${run.errors > 0 ? ` (${run.errors} failed)` : ''} ` +
            `[${run.foreign.toFixed(2)}${run.attempts > 1 ? ', repeated' : ''}; gen ${(run.loadgenShare * 100).toFixed(0)}%]`);
        }
        log(`${kind === 'close' ? 'new conn/s' : 'keep-alive req/s'} round ${round + 1}/${settings.rounds}: ${line.join('  ')}`);
      }
    }
  } finally {
    await Promise.all(Object.values(targets).map((target) => target.stop()));
  }
  return results;
}

/** One measured storm: the target's CPU across it, per connection. */
async function measureStorm(target, loadgen, n) {
  const busyBefore = readBusy();
  const overflowsBefore = readListenOverflows();
  const before = await target.cpu();
  const storm = await loadgen.call({ cmd: 'storm', host: '127.0.0.1', addresses: sources, port: target.port, n, header: headerOf(target.name) });
  const after = await target.cpu();
  const own = after.primary - before.primary + after.workers - before.workers + storm.micros;
  return {
    primaryMicros: (after.primary - before.primary) / n,
    workerMicros: (after.workers - before.workers) / n,
    elapsed: storm.elapsed,
    errors: storm.errors,
    foreign: foreignCores(busyBefore, readBusy(), own),
    overflows: readListenOverflows() - overflowsBefore,
  };
}

// Until about 3000 connections have gone through a fresh primary, its CPU per connection is still
// falling (JIT); the warm-up storms are not measured.
const STORM_WARMUP = [1000, 1000, 1000];

async function runStorms(loadgen) {
  const results = Object.fromEntries(settings.stormTargets.map((t) => [t, Object.fromEntries(settings.stormSizes.map((n) => [n, []]))]));
  let remaining = settings.stormRounds * settings.stormTargets.length;
  for (let round = 0; round < settings.stormRounds; round++) {
    const targets = settings.stormTargets.map((_, i) => settings.stormTargets[(i + round) % settings.stormTargets.length]);
    for (const name of targets) {
      const wait = Math.min(settings.quietWait, slackSeconds(0, remaining));
      remaining--;
      if (wait >= 1) await waitForQuiet({ threshold: settings.maxForeign / 2, maxSeconds: wait });
      const target = await startNamedTarget(name);
      try {
        for (const n of STORM_WARMUP) {
          await loadgen.call({ cmd: 'storm', host: '127.0.0.1', addresses: sources, port: target.port, n, header: headerOf(name) });
        }
        const sizes = settings.stormSizes.map((_, i) => settings.stormSizes[(i + round) % settings.stormSizes.length]);
        for (const n of sizes) {
          let best;
          for (let attempt = 0; attempt <= settings.retries; attempt++) {
            if (attempt > 0) {
              const slack = slackSeconds(0, remaining + 1);
              if (slack < 3) break;
              const wait = Math.min(settings.quietWait / 2, slack - 3);
              if (wait >= 1) await waitForQuiet({ threshold: settings.maxForeign / 2, maxSeconds: wait });
            }
            await sleep(300);
            const storm = await measureStorm(target, loadgen, n);
            if (best === undefined || storm.foreign < best.foreign) best = storm;
            if (storm.foreign <= settings.maxForeign) break;
          }
          results[name][n].push(best);
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

/** A target process tree, named for the generator's header choice. */
async function startNamedTarget(name) {
  const server = name === 'proxy-v2' ? 'proxy' : name;
  return { ...(await startTarget(server, { BENCH_WORKERS: String(settings.workers) })), name };
}

/** The q-quantile (0…1) of finite values, linear between neighbours. */
function quantile(values, q) {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const at = (sorted.length - 1) * q;
  const low = Math.floor(at);
  return sorted[low] + (sorted[Math.min(low + 1, sorted.length - 1)] - sorted[low]) * (at - low);
}

/**
 * Ratio of the medians, plus the middle half (25th–75th percentile) of the per-round ratios: each
 * round measures both targets within seconds of each other, so their ratio shows how steady the
 * comparison is.
 */
function ratioOf(results, name, base, pick) {
  const ratio = medianOf(results[name] ?? [], pick) / medianOf(results[base] ?? [], pick);
  const paired = (results[name] ?? []).map((run) => {
    const other = (results[base] ?? []).find((b) => b.round === run.round);
    return other === undefined ? Number.NaN : pick(run) / pick(other);
  });
  const low = quantile(paired, 0.25);
  const high = quantile(paired, 0.75);
  if (name === base) return { ratio, low, high, text: '1 (baseline)' };
  const spread = Number.isFinite(low) ? ` (${low.toFixed(2)}–${high.toFixed(2)})` : '';
  return { ratio, low, high, text: `${formatRatio(ratio)}${spread}` };
}

function verdict({ ratio, low, high }, threshold) {
  if (!Number.isFinite(ratio)) return 'n/a';
  const margin = (ratio / threshold - 1) * 100;
  const text = ratio >= threshold
    ? `**met**: ${formatRatio(ratio)} vs ≥ ${threshold.toFixed(2)}×, ${margin.toFixed(0)}% above`
    : `**not met**: ${formatRatio(ratio)} vs ≥ ${threshold.toFixed(2)}×, ${Math.abs(margin).toFixed(0)}% short`;
  const isUnclear = low < threshold && threshold < high;
  return isUnclear
    ? `${text}; the threshold lies inside the middle half of the per-round ratios (${low.toFixed(2)}–${high.toFixed(2)}), so the difference is within this machine's noise`
    : `${text} (per-round ratios, middle half: ${low.toFixed(2)}–${high.toFixed(2)})`;
}

function summarySection(results, startedAt, minutes, out) {
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
  const shareText = (share) => `${formatNumber(share * 100)}%${share >= GENERATOR_LIMIT ? ' ⚠' : ''}`;
  const limited = settings.targets.flatMap((name) => [['new connections', 'close'], ['keep-alive', 'keepAlive']]
    .filter(([, key]) => medianOf(results[name], (r) => r[key].loadgenShare) >= GENERATOR_LIMIT)
    .map(([label]) => `${LABELS[name]} (${label})`));
  const cpuRows = settings.targets.map((name) => {
    const runs = results[name];
    return [
      LABELS[name],
      formatNumber(medianOf(runs, (r) => r.close.primaryMicros), 1),
      formatNumber(medianOf(runs, (r) => r.close.workerMicros), 1),
      formatNumber(medianOf(runs, (r) => r.close.loadgenMicros), 1),
      shareText(medianOf(runs, (r) => r.close.loadgenShare)),
      `${formatNumber(medianOf(runs, (r) => r.close.busiestShare * 100))}%`,
      formatNumber(medianOf(runs, (r) => r.keepAlive.primaryMicros), 2),
      formatNumber(medianOf(runs, (r) => r.keepAlive.workerMicros), 1),
      formatNumber(medianOf(runs, (r) => r.keepAlive.loadgenMicros), 1),
      shareText(medianOf(runs, (r) => r.keepAlive.loadgenShare)),
      `${formatNumber(medianOf(runs, (r) => r.keepAlive.busiestShare * 100))}%`,
    ];
  });
  const perRound = settings.targets.map((name) => [
    LABELS[name],
    results[name].map((r) => formatNumber(r.close.rate)).join(' · '),
    results[name].map((r) => formatNumber(r.keepAlive.rate)).join(' · '),
    results[name].map((r) => `${r.close.foreign.toFixed(2)}/${r.keepAlive.foreign.toFixed(2)}`).join(' · '),
  ]);
  const allForeign = settings.targets.flatMap((name) => results[name].flatMap((r) => [r.close.foreign, r.keepAlive.foreign]));
  // The largest deviation of one window from its target's median, over all targets, as "−a % / +b %".
  const swing = (pick) => {
    let below = 0;
    let above = 0;
    for (const name of settings.targets) {
      const mid = medianOf(results[name], pick);
      for (const run of results[name]) {
        below = Math.max(below, 1 - pick(run) / mid);
        above = Math.max(above, pick(run) / mid - 1);
      }
    }
    return `−${(below * 100).toFixed(0)} % / +${(above * 100).toFixed(0)} %`;
  };
  const allSteal = settings.targets.flatMap((name) => results[name].flatMap((r) => [r.close.steal, r.keepAlive.steal]));
  const repeated = sum(settings.targets.map((name) => sum(results[name].map((r) => r.close.attempts + r.keepAlive.attempts - 2))));

  const verdicts = [];
  if (has('ip') && has('rr')) {
    verdicts.push(['IP mode (kernel), new connections/s vs SCHED_RR', '≥ 1.50×', verdict(ratioOf(results, 'ip', 'rr', closeRate), 1.5)]);
    verdicts.push(['IP mode (kernel), keep-alive requests/s vs SCHED_RR', '≥ 0.98×', verdict(ratioOf(results, 'ip', 'rr', keepRate), 0.98)]);
  }
  if (has('ip') && has('none')) {
    verdicts.push(['IP mode (kernel), new connections/s vs SCHED_NONE', '≥ 0.90×', verdict(ratioOf(results, 'ip', 'none', closeRate), 0.9)]);
  }
  // The primary hop of IP mode is the fallback where the kernel plane cannot load: shown, no target.
  if (has('header') && has('rr')) {
    verdicts.push(['header mode, new connections/s vs SCHED_RR', '≥ 1.00×', verdict(ratioOf(results, 'header', 'rr', closeRate), 1.0)]);
  }
  if (has('header') && has('rr')) {
    verdicts.push(['header mode, keep-alive requests/s vs SCHED_RR', '≥ 0.98×', verdict(ratioOf(results, 'header', 'rr', keepRate), 0.98)]);
  }
  for (const name of ['proxy', 'proxy-v2'].filter((n) => has(n) && has('rr'))) {
    verdicts.push([`${LABELS[name]}, new connections/s vs SCHED_RR`, '≥ 1.00×', verdict(ratioOf(results, name, 'rr', closeRate), 1.0)]);
    verdicts.push([`${LABELS[name]}, keep-alive requests/s vs SCHED_RR`, '≥ 0.98×', verdict(ratioOf(results, name, 'rr', keepRate), 0.98)]);
  }

  return [
    '## Summary: throughput against Node\'s cluster',
    '',
    `Medians of ${settings.rounds} rounds. Ratios are median / median of Node's SCHED_RR; in brackets the middle half`,
    `(25th–75th percentile) of the ratios within each round (a round measures every target once, back to back,`,
    `${settings.seconds} s each), which shows how steady a comparison is on this machine.`,
    '',
    table(['target', 'new connections/s', 'vs SCHED_RR', 'keep-alive requests/s', 'vs SCHED_RR', 'failed requests'], rows),
    '',
    '### Targets',
    '',
    table(['figure', 'target', 'verdict'], verdicts),
    '',
    'SCHED_NONE is shown for reference only; the design sets no target against it.',
    '',
    '### Setup',
    '',
    `- Command: \`${commandLine('bench/run.mjs')}\` (\`npm run bench\` builds first)`,
    `- Date: ${startedAt}, duration ${minutes.toFixed(1)} min; source: commit ${revision}`,
    `- Machine: ${describeMachine()}`,
    `- ${settings.workers} workers per target; ${settings.loadgens} load generator process(es) on the same machine: ${generator.description}.`,
    '- Each target is one process tree (primary + workers), started once and kept for the whole comparison; the',
    '  trees not being measured are idle. New connections first, then keep-alive; for each, an unmeasured',
    `  ${settings.firstWarmup} s warm-up per target, then ${settings.rounds} rounds. A round visits every target once, in an order rotated by one`,
    `  each round: ${settings.warmup} s of load to settle, then ${settings.seconds} s measured. Interleaving short windows makes load from other`,
    '  processes on the machine fall on every target alike.',
    `- New connections: one \`GET /\` with \`Connection: close\` per TCP connection, ${settings.concurrency} in flight, from`,
    `  ${sources[0]} … ${sources.at(-1)} in turn. Keep-alive: ${settings.keepAliveConnections} persistent connections from`,
    `  ${sources[0]} … ${sources[settings.keepAliveConnections - 1]}, one request at a time each.`,
    '- Every request carries `X-Forwarded-For: <its source address>`, so header mode routes like IP mode; on the',
    '  PROXY protocol targets a PROXY header naming the source address starts each connection instead. The',
    '  workers answer `200` with a 2-byte body and an `x-worker` header the generator uses to count the spread.',
    '',
    '### Where the CPU goes (medians, µs of CPU time per request)',
    '',
    'Primary, workers (sum of both) and load generator. "gen. CPU" is the generator\'s CPU time per wall time',
    '(100% = one core): near one core, the generator and not the target limits the figure (marked ⚠). "busiest" is',
    'the share of requests the busiest worker answered: sticky modes spread clients by a hash of their address,',
    'so a small set of addresses splits unevenly.',
    '',
    table([
      'target', 'new conn: primary', 'workers', 'generator', 'gen. CPU', 'busiest',
      'keep-alive: primary', 'workers', 'generator', 'gen. CPU', 'busiest',
    ], cpuRows),
    '',
    (limited.length === 0
      ? `The generator stayed below ${GENERATOR_LIMIT * 100}% of a core in every figure (medians).`
      : `**The generator used ≥ ${GENERATOR_LIMIT * 100}% of a core** (median) for: ${limited.join(', ')}; there it is the ` +
        'bottleneck and the figure understates the target.') +
      ' When other processes keep the cores busy, the scheduler gives the generator only its share of them, so it can',
    'limit a figure below that mark too: its CPU time per request ("generator") is then what to compare.',
    '',
    '### Per round',
    '',
    table(['target', 'new connections/s', 'keep-alive requests/s', 'other load, cores (new conn/keep-alive)'], perRound),
    '',
    '### CPU contention',
    '',
    `Other processes on the machine (outside the benchmark) used a median of ${formatNumber(median(allForeign), 2)} cores and at most`,
    `${formatNumber(Math.max(...allForeign), 2)} cores during the measured windows ("other load" above; from /proc/stat minus the`,
    `benchmark's own processes; tick-based, so about ±0.2 cores per window). ${repeated} window(s) were repeated because other`,
    `load exceeded ${settings.maxForeign} cores (the quieter attempt was kept; repeats only while the time budget allowed).`,
    `This is a virtual machine: the hypervisor took ("steal") a median of ${formatNumber(median(allSteal), 2)} and at most`,
    `${formatNumber(Math.max(...allSteal), 2)} cores per window. From one window to the next, a target's figure strayed from`,
    `its own median by up to ${swing(closeRate)} for new connections and ${swing(keepRate)} for keep-alive, for every target alike;`,
    'the per-round ratio ranges in the summary show how much of a difference that hides.',
    '',
    `The machine has ${describeMachine().split(',')[0]}. The primary, ${settings.workers} workers and the load generator all compete for`,
    'them, so the figures are throughput of the whole machine, not of the balancer alone: a design that spends',
    'less CPU per connection anywhere (primary, workers or generator) wins, and one that needs more processes to',
    'be busy at once loses. The CPU table above is the fairer view of cost; the ratios are what this machine',
    'delivers. On a machine with spare cores for the primary the new-connection figures would differ.',
    '',
    scalingSection(results, out),
  ].join('\n');
}

/** The model's figures for 2, 16 and 64 cores from the measured new-connection CPU; writes the chart beside `out`. */
function scalingSection(results, out) {
  const series = settings.targets.filter((name) => (results[name] ?? []).length > 0).map((name) => ({
    label: LABELS[name],
    primaryMicros: medianOf(results[name], (r) => r.close.primaryMicros),
    workersMicros: medianOf(results[name], (r) => r.close.workerMicros),
  }));
  const chart = join(dirname(out), 'scaling.svg');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(chart, scalingSvg(series, { measuredCores: describeMachineCores() }));
  const bound = (s) => {
    const from = primaryBoundFrom(s);
    return from === Infinity ? 'never' : `${formatNumber(from, 1)} cores`;
  };
  const rows = series.map((s) => [
    s.label, formatNumber(s.primaryMicros, 1), formatNumber(s.workersMicros, 1),
    ...[2, 16, 64].map((cores) => formatNumber(modelRate(s, cores))), bound(s),
  ]);
  return [
    '### Scaling with cores (a model from the CPU above)',
    '',
    'Not measured on more cores: new connections/s each target would take, from its median CPU per new',
    'connection here. The primary is one thread (at most 1 s / its µs per connection); everything else shares',
    `the cores (cores × 1 s / (primary + workers) µs). Left out: the kernel's time outside the target's processes,`,
    'the load generator, contention in the kernel and workers ≠ cores; so the 2-core figure is above what was',
    `measured here, and the curves compare designs rather than promise rates. Chart: [${chart.split('/').at(-1)}](${chart.split('/').at(-1)}).`,
    '',
    table(['target', 'primary µs', 'workers µs', '2 cores', '16 cores', '64 cores', 'primary limits from'], rows),
  ].join('\n');
}

function describeMachineCores() {
  return Number(describeMachine().match(/^(\d+) CPU/)?.[1] ?? 2);
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
      '↳ workers, µs per connection',
      ...sizes.map((n) => formatNumber(medianOf(results[name][n], (r) => r.workerMicros), 1)),
    ]);
    rows.push([
      '↳ time until all answered, ms',
      ...sizes.map((n) => formatNumber(medianOf(results[name][n], (r) => r.elapsed))),
    ]);
    rows.push([
      '↳ accept-queue overflows (machine-wide)',
      ...sizes.map((n) => formatNumber(medianOf(results[name][n], (r) => r.overflows))),
    ]);
    rows.push([
      '↳ other load, cores',
      ...sizes.map((n) => formatNumber(medianOf(results[name][n], (r) => r.foreign), 2)),
    ]);
    const errors = sum(sizes.map((n) => sum(results[name][n].map((r) => r.errors))));
    const growth = Math.max(...perSize.slice(1)) / first;
    const end = perSize.at(-1) / first;
    verdicts.push(`- ${LABELS[name]}: from N = ${sizes[0]} to N = ${sizes.at(-1)} the median per connection changes by ${formatRatio(end)}, ` +
      `the highest size is at ${formatRatio(growth)} of N = ${sizes[0]}: ${growth <= 1.25 ? '**flat**' : '**grows**'} ` +
      `(criterion: no size above 1.25× the smallest storm). Failed connections: ${errors}.`);
  }
  return [
    '## Reconnect storm: primary CPU per connection',
    '',
    `N connections opened at once by one generator process (sources ${sources[0]} … ${sources.at(-1)}), each sending one`,
    '`GET /` with `Connection: close`. The figure is the primary\'s `process.cpuUsage()` (user + system) across the',
    `storm divided by N, in µs; in brackets relative to the ${sizes[0]}-connection storm. Medians of ${settings.stormRounds} rounds; each round`,
    `starts a fresh process tree per target, runs ${STORM_WARMUP.length} unmeasured storms of ${STORM_WARMUP[0]} (the primary's CPU per connection`,
    'keeps falling for the first ~3000 connections), then the sizes in rotated order. A storm during which other',
    `processes used more than ${settings.maxForeign} cores is repeated once when the time budget allows (the quieter one is kept).`,
    '',
    table(['target', ...sizes.map((n) => `N = ${n}`)], rows),
    '',
    ...verdicts,
    '',
    'Both listening sockets (the package\'s balancer and Node\'s round-robin primary) use Node\'s default backlog of',
    `511 (net.core.somaxconn here is ${readSomaxconn()}). When a primary falls more than 511 connections behind the storm,`,
    'the kernel drops the excess handshakes ("accept-queue overflows", counted for the whole machine, so other',
    'processes can add to them); those clients resend their SYN after about 1 s, which shows in the time until all',
    'are answered and spreads the storm out.',
    '',
    `- Command: \`${commandLine('bench/run.mjs')}\`, date ${startedAt}, commit ${revision}; ${describeMachine()}`,
  ].join('\n');
}

function readSomaxconn() {
  try {
    return readFileSync('/proc/sys/net/core/somaxconn', 'utf8').trim();
  } catch {
    return 'unknown';
  }
}

// Read once at the start: the tree may change while the benchmark runs.
const revision = sourceRevision();
// Chosen (and built) before anything starts, so a missing compiler shows at once.
const generator = chooseLoadgen();

async function main() {
  const startedAt = today();
  const out = resultsPath(isQuick);
  log(`settings ${JSON.stringify(settings)}`);
  log(`machine: ${describeMachine()}; results -> ${out}`);
  log(`load generator: ${generator.description}`);
  const removeSnapshot = useDistSnapshot();
  const loadgens = Array.from({ length: settings.loadgens }, () => generator.start());
  try {
    if (settings.rounds > 0 && settings.targets.length > 0) {
      const results = await runComparison(loadgens);
      writeSection(out, 'summary', summarySection(results, startedAt, (performance.now() - started) / 60_000, out));
    }
    if (settings.stormRounds > 0 && settings.stormTargets.length > 0 && settings.stormSizes.length > 0) {
      const storms = await runStorms(loadgens[0]);
      writeSection(out, 'storm', stormSection(storms, startedAt));
    }
  } finally {
    await Promise.all(loadgens.map((lg) => lg.stop()));
    removeSnapshot();
  }
  log(`done in ${((performance.now() - started) / 60_000).toFixed(1)} min; results in ${out}`);
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
