// Recipe: Socket.IO on a fleet of hosts behind a load balancer, with @socket.io/redis-adapter. Run one
// per host: REDIS_URL=redis://10.0.0.5:6379 TRUSTED_PROXIES=10.0.0.2 node examples/recipes/socket-io-redis.mjs
// (PORT 3000, HOST 0.0.0.0, WORKERS 2, HOST_NAME: a name for the host in the greetings).
// - The balancer (HAProxy `send-proxy-v2`, nginx `proxy_protocol on`) keeps a client address on one
//   host and names the client in a PROXY header; only TRUSTED_PROXIES may send one.
// - socketIoSessions: each session's requests (long-polling, then the upgrade) reach the worker that
//   holds it, also for many clients behind one NAT address, which spread over the host's workers.
// - Every worker of every host uses the Redis adapter, which relays io.emit() between all of them: no
//   cluster adapter is needed inside a host.
import cluster from 'node:cluster';
import http from 'node:http';
import { hostname } from 'node:os';
import { Server } from 'socket.io';
import { createAdapter } from '@socket.io/redis-adapter';
import { createClient } from 'redis';
import { generateSessionId, listen, onDrain } from '../../dist/index.js';

const server = http.createServer();

if (cluster.isWorker) {
  // Connected before the worker takes connections (listen() below makes it ready).
  const pub = createClient({ url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' });
  const sub = pub.duplicate();
  await Promise.all([pub.connect(), sub.connect()]);
  const io = new Server(server, { adapter: createAdapter(pub, sub) });
  io.engine.generateId = generateSessionId;
  const host = process.env.HOST_NAME ?? hostname();
  io.on('connection', (socket) => {
    socket.emit('hello', { host, workerId: cluster.worker.id, sid: socket.conn.id, address: socket.handshake.address });
    socket.on('which', (reply) => reply({ host, workerId: cluster.worker.id }));
    // Reaches every client of every worker of every host, through Redis.
    socket.on('shout', (text) => io.emit('shouted', { text, host, workerId: cluster.worker.id }));
  });
  onDrain(async () => {
    io.close();
    await Promise.all([pub.quit(), sub.quit()]).catch(() => {});
  });
}

const closeMaster = listen(server, process.env.PORT ?? 3000, process.env.HOST ?? '0.0.0.0', {
  workers: Number(process.env.WORKERS ?? 2),
  proxyProtocol: true,
  socketIoSessions: true,
  trustedProxies: (process.env.TRUSTED_PROXIES ?? '127.0.0.1').split(','),
});
if (closeMaster) {
  server.once('listening', async () => {
    await closeMaster.primary.whenReady();
    console.log(`socket.io on ${server.address().port}`);
    process.send?.({ type: 'ready', port: server.address().port }); // for a parent process, e.g. the tests
  });
}
