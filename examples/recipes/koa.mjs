// Recipe: Koa. Run: node examples/recipes/koa.mjs (PORT 3000, WORKERS 2, HOST 127.0.0.1).
// Pass the app itself (or http.createServer(app.callback())) to listen().
import cluster from 'node:cluster';
import Koa from 'koa';
import { listen } from '../../dist/index.js';

const app = new Koa();
app.use((ctx) => {
  ctx.body = { framework: 'koa', workerId: cluster.worker.id, client: ctx.req.socket.remoteAddress };
});

const closeMaster = listen(app, process.env.PORT ?? 3000, process.env.HOST ?? '127.0.0.1', {
  workers: Number(process.env.WORKERS ?? 2),
});
if (closeMaster) {
  closeMaster.primary.once('listening', async ({ port }) => {
    await closeMaster.primary.whenReady();
    console.log(`koa on ${port}`);
    process.send?.({ type: 'ready', port }); // for a parent process, e.g. the tests
  });
}
