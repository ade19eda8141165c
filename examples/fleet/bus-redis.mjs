// A fleet-wide cache purge: the app bus reaches the workers of one host, Redis pub/sub carries the
// purge between hosts. Each host's primary subscribes once and re-broadcasts what arrives on its bus;
// a worker publishes. Run one per host:
//
//   REDIS_URL=redis://10.0.0.5:6379 node examples/fleet/bus-redis.mjs     (PORT 3000, HOST 0.0.0.0, WORKERS 4)
//   curl http://host-a:3000/item/a                     ({"key":"a","cached":false,...}, then cached: true)
//   curl -X POST http://host-a:3000/purge/a            ({"purged":"a","hosts":2}: the subscribed hosts)
import cluster from 'node:cluster';
import http from 'node:http';
import { createClient } from 'redis';
import { attachWorker, createPrimary, workerBus } from '../../dist/index.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const CHANNEL = 'cache:purge';

if (cluster.isPrimary) {
  const primary = createPrimary({ workers: Number(process.env.WORKERS ?? 4) });
  // One subscriber per host: a purge published anywhere in the fleet goes to every worker here.
  const subscriber = createClient({ url: REDIS_URL });
  await subscriber.connect();
  await subscriber.subscribe(CHANNEL, (message) => void primary.bus().broadcast(CHANNEL, JSON.parse(message)));
  primary.on('shutdownEnd', () => void subscriber.quit().catch(() => {}));
  const { port } = await primary.listen(Number(process.env.PORT ?? 3000), process.env.HOST ?? '0.0.0.0');
  await primary.whenReady();
  console.log(`listening on port ${port}`);
  // A parent process that forked the example (the tests do) learns the port, and the example goes when it goes.
  process.send?.({ type: 'ready', port });
  process.on('disconnect', () => void primary.close({ waitForConnections: false }));
} else {
  const publisher = createClient({ url: REDIS_URL });
  await publisher.connect();
  const cache = new Map();
  workerBus().on(CHANNEL, ({ key }) => cache.delete(key));
  const server = http.createServer(async (req, res) => {
    const [, action, key] = req.url.split('/');
    res.setHeader('content-type', 'application/json');
    if (req.method === 'POST' && action === 'purge') {
      // Resolves with the number of subscribers (hosts) that received it, this one included.
      const hosts = await publisher.publish(CHANNEL, JSON.stringify({ key }));
      res.end(JSON.stringify({ purged: key, hosts }));
      return;
    }
    const cached = cache.has(key);
    if (!cached) cache.set(key, { computedAt: Date.now(), by: cluster.worker.id });
    res.end(JSON.stringify({ key, cached, workerId: cluster.worker.id }));
  });
  attachWorker(server);
}
