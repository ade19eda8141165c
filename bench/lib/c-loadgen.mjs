// The C load generator (bench/loadgen/loadgen.c): built with the system compiler into bench/tmp/ when the
// source is newer than the binary, run as one child process per load, and driven through the same
// call() commands as the Node generator (bench/lib/loadgen.mjs): start, snapshot, stop, storm. It costs
// a fraction of the Node generator's CPU per connection, so on a small machine it is not what limits
// the figures. BENCH_LOADGEN=node selects the Node generator instead.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const C_SOURCE = fileURLToPath(new URL('../loadgen/loadgen.c', import.meta.url));
export const C_BINARY = fileURLToPath(new URL('../tmp/loadgen', import.meta.url));
const LIFETIME_S = 900; // the generator's own bound; a load normally ends by 'stop' or stdin closing
const STORM_TIMEOUT_MS = Number(process.env.BENCH_STORM_TIMEOUT_MS ?? 60_000);

const mtime = (path) => {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return -1;
  }
};

/**
 * Builds the generator unless the binary is newer than its source. Returns { binary } or, when there is
 * no C compiler, { missing: reason }; a compile error throws.
 */
export function buildCLoadgen({ source = C_SOURCE, binary = C_BINARY } = {}) {
  if (mtime(binary) >= mtime(source)) return { binary };
  const compiler = process.env.CC || 'cc';
  mkdirSync(dirname(binary), { recursive: true });
  try {
    execFileSync(compiler, ['-O2', '-Wall', '-Wextra', '-o', binary, source], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (error) {
    if (error.code === 'ENOENT') return { missing: `no C compiler (${compiler})` };
    throw new Error(`${compiler} failed on ${source}: ${error.stderr ?? error.message}`);
  }
  return { binary };
}

/** 127.0.0.a … 127.0.0.b in order: { first, count } for the generator's -f/-n. */
function sourceRange(addresses) {
  const octets = addresses.map((address) => {
    const match = /^127\.0\.0\.(\d{1,3})$/.exec(address);
    if (match === null) throw new Error(`source ${address} is not in 127.0.0.1-254`);
    return Number(match[1]);
  });
  if (octets.some((octet, i) => octet !== octets[0] + i)) throw new Error('the C generator takes consecutive sources');
  return { first: octets[0], count: octets.length };
}

function argsFor(message, extra) {
  const { first, count } = sourceRange(message.addresses);
  const paths = message.paths ?? ['/'];
  if (paths.length !== 1) throw new Error('the C generator takes one request path (use BENCH_LOADGEN=node)');
  return [
    '-h', message.host, '-p', String(message.port), '-f', String(first), '-n', String(count),
    '-H', message.header ?? 'xff', '-P', paths[0], ...extra,
  ];
}

/** Runs the generator; `lines` receives every stdout line; resolves with the final JSON line at exit. */
function run(binary, args, onLine) {
  const child = spawn(binary, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  let final;
  createInterface({ input: child.stdout }).on('line', (line) => {
    const parsed = JSON.parse(line);
    if (parsed.generator !== undefined) final = parsed;
    else onLine?.(parsed);
  });
  const exited = new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (final !== undefined) resolve(final);
      else reject(new Error(`C load generator exited (${code ?? signal}) without a result`));
    });
  });
  return { child, exited };
}

const toSnapshot = (line) => ({
  completed: line.done, errors: line.errors, byWorker: line.workers, micros: line.cpu_us, at: line.at_ms,
});

/** A load generator with the Node generator's call() interface, backed by the C program. */
export function startCLoadgen(binary = C_BINARY) {
  let load; // { child, exited, replies: resolve functions waiting for a snapshot line }
  let last = { completed: 0, errors: 0, byWorker: {}, micros: 0, at: performance.now() };

  const commands = {
    start(message) {
      if (load !== undefined) throw new Error('a load is already running');
      const kind = message.kind === 'keepalive' ? 'keepalive' : 'close';
      const replies = [];
      const args = argsFor(message, ['-m', kind, '-c', String(message.concurrency), '-t', String(LIFETIME_S), '-C']);
      load = { ...run(binary, args, (line) => replies.shift()?.(line)), replies };
      load.exited.catch(() => {}); // reported by 'stop'
      return {};
    },
    async snapshot() {
      if (load === undefined) return last;
      const reply = new Promise((resolve) => load.replies.push(resolve));
      load.child.stdin.write('s\n');
      return toSnapshot(await reply);
    },
    async stop(message) {
      if (load === undefined) return {};
      const { child, exited } = load;
      load = undefined;
      child.stdin.end('q\n');
      let timer;
      const limit = new Promise((resolve) => { timer = setTimeout(resolve, message.drainMs ?? 10_000, undefined); });
      const final = await Promise.race([exited, limit]).finally(() => clearTimeout(timer));
      if (final === undefined) {
        child.kill('SIGKILL');
        return { drained: false };
      }
      last = { completed: final.done_total, errors: final.errors, byWorker: {}, micros: 0, at: performance.now() };
      return { drained: true };
    },
    async storm(message) {
      const args = argsFor(message, [
        '-m', 'close', '-c', String(message.n), '-N', String(message.n), '-T', String(STORM_TIMEOUT_MS),
        '-t', String(STORM_TIMEOUT_MS / 1000 + 5),
      ]);
      const final = await run(binary, args).exited;
      return {
        completed: final.done, errors: final.errors, byWorker: final.workers,
        elapsed: final.wall_seconds * 1000, micros: final.cpu_seconds * 1e6,
      };
    },
  };

  return {
    kind: 'c',
    get child() {
      return load?.child;
    },
    async call(message) {
      const command = commands[message.cmd];
      if (command === undefined) throw new Error(`the C generator has no '${message.cmd}' (use BENCH_LOADGEN=node)`);
      return command(message);
    },
    async stop() {
      if (load !== undefined) await commands.stop({ drainMs: 5_000 });
    },
  };
}
