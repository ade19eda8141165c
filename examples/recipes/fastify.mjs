// Recipe: Fastify 5. Run: node examples/recipes/fastify.mjs (PORT 3000, WORKERS 2, HOST 127.0.0.1).
// Pass the Fastify instance, not `app.server`, and do not call `app.listen()`: sticky-runtime waits
// for `app.ready()` (plugins loaded, routes registered) before the worker takes connections.
import cluster from 'node:cluster';
import Fastify from 'fastify';
import { listen, onShutdown } from '../../dist/index.js';

const app = Fastify();
app.get('/', async (req) => ({ framework: 'fastify', workerId: cluster.worker.id, client: req.socket.remoteAddress }));

const closeMaster = listen(app, process.env.PORT ?? 3000, process.env.HOST ?? '127.0.0.1', {
  workers: Number(process.env.WORKERS ?? 2),
});
if (closeMaster) {
  app.server.once('listening', async () => {
    await closeMaster.primary.whenReady();
    console.log(`fastify on ${app.server.address().port}`);
    process.send?.({ type: 'ready', port: app.server.address().port }); // for a parent process, e.g. the tests
  });
} else {
  // Fastify's onClose hooks (database plugins and the like) run when the worker shuts down.
  onShutdown(() => app.close());
}
