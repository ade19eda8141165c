// Recipe: Socket.IO 4 with @socket.io/cluster-adapter. Run: node examples/recipes/socket-io.mjs
// (PORT 3000, WORKERS 2, HOST 127.0.0.1).
// - Every request of a Socket.IO session (HTTP long-polling, then the WebSocket upgrade) must reach
//   the worker that holds the session: sticky-runtime's routing does that (by client address here).
// - io.emit() must reach the clients of every worker: the cluster adapter relays broadcasts over
//   the cluster's IPC. setupPrimary() goes in the primary, next to listen(); createAdapter() in
//   each worker's Server.
import cluster from 'node:cluster';
import http from 'node:http';
import { Server } from 'socket.io';
import { createAdapter, setupPrimary } from '@socket.io/cluster-adapter';
import { listen, onDrain } from '../../dist/index.js';

const server = http.createServer();

const closeMaster = listen(server, process.env.PORT ?? 3000, process.env.HOST ?? '127.0.0.1', {
  workers: Number(process.env.WORKERS ?? 2),
});
if (closeMaster) {
  setupPrimary();
  server.once('listening', async () => {
    await closeMaster.primary.whenReady();
    console.log(`socket.io on ${server.address().port}`);
    process.send?.({ type: 'ready', port: server.address().port }); // for a parent process, e.g. the tests
  });
} else {
  const io = new Server(server, { adapter: createAdapter() });
  io.on('connection', (socket) => {
    socket.emit('hello', { workerId: cluster.worker.id });
    // Reaches every client, on every worker, through the cluster adapter.
    socket.on('shout', (text) => io.emit('shouted', { text, from: cluster.worker.id }));
  });
  onDrain(() => io.close());
}
