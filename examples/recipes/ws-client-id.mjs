// Recipe: WebSocket clients behind one address (NAT, a corporate proxy), kept on their worker by an id
// each client chooses once and sends in the query string (e.g. kept in localStorage). Run:
// node examples/recipes/ws-client-id.mjs (PORT 3000, WORKERS 2, HOST 127.0.0.1); connect with
// new WebSocket('ws://127.0.0.1:3000/live?client=<id>').
// The primary reads each connection's request head and routes by the id; a request without one goes by
// the client's address and port, so it still spreads. Same id → same worker, whatever the address.
import cluster from 'node:cluster';
import http from 'node:http';
import { WebSocketServer } from 'ws';
import { listen, onDrain } from '../../dist/index.js';

const clientIdOf = (url) => new URL(url ?? '/', 'http://localhost').searchParams.get('client');

const server = http.createServer((req, res) => res.end(`worker ${cluster.worker.id}\n`));

const closeMaster = listen(server, process.env.PORT ?? 3000, process.env.HOST ?? '127.0.0.1', {
  workers: Number(process.env.WORKERS ?? 2),
  generatePrehashArray: (req, socket) => clientIdOf(req.url) ?? `${socket.remoteAddress}:${socket.remotePort}`,
});
if (closeMaster) {
  server.once('listening', async () => {
    await closeMaster.primary.whenReady();
    console.log(`ws (by client id) on ${server.address().port}`);
    process.send?.({ type: 'ready', port: server.address().port }); // for a parent process, e.g. the tests
  });
} else {
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws, req) => {
    ws.send(JSON.stringify({ framework: 'ws', workerId: cluster.worker.id, clientId: clientIdOf(req.url) }));
  });
  onDrain(() => {
    for (const ws of wss.clients) ws.close(1001, 'server shutting down');
  });
}
