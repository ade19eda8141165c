// What the load balancer's hop costs per connection in a fleet: one host (`sticky-runtime serve`, PROXY
// mode, 2 workers) reached directly (the client writes the PROXY header itself, from the address the
// host trusts) and through HAProxy (`mode tcp`, `balance source`, `hash-type consistent`,
// `send-proxy-v2`), alternating, fresh connection per request, from 64 source addresses. Reports the
// requests/s, the median latency and HAProxy's CPU time per connection (from /proc), medians of rounds.
// On 2 cores the balancer competes with the host for the CPU: this is the hop's cost, not a scaling
// figure. Needs haproxy; imports dist/ (run `npm run build` first).
//   node bench/fleet-hop.mjs [--quick]
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';

const quick = process.argv.includes('--quick');
const ROUNDS = quick ? 3 : 7;
const REQUESTS = quick ? 1_000 : 3_000;
const CONCURRENCY = 16;
const HOST = '127.0.0.10';
const LB = '127.0.3.1';
const CLIENTS = Array.from({ length: 64 }, (_, i) => `127.0.4.${i + 1}`);
const BIN = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const APP = fileURLToPath(new URL('../test/fixtures/fleet/app.mjs', import.meta.url));
const HAPROXY = ['/usr/sbin/haproxy', '/usr/local/sbin/haproxy'].find((path) => { try { readFileSync(path); return true; } catch { return false; } });
if (HAPROXY === undefined) {
  console.error('haproxy is not installed (Debian: apt-get install haproxy)');
  process.exit(2);
}

async function freePort(host) {
  const server = net.createServer().listen(0, host);
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function until(predicate, what, timeout = 20_000) {
  const deadline = Date.now() + timeout;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeout} ms`);
    await delay(20);
  }
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const cpuMs = (pid) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime + stime, in clock ticks of 10 ms
};

/** One request on a fresh connection; `prefix` is written before it (a PROXY header), resolves with ms. */
function once(port, localAddress, prefix, host = '127.0.0.1') {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port, localAddress });
    let text = '';
    socket.setEncoding('latin1');
    socket.on('connect', () => socket.write(`${prefix}GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
    socket.on('data', (chunk) => { text += chunk; });
    socket.on('error', reject);
    socket.on('close', () => (text.startsWith('HTTP/1.1 200') ? resolve(performance.now() - started) : reject(new Error(text.slice(0, 80)))));
  });
}

async function run(port, viaBalancer) {
  const latencies = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < REQUESTS) {
      const i = next++;
      const client = CLIENTS[i % CLIENTS.length];
      // Directly: the client stands in for the balancer (the host trusts only LB's address).
      const prefix = viaBalancer ? '' : `PROXY TCP4 ${client} ${HOST} ${40_000 + (i % 20_000)} 80\r\n`;
      latencies.push(await once(port, viaBalancer ? client : LB, prefix, viaBalancer ? '127.0.0.1' : HOST));
    }
  }));
  return { rate: REQUESTS / ((performance.now() - started) / 1000), p50: median(latencies) };
}

const dir = mkdtempSync(join(tmpdir(), 'sticky-fleet-hop-'));
const children = [];
try {
  const hostPort = await freePort(HOST);
  const lbPort = await freePort('127.0.0.1');
  const host = spawn(process.execPath, [BIN, 'serve', APP, '--host', HOST, '--port', String(hostPort), '--workers', '2', '--proxy-protocol',
    '--trusted-proxies', LB, '--control-socket', join(dir, 'host.sock'), '--log-level', 'warn'], { cwd: dir, stdio: 'ignore' });
  children.push(host);
  writeFileSync(join(dir, 'haproxy.cfg'), [
    'global', '  maxconn 4096', 'defaults', '  mode tcp', '  timeout connect 2s', '  timeout client 30s', '  timeout server 30s',
    'frontend fleet', `  bind 127.0.0.1:${lbPort}`, '  default_backend hosts',
    'backend hosts', '  balance source', '  hash-type consistent', `  source ${LB}`, `  server host0 ${HOST}:${hostPort} send-proxy-v2`, '',
  ].join('\n'));
  const haproxy = spawn(HAPROXY, ['-db', '-f', join(dir, 'haproxy.cfg')], { stdio: 'ignore' });
  children.push(haproxy);
  await until(() => once(hostPort, LB, `PROXY TCP4 127.0.4.1 ${HOST} 40000 80\r\n`, HOST).then(() => true, () => false), 'host ready');
  await until(() => once(lbPort, '127.0.4.1', '').then(() => true, () => false), 'haproxy ready');
  await run(hostPort, false);
  await run(lbPort, true);
  const rows = { direct: [], balancer: [], cpu: [] };
  for (let round = 0; round < ROUNDS; round++) {
    rows.direct.push(await run(hostPort, false));
    const before = cpuMs(haproxy.pid);
    rows.balancer.push(await run(lbPort, true));
    rows.cpu.push(((cpuMs(haproxy.pid) - before) * 1000) / REQUESTS);
  }
  const summary = (list) => `${Math.round(median(list.map((r) => r.rate)))} req/s, p50 ${median(list.map((r) => r.p50)).toFixed(2)} ms`;
  const [load1] = readFileSync('/proc/loadavg', 'utf8').split(' ');
  console.log(`fleet hop: ${ROUNDS} rounds x ${REQUESTS} requests, fresh connections, concurrency ${CONCURRENCY}, Node ${process.version}, load average ${load1}`);
  console.log(`  directly to the host (PROXY header from the client): ${summary(rows.direct)}`);
  console.log(`  through HAProxy (send-proxy-v2):                     ${summary(rows.balancer)}`);
  console.log(`  HAProxy CPU per connection: ${median(rows.cpu).toFixed(0)} µs (median of rounds; /proc ticks of 10 ms)`);
} finally {
  for (const child of children) child.kill('SIGTERM');
  await Promise.all(children.map((child) => (child.exitCode === null ? new Promise((resolve) => child.once('exit', resolve)) : undefined)));
  rmSync(dir, { recursive: true, force: true });
}
