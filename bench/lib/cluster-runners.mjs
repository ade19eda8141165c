// The two sides of bench/pm2-side-by-side.mjs behind one interface: `sticky-runtime serve` (this
// package's CLI, from dist/) and PM2's cluster mode (installed on demand into a temporary prefix with its
// own PM2_HOME, never a dependency of the package). Each runner: start(), waitReady(), slots() (worker
// pid → slot), reload(), stop(), cleanup(). Every command has a time limit; cleanup() is safe to call
// twice and after a failure, and stops only the processes the runner started (by pid).
import { execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

const BIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const APP = fileURLToPath(new URL('../targets/express-app.cjs', import.meta.url));
const PM2_APP = fileURLToPath(new URL('../targets/express-pm2.cjs', import.meta.url));
const COMMAND_TIMEOUT_MS = 60_000;

/** Runs `node args…`; resolves { stdout, ms }, rejects with the command's output on failure. */
function runNode(args, { env, cwd, timeout = COMMAND_TIMEOUT_MS } = {}) {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { env, cwd, timeout, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${args.slice(0, 3).join(' ')}: ${error.message}\n${stdout}${stderr}`.trim()));
      else resolve({ stdout, ms: performance.now() - started });
    });
  });
}

const isAlive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const commandLineOf = (pid) => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'latin1');
  } catch {
    return '';
  }
};

async function killPid(pid, graceMs = 5_000) {
  if (pid === undefined || !isAlive(pid)) return;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (isAlive(pid) && Date.now() < deadline) await sleep(50);
  if (isAlive(pid)) process.kill(pid, 'SIGKILL');
}

/** `sticky-runtime serve` of the Express app, IP mode (the default), a control socket in `dir`. */
export function stickyRuntimeRunner({ dir, host, port, workers }) {
  const socket = join(dir, 'sticky-runtime.sock');
  const control = (command, ...args) => runNode([BIN, command, ...args, '--control-socket', socket], { cwd: dir });
  let child;
  let exited;
  return {
    name: 'sticky-runtime serve',
    describe: `\`sticky-runtime serve bench/targets/express-app.cjs --workers ${workers}\` (IP mode, kernel steering, ` +
      'default options: `shutdownTimeout` 30 s, `drainTimeout` 10 s, one slot replaced at a time)',
    start() {
      const log = openSync(join(dir, 'serve.log'), 'a');
      child = spawn(process.execPath, [BIN, 'serve', APP, '--host', host, '--port', String(port), '--workers', String(workers),
        '--control-socket', socket, '--log-level', 'warn'], { cwd: dir, stdio: ['ignore', log, log] });
      exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
      this.onPid?.(child.pid);
      const { pid } = child;
      child.once('exit', () => this.onPidGone?.(pid));
    },
    get pid() {
      return child?.pid;
    },
    async waitReady(ms = 30_000) {
      const deadline = Date.now() + ms;
      for (;;) {
        const stats = await this.stats().catch(() => undefined);
        if (stats?.readyWorkers === workers && stats.state === 'running') return;
        if (child.exitCode !== null || Date.now() > deadline) throw new Error(`serve not ready: ${this.log()}`);
        await sleep(50);
      }
    },
    async stats() {
      const { stdout } = await control('status', '--json');
      return JSON.parse(stdout.trim().split('\n')[0]).stats;
    },
    async slots() {
      const stats = await this.stats();
      return new Map(stats.slots.map((s) => [s.pid, s.slot]));
    },
    reload: () => control('reload'),
    /** SIGTERM to the serve process; resolves with the time until it exited and its exit code. */
    async stop() {
      const started = performance.now();
      child.kill('SIGTERM');
      const code = await Promise.race([exited, sleep(COMMAND_TIMEOUT_MS).then(() => 'timeout')]);
      return { ms: performance.now() - started, detail: `serve exited with ${code}` };
    },
    /** Stops this start before the next one (start-up timing). */
    discard() {
      return this.stop();
    },
    log: () => (existsSync(join(dir, 'serve.log')) ? readFileSync(join(dir, 'serve.log'), 'utf8').slice(-2_000) : ''),
    async cleanup() {
      if (child !== undefined && child.exitCode === null && child.signalCode === null) await killPid(child.pid);
    },
  };
}

/**
 * Installs pm2@version into `dir`/prefix (npm, no lifecycle scripts) with PM2_HOME `dir`/home. Returns
 * { version, pm2(args), daemonPid() }: pm2() runs the CLI with this home and a minimal environment.
 */
export async function installPm2({ dir, version }) {
  const prefix = join(dir, 'prefix');
  const started = performance.now();
  execFileSync('npm', ['install', '--prefix', prefix, `pm2@${version}`, '--ignore-scripts', '--no-audit', '--no-fund',
    '--loglevel=error', '--no-save', '--no-package-lock'], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 180_000 });
  const cli = join(prefix, 'node_modules', 'pm2', 'bin', 'pm2');
  const installed = JSON.parse(readFileSync(join(prefix, 'node_modules', 'pm2', 'package.json'), 'utf8')).version;
  const home = join(dir, 'home');
  const env = { PATH: process.env.PATH, HOME: dir, PM2_HOME: home, PM2_DISCRETE_MODE: 'true' };
  return {
    version: installed,
    installSeconds: (performance.now() - started) / 1000,
    pm2: (args, options) => runNode([cli, ...args], { env, cwd: dir, ...options }),
    daemonPid() {
      try {
        return Number(readFileSync(join(home, 'pm2.pid'), 'utf8').trim()) || undefined;
      } catch {
        return undefined;
      }
    },
  };
}

