// Recipe: node:http. Run: node examples/recipes/http.mjs (PORT 3000, WORKERS 2, HOST 127.0.0.1).
// This same file runs in the primary and in every worker; listen() tells them apart.
import cluster from 'node:cluster';
import http from 'node:http';
import { listen } from '../../dist/index.js';

const server = http.createServer((req, res) => {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ framework: 'node:http', workerId: cluster.worker.id, client: req.socket.remoteAddress }));
});

const closeMaster = listen(server, process.env.PORT ?? 3000, process.env.HOST ?? '127.0.0.1', {
  workers: Number(process.env.WORKERS ?? 2),
});
if (closeMaster) {
  server.once('listening', async () => {
    await closeMaster.primary.whenReady();
    console.log(`node:http on ${server.address().port}`);
    process.send?.({ type: 'ready', port: server.address().port }); // for a parent process, e.g. the tests
  });
}
