// Figures and the results file: medians, machine description, markdown tables, and sections of
// bench/RESULTS.md that each script replaces without touching the others.
import { readFileSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';

export const DEFAULT_RESULTS = fileURLToPath(new URL('../RESULTS.md', import.meta.url));

/** Sections in the order they appear in the file. */
const SECTIONS = ['summary', 'storm', 'handoff'];

export function median(values) {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function formatNumber(value, digits = 0) {
  if (!Number.isFinite(value)) return 'n/a';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export const formatRatio = (value) => (Number.isFinite(value) ? `${value.toFixed(2)}×` : 'n/a');

export function table(header, rows) {
  const line = (cells) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

export function machine() {
  let model = cpus()[0]?.model ?? 'unknown';
  try {
    const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
    model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? model;
  } catch {
    // Not Linux: os.cpus() is the best there is.
  }
  return {
    nproc: cpus().length,
    model,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
  };
}

/** The commit the benchmark ran on, marked when src/ had uncommitted changes; 'unknown' outside git. */
export function sourceRevision() {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: root, encoding: 'utf8' }).trim();
    return dirty === '' ? commit : `${commit} with uncommitted changes in src/`;
  } catch {
    return 'unknown';
  }
}

export function describeMachine() {
  const m = machine();
  return `${m.nproc} CPU(s), ${m.model}, ${m.memoryGiB} GiB RAM, ${m.platform}, Node ${m.node}`;
}

/** The command line that produced a result, with the BENCH_* settings that were in effect. */
export function commandLine(script) {
  const env = Object.entries(process.env)
    // BENCH_DIST is set by the benchmark itself for its child processes.
    .filter(([key]) => key.startsWith('BENCH_') && key !== 'BENCH_DIST')
    .map(([key, value]) => `${key}=${value}`);
  return [...env, 'node', script, ...process.argv.slice(2)].join(' ');
}

/** Replaces one section of the results file (creating the file or section as needed). */
export function writeSection(path, name, body) {
  const begin = `<!-- begin:${name} -->`;
  const end = `<!-- end:${name} -->`;
  let text = existsSync(path) ? readFileSync(path, 'utf8') : '# Benchmark results\n\nSee [README.md](README.md) for how to run the benchmarks.\n';
  for (const section of SECTIONS) {
    if (!text.includes(`<!-- begin:${section} -->`)) text += `\n<!-- begin:${section} -->\n_Not run yet._\n<!-- end:${section} -->\n`;
  }
  // A section of another benchmark goes at the end the first time it is written.
  if (!text.includes(begin)) text += `\n${begin}\n${end}\n`;
  const from = text.indexOf(begin);
  const to = text.indexOf(end);
  text = `${text.slice(0, from + begin.length)}\n${body.trim()}\n${text.slice(to)}`;
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
}

/** Where results go: BENCH_OUT, else bench/tmp/RESULTS.md for quick runs, else bench/RESULTS.md. */
export function resultsPath(isQuick) {
  if (process.env.BENCH_OUT) return process.env.BENCH_OUT;
  return isQuick ? fileURLToPath(new URL('../tmp/RESULTS.md', import.meta.url)) : DEFAULT_RESULTS;
}

export const today = () => new Date().toISOString().slice(0, 10);
