// Target of bench/handover.mjs: a sticky-runtime cluster (IP mode) whose workers carry slot state and
// open ws WebSockets across planned replacements.
//
// Each worker's slot state is a Map of sessions (bench/lib/handover-state.mjs) of about BENCH_STATE_BYTES
// in total, plus a generation counter that each adoption increments. The slot's first
// worker builds it once it knows it started empty; a successor takes its predecessor's (onHandover /
// onAdopt). Every WebSocket echoes each message as `<pid>:<message>`; its per-connection state (the
// client's id) moves with it (handOverWebSockets). HTTP: GET /state answers { slot, pid, entries,
// generation, adopted }, any other path `ok` with an `x-pid` header.
//
// The primary talks to the bench over IPC:
//   sends    { type: 'ready', port, steering }       once every slot has a ready worker
//   sends    { type: 'handover', at, ...info }        each `handover` event (`at`: Date.now())
//   answers  { cmd: 'reload', id } → { id, ok, ms, code?, message?, slots } (`slots`: stats().slots after it)
//   answers  { cmd: 'stats', id }  → { id, stats }
// Options (JSON in BENCH_TARGET_OPTIONS) are merged over { workers: BENCH_WORKERS }. It stops when the bench
// goes away (IPC disconnect) or after BENCH_MAX_LIFETIME_MS; workers exit with the primary.
import cluster from 'node:cluster';
import http from 'node:http';
import { pathToFileURL } from 'node:url';
import { WebSocketServer } from 'ws';
import { buildSessions } from '../lib/handover-state.mjs';

const dist = process.env.BENCH_DIST ? pathToFileURL(`${process.env.BENCH_DIST}/index.js`).href : '../../dist/index.js';
const { adoptedState, handOverWebSockets, listen, onAdopt, onHandover } = await import(dist);

const stateBytes = Number(process.env.BENCH_STATE_BYTES ?? 1024);
const options = {
  workers: Number(process.env.BENCH_WORKERS ?? 1),
  handleSignals: true,
  // BENCH_LOG=info (or debug…) shows the package's log; quiet by default, the log is no part of what is measured.
  logLevel: process.env.BENCH_LOG ?? 'warn',
  ...JSON.parse(process.env.BENCH_TARGET_OPTIONS ?? '{}'),
};

let sessions = new Map();
let generation = 0;
let adopted = { isAdopted: false, reason: 'pending', bytes: 0 };

function worker() {
  const pid = String(process.pid);
  const server = http.createServer((req, res) => {
    if (req.url === '/state') {
      res.setHeader('content-type', 'application/json');
      const slot = Number(process.env.STICKY_RUNTIME_SLOT);
      res.end(JSON.stringify({ slot, pid: process.pid, entries: sessions.size, generation, adopted }));
      return;
    }
    res.setHeader('x-pid', pid);
    res.end('ok');
  });
  const wss = new WebSocketServer({ server, perMessageDeflate: false });
  const ids = new WeakMap();
  const serve = (ws, id) => {
    ids.set(ws, id);
    ws.on('message', (data) => ws.send(`${pid}:${data}`));
  };
  wss.on('connection', (ws, req) => serve(ws, new URL(req.url, 'http://x').searchParams.get('id')));
  handOverWebSockets(wss, { state: (ws) => ids.get(ws), adopt: (ws, id) => serve(ws, id) });
  onHandover(() => ({ sessions, generation }));
  onAdopt((state) => {
    sessions = state.sessions;
    generation = state.generation + 1;
  });
  void adoptedState().then((result) => {
    adopted = { isAdopted: result.isAdopted, reason: result.reason, bytes: result.bytes ?? 0 };
    if (!result.isAdopted) sessions = buildSessions(stateBytes);
  });
  return server;
}

function tell(message) {
  if (process.connected) process.send(message, () => {});
}

function runPrimary(closeMaster, server) {
  const { primary } = closeMaster;
  server.once('listening', async () => {
    await primary.whenReady();
    tell({ type: 'ready', port: server.address().port, steering: primary.stats().steering?.plane });
  });
  primary.on('handover', (info) => tell({ type: 'handover', at: Date.now(), ...info }));
  process.on('message', async (message) => {
    if (message?.cmd === 'reload') {
      const started = performance.now();
      let answer;
      try {
        await primary.reload();
        answer = { ok: true };
      } catch (error) {
        answer = { ok: false, code: error?.code, message: String(error?.message ?? error) };
      }
      tell({ id: message.id, ...answer, ms: performance.now() - started, slots: primary.stats().slots });
    } else if (message?.cmd === 'stats') {
      tell({ id: message.id, stats: primary.stats() });
    }
  });
  let isStopping = false;
  const stop = (code) => {
    if (isStopping) return;
    isStopping = true;
    closeMaster(() => process.exit(code), false);
    setTimeout(() => process.exit(code || 1), 5_000).unref();
  };
  process.on('disconnect', () => stop(0));
  setTimeout(() => stop(2), Number(process.env.BENCH_MAX_LIFETIME_MS ?? 10 * 60_000)).unref();
}

const server = cluster.isWorker ? worker() : http.createServer();
const closeMaster = listen(server, 0, '127.0.0.1', options);
if (closeMaster) runPrimary(closeMaster, server);
