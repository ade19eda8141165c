// Recipe: Express 5. Run: node examples/recipes/express.mjs (PORT 3000, WORKERS 2, HOST 127.0.0.1).
// Pass the app itself (or an http.Server made from it) to listen(): the worker serves it.
// `trust proxy` makes req.ip the client address that sticky-runtime routed by in header mode.
import cluster from 'node:cluster';
import express from 'express';
import { listen } from '../../dist/index.js';

const app = express();
app.get('/', (req, res) => {
  res.json({ framework: 'express', workerId: cluster.worker.id, client: req.socket.remoteAddress });
});

const closeMaster = listen(app, process.env.PORT ?? 3000, process.env.HOST ?? '127.0.0.1', {
  workers: Number(process.env.WORKERS ?? 2),
});
if (closeMaster) {
  // An Express app has no server of its own in the primary: the primary handle says when it listens.
  closeMaster.primary.once('listening', async ({ port }) => {
    await closeMaster.primary.whenReady();
    console.log(`express on ${port}`);
    process.send?.({ type: 'ready', port }); // for a parent process, e.g. the tests
  });
}
