// Recipe: ws (raw WebSockets). Run: node examples/recipes/ws.mjs (PORT 3000, WORKERS 2, HOST 127.0.0.1).
// The WebSocket server rides on the worker's http.Server; close the sockets in onDrain so that a
// drain (shutdown, rolling restart) does not wait for drainTimeout.
import cluster from 'node:cluster';
import http from 'node:http';
import { WebSocketServer } from 'ws';
import { listen, onDrain } from '../../dist/index.js';

const server = http.createServer((req, res) => res.end(`worker ${cluster.worker.id}\n`));

const closeMaster = listen(server, process.env.PORT ?? 3000, process.env.HOST ?? '127.0.0.1', {
  workers: Number(process.env.WORKERS ?? 2),
});
if (closeMaster) {
  server.once('listening', async () => {
    await closeMaster.primary.whenReady();
    console.log(`ws on ${server.address().port}`);
    process.send?.({ type: 'ready', port: server.address().port }); // for a parent process, e.g. the tests
  });
} else {
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws, req) => {
    ws.send(JSON.stringify({ framework: 'ws', workerId: cluster.worker.id, client: req.socket.remoteAddress }));
    ws.on('message', (data) => ws.send(JSON.stringify({ echo: data.toString(), workerId: cluster.worker.id })));
  });
  onDrain(() => {
    for (const ws of wss.clients) ws.close(1001, 'server shutting down');
  });
}
