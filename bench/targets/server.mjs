// One benchmark target: a primary plus BENCH_WORKERS workers that answer every request with the same
// tiny response. BENCH_TARGET picks how connections reach the workers:
//   rr      Node's cluster, SCHED_RR: the primary accepts and passes each connection to a worker
//   none    Node's cluster, SCHED_NONE: the workers share the listening socket, the kernel picks
//   ip      sticky-runtime, routed by the client's address, kernel steering (the workers accept on their slot sockets)
//   ip-hop  sticky-runtime, routed by the client's address, the primary hands each connection over
//   header  sticky-runtime, routed by the x-forwarded-for request header
//   proxy   sticky-runtime, routed by the source address of a PROXY protocol header (v1 or v2)
//   sio     sticky-runtime, socketIoSessions: by the slot in the `sid` query parameter, else per connection
//   ip-hop-ipc, header-ipc, proxy-ipc: ip-hop, header and proxy with `nativeHandoff: false` (Node's IPC)
//   fd-pass an experiment, not the product: a bare primary that accepts, picks the worker by the client's
//           address and passes the descriptor with one sendmsg (SCM_RIGHTS) over an unnamed socket pair per
//           worker, with the native part of sticky-runtime: no JSON message, no acknowledgement (the
//           cheaper handoff the primary hop could use)
// The primary talks to the bench over IPC: it sends { type: 'ready', port } once every worker can
// serve, and answers { type: 'cpu' } with its own process.cpuUsage() and its workers' CPU time.
// It stops on SIGTERM, when the bench goes away (disconnect), and after BENCH_MAX_LIFETIME_MS.
import cluster from 'node:cluster';
import { createHash } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { processCpuMicros } from '../lib/machine-load.mjs';
import { distUrl } from '../lib/dist-snapshot.mjs';

const { listen } = await import(distUrl('index.js'));

const TARGETS = ['rr', 'none', 'ip', 'ip-hop', 'header', 'proxy', 'sio', 'fd-pass', 'ip-hop-ipc', 'header-ipc', 'proxy-ipc'];
const named = process.env.BENCH_TARGET ?? 'ip';
if (!TARGETS.includes(named)) throw new Error(`BENCH_TARGET must be one of ${TARGETS.join(', ')}, got ${named}`);
const isIpcHandoff = named.endsWith('-ipc');
const target = isIpcHandoff ? named.slice(0, -'-ipc'.length) : named;
const workerCount = Number(process.env.BENCH_WORKERS ?? 2);
const host = '127.0.0.1';
const maxLifetime = Number(process.env.BENCH_MAX_LIFETIME_MS ?? 15 * 60_000);

// Must be set before the first fork; it is read again in each worker from the environment.
if (target === 'rr') cluster.schedulingPolicy = cluster.SCHED_RR;
if (target === 'none') cluster.schedulingPolicy = cluster.SCHED_NONE;

function workerIndex() {
  if (target === 'fd-pass') return Number(process.env.BENCH_FD_SLOT);
  if (target !== 'rr' && target !== 'none') return Number(process.env.STICKY_RUNTIME_SLOT);
  return (cluster.worker?.id ?? 1) - 1;
}

function createApp() {
  const body = Buffer.from('ok');
  // Which worker answered, so the bench can report how connections were spread.
  const headers = { 'content-type': 'text/plain', 'content-length': body.length, 'x-worker': String(workerIndex()) };
  return http.createServer((request, response) => {
    response.writeHead(200, headers);
    response.end(body);
  });
}

function reportCpu(workerPids) {
  const { user, system } = process.cpuUsage();
  process.send?.({
    type: 'cpu',
    primary: user + system,
    workers: workerPids().map((pid) => ({ pid, micros: processCpuMicros(pid) })),
  });
}

function armLifetime(stop) {
  const timer = setTimeout(stop, maxLifetime);
  timer.unref();
  process.on('disconnect', stop);
}

function runNativePrimary() {
  const workers = [];
  let listening = 0;
  let port;
  for (let i = 0; i < workerCount; i++) workers.push(cluster.fork());
  cluster.on('listening', (_worker, address) => {
    if (port !== undefined && port !== address.port) throw new Error('workers listen on different ports');
    port = address.port;
    if (++listening === workerCount) process.send?.({ type: 'ready', port, pids: workers.map((w) => w.process.pid) });
  });
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    for (const worker of workers) worker.process.kill('SIGTERM');
    const force = setTimeout(() => {
      for (const worker of workers) worker.process.kill('SIGKILL');
      process.exit(1);
    }, 5_000);
    force.unref();
    let exited = 0;
    cluster.on('exit', () => {
      if (++exited === workerCount) process.exit(0);
    });
  };
  process.on('SIGTERM', stop);
  armLifetime(stop);
  process.on('message', (message) => {
    if (message?.type === 'cpu') reportCpu(() => workers.map((w) => w.process.pid));
  });
}

