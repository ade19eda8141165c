// sticky-runtime demo: a per-client visit counter and a WebSocket echo on several workers.
//
//   npm run demo                       (builds, then runs this file)
//   PORT=8080 WORKERS=2 npm run demo   (environment: PORT 3000, WORKERS 4, HOST 127.0.0.1, LOG_LEVEL info)
//
// Every worker keeps its visit counts in its own memory, keyed by the client address. The counts
// only add up because sticky-runtime sends every connection from one address to the same worker, and
// they survive a reload (kill -HUP <primary pid>): each slot hands them, and its open WebSockets, to
// its next worker.
// This same file runs in the primary and in every worker: listen() tells them apart.
import cluster from 'node:cluster';
import http from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import { pino } from 'pino';
import { WebSocketServer } from 'ws';
import {
  adoptedState, handOverWebSockets, listen, onAdopt, onDrain, onHandover, onShutdown,
} from '../dist/index.js';
import { prettyDestination } from './pretty-log.mjs';

const port = Number(process.env.PORT ?? 3000);
const host = process.env.HOST ?? '127.0.0.1';
const workers = Number(process.env.WORKERS ?? 4);
// base: null leaves out pino's own pid and hostname; the pretty destination prints one line per record.
const logger = pino({ level: process.env.LOG_LEVEL ?? 'info', base: null }, prettyDestination());

const workerId = cluster.worker?.id;
const log = logger.child(cluster.isPrimary ? { component: 'demo' } : { component: 'app', workerId });
/** Visits per client address, in this worker's memory only. */
const visits = new Map();

/** The client's address; IPv4 clients of a dual-stack socket show up as `::ffff:a.b.c.d`. */
function clientOf(socket) {
  const address = socket.remoteAddress ?? 'unknown';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

function handleRequest(req, res) {
  const { pathname } = new URL(req.url ?? '/', 'http://demo');
  if (req.method !== 'GET' || pathname !== '/') {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('Try GET /\n');
    return;
  }
  const client = clientOf(req.socket);
  const count = (visits.get(client) ?? 0) + 1;
  visits.set(client, count);
  res.setHeader('content-type', 'text/plain; charset=utf-8');
  res.end(`worker ${workerId} (pid ${process.pid}) — ${client}, you have visited ${count} time${count === 1 ? '' : 's'}\n`);
}

const server = http.createServer(handleRequest);
const closeMaster = listen(server, port, host, {
  workers,
  logger,
  // Short deadlines so that Ctrl-C never keeps you waiting long.
  drainTimeout: 5_000,
  shutdownTimeout: 10_000,
});

if (closeMaster === null) startWorker();
else startPrimary(closeMaster);

function startWorker() {
  // A reload (kill -HUP <primary pid>) hands this slot's visit counts to the slot's next worker.
  onHandover(() => visits);
  onAdopt((state) => {
    if (state instanceof Map) for (const [client, count] of state) visits.set(client, count);
  });
  void adoptedState().then((started) => {
    if (started.isAdopted) log.info({ clients: visits.size, bytes: started.bytes }, 'visit counts adopted');
  });

  // Attached to the same server: an upgrade request reaches the worker that owns the client.
  const wss = new WebSocketServer({ server });
  /** Each WebSocket's client address: the state that moves with it in a reload. */
  const clients = new WeakMap();
  function serve(ws, client) {
    clients.set(ws, client);
    ws.on('message', (data, isBinary) => ws.send(isBinary ? data : `worker ${workerId}: ${data}`));
    ws.on('close', (code, reason) => log.info({ client, code, reason: String(reason) }, 'websocket closed'));
  }
  wss.on('connection', (ws, req) => {
    const client = clientOf(req.socket);
    log.info({ client }, 'websocket open');
    ws.send(`worker ${workerId} (pid ${process.pid}): connected, ${client}`);
    serve(ws, client);
  });
  // A reload moves open WebSockets, as the same connections, to the slot's next worker.
  handOverWebSockets(wss, {
    state: (ws) => clients.get(ws),
    adopt: (ws, client) => {
      serve(ws, client);
      ws.send(`worker ${workerId} (pid ${process.pid}): took over your connection, ${client}`);
    },
  });

  /** Closes open WebSockets with 1001 (going away) and waits for them to close. */
  async function closeWebSockets() {
    const open = [...wss.clients];
    if (open.length === 0) return;
    log.info({ count: open.length }, 'closing websockets');
    await Promise.all(open.map((ws) => new Promise((resolve) => {
      ws.once('close', resolve);
      ws.close(1001, 'server shutting down');
      // A client that never answers the close frame is cut off.
      setTimeout(() => ws.terminate(), 2_000).unref();
    })));
  }

  // Draining waits for upgraded sockets too: close them, or the drain runs until `drainTimeout`.
  onDrain(closeWebSockets);

  onShutdown(async () => {
    // Ctrl-C in a terminal signals every process of the group, so a worker can get here without
    // having drained; close what is still open.
    await closeWebSockets();
    await delay(100); // stands in for real cleanup: flushing state, closing a database pool
    log.info({ clients: visits.size }, 'cleanup done, visit counters dropped');
  });
}

function startPrimary({ primary }) {
  primary.on('workerExit', ({ workerId: id, code, signal, expected }) => {
    if (expected) log.info({ workerId: id, code, signal }, 'worker exited');
  });
  server.once('error', (error) => {
    log.error({ err: error }, 'could not start the demo');
    closeMaster(() => process.exit(1), false);
  });
  server.once('listening', async () => {
    await primary.whenReady();
    printHowTo(server.address().port);
  });
}

function printHowTo(boundPort) {
  const target = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  const url = `http://${target}:${boundPort}/`;
  const portArg = boundPort === 3000 ? '' : ` --port ${boundPort}`;
  console.log(`
  sticky-runtime demo: ${workers} workers behind ${url}

  Every client address sticks to one worker, which counts its visits in memory.
  Try a few times from each address (any 127.0.0.x is loopback on Linux):

    curl --interface 127.0.0.2 ${url}
    curl --interface 127.0.0.3 ${url}

  WebSocket echo, answered by the same worker as curl from the same address
  (add --stay to keep it open and watch Ctrl-C close it with 1001):

    node examples/ws-client.mjs --from 127.0.0.2${portArg}

  Ctrl-C shuts down gracefully; a second Ctrl-C stops waiting for connections.
`);
}
