// Session lookup routed by key: sessions live in the memory of the worker that serves the client
// (sticky routing by client address). Any worker can read another client's session by asking "the
// worker that owns this address"; the bus routes the request with the balancer's own hash.
//
//   npm run build && node examples/bus-session-lookup.mjs                       (PORT 3000, WORKERS 4)
//   curl --interface 127.0.0.2 http://127.0.0.1:3000/                           (visit as 127.0.0.2)
//   curl --interface 127.0.0.3 'http://127.0.0.1:3000/session?of=127.0.0.2'     (read it from another worker)
import cluster from 'node:cluster';
import http from 'node:http';
import { attachWorker, workerBus } from '../dist/index.js';
import { startBusPrimary } from './lib/bus-primary.mjs';

if (cluster.isPrimary) {
  await startBusPrimary();
} else {
  const bus = workerBus();
  const sessions = new Map();
  const me = cluster.worker.id;
  // Answered by the worker that owns the address; null when that client never came.
  bus.handle('session:get', ({ address }) => {
    const session = sessions.get(address);
    return session === undefined ? null : { ...session, heldBy: me };
  });

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://x');
    res.setHeader('content-type', 'application/json');
    if (url.pathname === '/session') {
      const address = url.searchParams.get('of') ?? '';
      try {
        const session = await bus.requestTo({ key: address }, 'session:get', { address }, { timeout: 2_000 });
        res.end(JSON.stringify({ address, session, askedBy: me }));
      } catch (error) {
        res.statusCode = error.code === 'STICKY_ERR_IPC_NO_WORKER' ? 400 : 503;
        res.end(JSON.stringify({ error: error.code, message: error.message }));
      }
      return;
    }
    const address = req.socket.remoteAddress.replace(/^::ffff:/, '');
    const session = sessions.get(address) ?? { visits: 0 };
    session.visits++;
    sessions.set(address, session);
    res.end(JSON.stringify({ address, visits: session.visits, workerId: me }));
  });
  attachWorker(server);
}
