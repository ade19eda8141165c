// What `serve --prefix-output` costs: one worker writes 100-byte lines to stdout, the serve process's
// stdout goes to /dev/null. Measures (1) the worker's throughput writing as fast as it can, with its
// stdout inherited (straight to /dev/null) and routed through the primary; (2) the primary's CPU per
// line at fixed rates, from /proc/<pid>/stat over the writing window. Linux only; imports dist/.
//   node bench/output-prefix.mjs [--quick]
import { spawn } from 'node:child_process';
import { openSync, readFileSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const quick = process.argv.includes('--quick');
const BIN = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const APP = fileURLToPath(new URL('./targets/output-writer.mjs', import.meta.url));
const ROUNDS = quick ? 1 : 3;
const DURATION_MS = quick ? 2000 : 4000;
const RATES = [1_000, 10_000, 50_000];
const TICKS_PER_SECOND = 100;

function cpuMs(pid) {
  // Fields after the command name: utime is field 14, stime 15 (clock ticks).
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 1000 / TICKS_PER_SECOND;
}

async function run({ prefix, rate }) {
  const cwd = mkdtempSync(join(tmpdir(), 'bench-output-'));
  const devNull = openSync('/dev/null', 'w');
  const args = [BIN, 'serve', APP, '--port', '0', '--host', '127.0.0.1', '--workers', '1', ...(prefix ? ['--prefix-output'] : [])];
  const child = spawn(process.execPath, args, {
    cwd, stdio: ['ignore', devNull, 'pipe'],
    env: { ...process.env, RATE: String(rate), DURATION_MS: String(DURATION_MS), LINE_BYTES: '100', STICKY_RUNTIME_LOG_FORMAT: 'json' },
  });
  const kill = setTimeout(() => child.kill('SIGKILL'), DURATION_MS + 30_000);
  let stderr = '';
  let cpuAtStart;
  const result = await new Promise((resolve) => {
    child.stderr.on('data', (chunk) => {
      stderr += chunk.toString();
      // The worker starts writing as it loads, before the primary logs `worker ready`: sample at the fork.
      if (cpuAtStart === undefined && stderr.includes('"msg":"control socket listening"')) cpuAtStart = cpuMs(child.pid);
      const match = /RESULT lines=(\d+) ms=(\d+)/.exec(stderr);
      if (match !== null) resolve({ lines: Number(match[1]), ms: Number(match[2]), primaryCpuMs: cpuMs(child.pid) - (cpuAtStart ?? 0) });
    });
  });
  child.kill('SIGTERM');
  await new Promise((resolve) => child.once('exit', resolve));
  clearTimeout(kill);
  rmSync(cwd, { recursive: true, force: true });
  return result;
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const fmt = (n) => Math.round(n).toLocaleString('en-US');

const rows = [];
for (const rate of [0, ...RATES]) {
  const measured = {};
  for (const prefix of [false, true]) {
    const results = [];
    for (let i = 0; i < ROUNDS; i++) results.push(await run({ prefix, rate }));
    measured[prefix] = { linesPerSecond: median(results.map((r) => r.lines * 1000 / r.ms)), cpuMs: median(results.map((r) => r.primaryCpuMs)),
      lines: median(results.map((r) => r.lines)) };
  }
  const extraUs = (measured[true].cpuMs - measured[false].cpuMs) * 1000 / measured[true].lines;
  rows.push(`| ${rate === 0 ? 'as fast as it can' : `${fmt(rate)} lines/s`} | ${fmt(measured[false].linesPerSecond)} | ${fmt(measured[true].linesPerSecond)} | `
    + `${fmt(measured[false].cpuMs)} | ${fmt(measured[true].cpuMs)} | ${extraUs.toFixed(2)} |`);
}
const table = [
  `Worker stdout → serve's stdout (/dev/null), 1 worker, 100-byte lines, ${DURATION_MS / 1000} s windows, median of ${ROUNDS}.`,
  '',
  '| worker writes | worker lines/s, inherited | worker lines/s, prefixed | primary CPU ms, inherited | primary CPU ms, prefixed | primary CPU µs per prefixed line |',
  '| --- | --- | --- | --- | --- | --- |',
  ...rows,
].join('\n');
process.stdout.write(`${table}\n`);
