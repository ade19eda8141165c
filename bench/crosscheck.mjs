// Cross-check of the load generator: the bench's C generator (bench/loadgen/loadgen.c), an independent
// reference generator in C (sload.c, built from SLOAD_SRC, by default shared/tools/sload.c beside the
// repository or one folder up) and the Node generator (bench/lib/loadgen.mjs) load the same target process trees in
// alternating rounds. Absolute figures move with other load on the machine; what must agree between the
// generators are the ratios of targets within a round (e.g. header mode / SCHED_RR). Prints a markdown
// report to stdout and bench/tmp/CROSSCHECK.md (CROSSCHECK_OUT). Without the reference source it says so and stops.
//
//   npm run build && node bench/crosscheck.mjs
//   BENCH_ROUNDS=5 BENCH_SECONDS=2 BENCH_TARGETS=rr,header CROSSCHECK_GENERATORS=c,sload,node CROSSCHECK_MODES=close
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildCLoadgen } from './lib/c-loadgen.mjs';
import { loopbackAddresses, startLoadgen, startTarget } from './lib/processes.mjs';
import { foreignCores, processCpuMicros, readBusy } from './lib/machine-load.mjs';
import {
  commandLine, describeMachine, formatNumber, formatRatio, median, sourceRevision, table, today,
} from './lib/report.mjs';

const env = (name, fallback) => process.env[name] || fallback;
const list = (name, fallback) => env(name, fallback).split(',').map((s) => s.trim()).filter(Boolean);
const settings = {
  rounds: Number(env('BENCH_ROUNDS', 5)),
  seconds: Number(env('BENCH_SECONDS', 2)),
  targets: list('BENCH_TARGETS', 'rr,header'),
  generators: list('CROSSCHECK_GENERATORS', 'c,sload,node'),
  modes: list('CROSSCHECK_MODES', 'close'),
  concurrency: Number(env('BENCH_CONCURRENCY', 64)),
  sources: Number(env('BENCH_SOURCES', 200)),
  workers: env('BENCH_WORKERS', '2'),
};
// The reference source: SLOAD_SRC, else shared/tools/sload.c in the repository's parent or grandparent folder.
const SLOAD_SRC = env('SLOAD_SRC', ['../../shared/tools/sload.c', '../../../shared/tools/sload.c']
  .map((path) => fileURLToPath(new URL(path, import.meta.url))).find(existsSync) ?? '../shared/tools/sload.c');
const SLOAD_BIN = fileURLToPath(new URL('./tmp/sload', import.meta.url));
const OUT = env('CROSSCHECK_OUT', fileURLToPath(new URL('./tmp/CROSSCHECK.md', import.meta.url)));
const log = (...parts) => console.error(`[crosscheck ${new Date().toISOString().slice(11, 19)}]`, ...parts);
const isProxy = (target) => target === 'proxy';
const sourcesFor = (mode) => (mode === 'keepalive' ? settings.concurrency : settings.sources);

/** Runs a program to its end; resolves with the last line of its stdout, parsed as JSON. */
function runJson(file, args, extraEnv = {}, onSpawn = undefined) {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env: { ...process.env, ...extraEnv }, stdio: ['ignore', 'pipe', 'inherit'] });
    onSpawn?.(child);
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (text) => { out += text; });
    child.on('error', reject);
    child.on('close', (code) => {
      try {
        resolve(JSON.parse(out.trim().split('\n').at(-1)));
      } catch {
        reject(new Error(`${file} exited ${code} with ${JSON.stringify(out)}`));
      }
    });
  });
}

/** One window of `seconds` against a target: { rps, errors, share } (share: the generator's CPU / wall, if known). */
const GENERATORS = {
  async c(binary, target, mode, seconds) {
    const result = await runJson(binary, [
      '-p', String(target.port), '-t', String(seconds), '-m', mode, '-c', String(settings.concurrency),
      '-n', String(sourcesFor(mode)), '-H', isProxy(target.name) ? 'proxy1' : 'xff',
    ]);
    return { rps: result.rps, errors: result.errors, share: result.cpu_share };
  },
  async sload(binary, target, mode, seconds) {
    // It does not report its CPU time: read it from /proc shortly before its window ends (10 ms ticks).
    let share = Number.NaN;
    const sampleMs = Math.max(0.5, seconds - 0.2) * 1000;
    const sample = (child) => {
      const started = performance.now();
      setTimeout(() => { share = processCpuMicros(child.pid) / 1000 / (performance.now() - started); }, sampleMs);
    };
    const args = [String(target.port), String(seconds), String(settings.concurrency), mode, String(sourcesFor(mode))];
    const result = await runJson(binary, args, { SLOAD_HDR: isProxy(target.name) ? 'proxy' : 'xff' }, sample);
    return { rps: result.rps, errors: result.errors, share };
  },
  async node(loadgen, target, mode, seconds) {
    await loadgen.call({
      cmd: 'start', kind: mode, host: '127.0.0.1', port: target.port, addresses: loopbackAddresses(2, sourcesFor(mode)),
      concurrency: settings.concurrency, header: isProxy(target.name) ? 'proxy1' : 'xff',
    });
    const before = await loadgen.call({ cmd: 'snapshot' });
    await sleep(seconds * 1000);
    const after = await loadgen.call({ cmd: 'snapshot' });
    await loadgen.call({ cmd: 'stop', drainMs: 10_000 });
    const final = await loadgen.call({ cmd: 'snapshot' });
    const wall = after.at - before.at;
    const rps = ((after.completed - before.completed) * 1000) / wall;
    return { rps, errors: final.errors, share: (after.micros - before.micros) / 1000 / wall };
  },
};

