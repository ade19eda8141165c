// Cache purge broadcast: every worker caches what it computed in its own memory; a purge from any
// worker (or from the primary) reaches every worker, itself included.
//
//   npm run build && node examples/bus-cache-purge.mjs              (PORT 3000, WORKERS 4)
//   curl http://127.0.0.1:3000/item/a                               ({"key":"a","cached":false,...})
//   curl http://127.0.0.1:3000/item/a                               ({"key":"a","cached":true,...})
//   curl -X POST http://127.0.0.1:3000/purge/a                      ({"purged":"a","workers":4})
import cluster from 'node:cluster';
import http from 'node:http';
import { attachWorker, workerBus } from '../dist/index.js';
import { startBusPrimary } from './lib/bus-primary.mjs';

if (cluster.isPrimary) {
  // The primary can purge too: `await primary.bus().broadcast('cache:purge', { key })`.
  await startBusPrimary();
} else {
  const bus = workerBus();
  const cache = new Map();
  bus.on('cache:purge', ({ key }) => cache.delete(key));

  const server = http.createServer(async (req, res) => {
    const [, action, key] = req.url.split('/');
    res.setHeader('content-type', 'application/json');
    if (req.method === 'POST' && action === 'purge') {
      // Resolves with the number of workers the purge was handed to.
      const workers = await bus.broadcast('cache:purge', { key }, { includeSelf: true });
      res.end(JSON.stringify({ purged: key, workers }));
      return;
    }
    const cached = cache.has(key);
    if (!cached) cache.set(key, { computedAt: Date.now(), by: cluster.worker.id });
    res.end(JSON.stringify({ key, cached, workerId: cluster.worker.id, ...cache.get(key) }));
  });
  attachWorker(server);
}