/** PM2 cluster mode of the same Express app (express-pm2.cjs adds listen()), PM2's default settings. */
export function pm2Runner({ dir, host, port, workers, pm2 }) {
  const name = 'sticky-bench';
  const ecosystem = join(dir, 'ecosystem.config.cjs');
  writeFileSync(ecosystem, `module.exports = ${JSON.stringify({
    apps: [{ name, script: PM2_APP, exec_mode: 'cluster', instances: workers, env: { HOST: host, PORT: String(port) } }],
  }, null, 2)};\n`);
  let daemonPid;
  const workerPids = new Set();
  return {
    name: `PM2 ${pm2.version} cluster mode`,
    describe: `PM2 ${pm2.version}, \`exec_mode: 'cluster'\`, \`instances: ${workers}\`, PM2's defaults (\`kill_timeout\` 1.6 s, ` +
      '`listen_timeout` 3 s); its daemon started before the timed start',
    /** The daemon first (`pm2 ping`), so the timed start is the app's own start, as for serve. */
    async prepare() {
      await pm2.pm2(['ping']);
      daemonPid = pm2.daemonPid();
      if (daemonPid !== undefined) this.onPid?.(daemonPid);
    },
    start() {
      this.starting = pm2.pm2(['start', ecosystem]);
      this.starting.catch(() => {}); // awaited in waitReady()
    },
    get pid() {
      return daemonPid;
    },
    async list() {
      const { stdout } = await pm2.pm2(['jlist']);
      return JSON.parse(stdout.slice(stdout.indexOf('['))).filter((p) => p.name === name);
    },
    async waitReady(ms = 30_000) {
      await this.starting;
      const deadline = Date.now() + ms;
      for (;;) {
        const list = await this.list();
        if (list.length === workers && list.every((p) => p.pm2_env.status === 'online' && p.pid > 0)) return;
        if (Date.now() > deadline) throw new Error(`pm2 app not online: ${JSON.stringify(list.map((p) => p.pm2_env.status))}`);
        await sleep(50);
      }
    },
    async slots() {
      const list = await this.list();
      for (const p of list) workerPids.add(p.pid);
      return new Map(list.map((p) => [p.pid, Number(p.pm2_env.NODE_APP_INSTANCE ?? p.pm_id)]));
    },
    reload: () => pm2.pm2(['reload', name]),
    async stop() {
      const { ms } = await pm2.pm2(['stop', name]);
      return { ms, detail: '`pm2 stop` returned' };
    },
    async discard() {
      await pm2.pm2(['delete', name]);
    },
    log: () => '',
    async cleanup() {
      await pm2.pm2(['kill'], { timeout: 20_000 }).catch(() => {});
      await killPid(daemonPid ?? pm2.daemonPid());
      // A worker the daemon left behind, recognised by its command line (a pid may have been reused).
      for (const pid of workerPids) if (commandLineOf(pid).includes('pm2')) await killPid(pid);
    },
  };
}

/** Removes a temporary directory made by the benchmark. */
export const removeDir = (dir) => rmSync(dir, { recursive: true, force: true });