function prepare() {
  const handles = {};
  for (const name of settings.generators) {
    if (name === 'c') {
      const built = buildCLoadgen();
      if (built.binary === undefined) return { skip: `the C generator cannot be built: ${built.missing}` };
      handles.c = built.binary;
    } else if (name === 'sload') {
      if (!existsSync(SLOAD_SRC)) return { skip: `no reference generator at ${SLOAD_SRC} (set SLOAD_SRC)` };
      const built = buildCLoadgen({ source: SLOAD_SRC, binary: SLOAD_BIN });
      if (built.binary === undefined) return { skip: `the reference generator cannot be built: ${built.missing}` };
      handles.sload = built.binary;
    } else if (name === 'node') {
      handles.node = startLoadgen();
    } else {
      throw new Error(`unknown generator ${name} (c, sload, node)`);
    }
  }
  return { handles };
}

/** Rounds: each round visits every generator (order alternating) and, per generator, every target (rotated). */
async function measureAll(handles, targets) {
  const runs = []; // { mode, generator, target, round, rps, errors, share, busy }
  for (const mode of settings.modes) {
    for (const generator of settings.generators) {
      // Unmeasured warm-up.
      for (const name of settings.targets) await GENERATORS[generator](handles[generator], targets[name], mode, 1);
    }
    for (let round = 0; round < settings.rounds; round++) {
      const generators = round % 2 === 0 ? settings.generators : [...settings.generators].reverse();
      for (const generator of generators) {
        const order = settings.targets.map((_, i) => settings.targets[(i + round) % settings.targets.length]);
        for (const name of order) {
          const before = readBusy();
          const result = await GENERATORS[generator](handles[generator], targets[name], mode, settings.seconds);
          runs.push({ mode, generator, target: name, round, ...result, busy: foreignCores(before, readBusy()) });
        }
      }
      log(`${mode} round ${round + 1}/${settings.rounds}: ` + runs.filter((r) => r.round === round && r.mode === mode)
        .map((r) => `${r.generator}/${r.target} ${formatNumber(r.rps)}`).join('  '));
    }
  }
  return runs;
}

const spread = (values) => `${quantile(values, 0.25).toFixed(2)}–${quantile(values, 0.75).toFixed(2)}`;

/** The q-quantile (0…1) of values, linear between neighbours. */
function quantile(values, q) {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  const at = (sorted.length - 1) * q;
  const low = Math.floor(at);
  return sorted[low] + ((sorted[Math.min(low + 1, sorted.length - 1)] ?? 0) - sorted[low]) * (at - low);
}

function report(runs, startedAt) {
  const base = settings.targets[0];
  const lines = [
    `Generators compared in alternating rounds (${settings.rounds} rounds of ${settings.seconds} s per generator and ` +
      `target; ${settings.concurrency} in flight, ${settings.sources} sources in close mode). Ratio: the median over ` +
      `rounds of each round's target / ${base}, in brackets the middle half (25th–75th percentile) of the rounds' ` +
      'ratios. "gen. CPU": the generator\'s CPU time per wall time and per request (the reference generator\'s read ' +
      'from /proc shortly before its window ends).',
    '',
  ];
  for (const mode of settings.modes) {
    const rows = settings.generators.map((generator) => {
      const of = (target) => runs.filter((r) => r.mode === mode && r.generator === generator && r.target === target);
      const cells = settings.targets.flatMap((target) => {
        const mine = of(target);
        const ratios = mine.map((run) => run.rps / of(base).find((b) => b.round === run.round).rps);
        const share = median(mine.map((r) => r.share));
        const micros = median(mine.map((r) => (r.share / r.rps) * 1e6));
        return [
          formatNumber(median(mine.map((r) => r.rps))),
          target === base ? '1' : `${formatRatio(median(ratios))} (${spread(ratios)})`,
          Number.isFinite(share) ? `${formatNumber(share * 100)}%, ${formatNumber(micros, 1)} µs` : '–',
        ];
      });
      const errors = runs.filter((r) => r.mode === mode && r.generator === generator).reduce((a, r) => a + r.errors, 0);
      return [generator, ...cells, String(errors)];
    });
    const unit = mode === 'close' ? 'conn/s' : 'req/s';
    const columns = settings.targets.flatMap((t) => [`${t} ${unit}`, `${t}/${base}`, 'gen. CPU']);
    const header = ['generator', ...columns, 'errors'];
    lines.push(`**${mode === 'close' ? 'New connections/s' : 'Keep-alive requests/s'}**`, '', table(header, rows), '');
  }
  const busy = runs.map((r) => r.busy);
  lines.push(
    `The whole machine (all processes, this run's included) was busy ${formatNumber(median(busy), 2)} cores in the ` +
      `median window (at most ${formatNumber(Math.max(...busy), 2)}).`,
    '',
    `- Command: \`${commandLine('bench/crosscheck.mjs')}\`; date ${startedAt}, commit ${sourceRevision()}; ` +
      `${describeMachine()}; ${settings.workers} workers per target.`,
  );
  return lines.join('\n');
}

async function main() {
  const { handles, skip } = prepare();
  if (skip !== undefined) {
    console.log(`crosscheck skipped: ${skip}`);
    return;
  }
  log(`settings ${JSON.stringify(settings)}`);
  const targets = {};
  try {
    for (const name of settings.targets) {
      targets[name] = { ...(await startTarget(name, { BENCH_WORKERS: settings.workers })), name };
    }
    const startedAt = today();
    const runs = await measureAll(handles, targets);
    const text = report(runs, startedAt);
    mkdirSync(dirname(OUT), { recursive: true });
    writeFileSync(OUT, `${text}\n`);
    console.log(`\n${text}\n\n(written to ${OUT})`);
  } finally {
    await Promise.all(Object.values(targets).map((target) => target.stop()));
    await handles.node?.stop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