/** The fd-pass experiment's primary: one socket pair per worker, its far end the worker's fd 4. */
async function runFdPassPrimary() {
  const { loadFdPassing } = await import(distUrl('sticky/index.js'));
  const native = loadFdPassing();
  if (native === undefined) throw new Error('the fd-pass target needs the native part of sticky-runtime');
  const ends = [];
  const workers = [];
  for (let i = 0; i < workerCount; i++) {
    const [near, far] = native.socketPair();
    cluster.setupPrimary({ stdio: ['inherit', 'inherit', 'inherit', 'ipc', far] });
    workers.push(cluster.fork({ BENCH_FD_SLOT: String(i) }));
    ends.push(near);
  }
  const one = new Uint8Array(1);
  const waiting = ends.map(() => []);
  // A pair's buffer is full only under a burst: then wait for it to be writable, and only then.
  const watches = ends.map(() => undefined);
  const flush = (slot) => {
    while (waiting[slot].length > 0) {
      const socket = waiting[slot][0];
      if (native.send(ends[slot], one, Int32Array.of(socket._handle.fd)) < 0) {
        watches[slot] ??= native.watch(ends[slot], true, () => flush(slot));
        return;
      }
      waiting[slot].shift();
      socket.destroy();
    }
    if (watches[slot] !== undefined) native.unwatch(watches[slot]);
    watches[slot] = undefined;
  };
  const server = net.createServer({ pauseOnConnect: true }, (socket) => {
    const slot = createHash('sha1').update(socket.remoteAddress ?? '').digest().readUInt32BE(0) % workerCount;
    waiting[slot].push(socket);
    flush(slot);
  });
  let ready = 0;
  cluster.on('message', (_worker, message) => {
    if (message?.type !== 'fd-ready' || ++ready < workerCount) return;
    server.listen(0, host, () => process.send?.({ type: 'ready', port: server.address().port, pids: workers.map((w) => w.process.pid) }));
  });
  const stop = () => {
    for (const watch of watches) if (watch !== undefined) native.unwatch(watch);
    server.close();
    for (const worker of workers) worker.process.kill('SIGTERM');
    setTimeout(() => process.exit(0), 2_000).unref();
  };
  process.on('SIGTERM', stop);
  armLifetime(stop);
  process.on('message', (message) => {
    if (message?.type === 'cpu') reportCpu(() => workers.map((w) => w.process.pid));
  });
}

/** The fd-pass experiment's worker: reads descriptors from fd 4 and gives each to the HTTP server. */
async function runFdPassWorker(app) {
  const { loadFdPassing } = await import(distUrl('sticky/index.js'));
  const { tcpHandleOfFd } = await import(distUrl('internal/node-internals.js'));
  const native = loadFdPassing();
  const buffer = new Uint8Array(256);
  // Kept: a watch that is garbage-collected stops.
  globalThis.fdPassWatch = native.watch(4, false, () => {
    for (let read = native.receive(4, buffer); read !== null && read.bytes > 0; read = native.receive(4, buffer)) {
      for (const fd of read.fds) {
        const handle = fd < 0 ? null : tcpHandleOfFd(fd);
        if (handle !== null) app.emit('connection', new net.Socket({ handle, readable: true, writable: true }));
      }
    }
  });
  process.on('SIGTERM', () => process.exit(0));
  process.send?.({ type: 'fd-ready' });
}

function runStickyPrimary(closeMaster, app) {
  const { primary } = closeMaster;
  app.once('listening', async () => {
    await primary.whenReady();
    process.send?.({ type: 'ready', port: app.address().port, pids: primary.stats().slots.map((s) => s.pid) });
  });
  // SIGTERM is handled by the package itself (handleSignals): graceful shutdown, then exit.
  armLifetime(() => closeMaster(() => process.exit(0), false));
  process.on('message', (message) => {
    if (message?.type === 'cpu') reportCpu(() => primary.stats().slots.map((s) => s.pid));
    else if (message?.type === 'stats') process.send?.({ type: 'stats', stats: primary.stats() });
  });
}

/**
 * listen() with `trustedProxies: ['127.0.0.0/8']` beside `proxyProtocol` where the option exists (the generator
 * sends the PROXY header from loopback addresses); a version without it rejects the key, so try without.
 */
function listenTrusting(app, options) {
  if (options.proxyProtocol !== true) return listen(app, 0, host, options);
  try {
    return listen(app, 0, host, { ...options, trustedProxies: ['127.0.0.0/8'] });
  } catch (error) {
    if (!/Unknown option `trustedProxies`/.test(String(error?.message))) throw error;
    return listen(app, 0, host, options);
  }
}

const app = createApp();
if (target === 'fd-pass') {
  if (cluster.isPrimary) await runFdPassPrimary();
  else await runFdPassWorker(app);
} else if (target === 'rr' || target === 'none') {
  if (cluster.isPrimary) runNativePrimary();
  // listen(0) in cluster workers: every worker gets the same port (the primary owns the binding).
  else app.listen(0, host);
} else {
  const options = { workers: workerCount, handleSignals: true };
  if (target === 'header') options.proxyHeader = 'x-forwarded-for';
  if (target === 'sio') options.socketIoSessions = true;
  if (target === 'ip') options.steering = 'kernel';
  if (target === 'ip-hop') options.steering = 'primary';
  if (target === 'proxy') options.proxyProtocol = true;
  if (isIpcHandoff) options.nativeHandoff = false;
  const closeMaster = listenTrusting(app, options);
  if (closeMaster) runStickyPrimary(closeMaster, app);
}
