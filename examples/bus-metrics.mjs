// Application metrics over the bus: every worker counts its requests and reports them to the
// primary, which keeps the cluster-wide totals; any worker can ask the primary for them.
//
//   npm run build && node examples/bus-metrics.mjs      (PORT 3000, WORKERS 4)
//   curl http://127.0.0.1:3000/hello                    (counted by the worker that serves it)
//   curl http://127.0.0.1:3000/stats                    ({"total":1,"bySlot":{"2":1}})
//
// In TypeScript the schema types every call:
//   interface MetricsBus {
//     primary: {
//       messages: { 'metrics:report': { requests: number } };
//       requests: { 'metrics:totals': { request: Record<string, never>; response: { total: number; bySlot: Record<number, number> } } };
//     };
//   }
//   const bus = workerBus<MetricsBus>();   /   const bus = primary.bus<MetricsBus>();
import cluster from 'node:cluster';
import http from 'node:http';
import { attachWorker, workerBus } from '../dist/index.js';
import { startBusPrimary } from './lib/bus-primary.mjs';

const REPORT_EVERY_MS = Number(process.env.REPORT_EVERY_MS ?? 1000);

if (cluster.isPrimary) {
  const bySlot = {};
  await startBusPrimary((bus) => {
    // `from` says which worker (and slot) sent the report.
    bus.on('metrics:report', ({ requests }, from) => {
      if (from.kind === 'worker') bySlot[from.slot] = (bySlot[from.slot] ?? 0) + requests;
    });
    bus.handle('metrics:totals', () => ({ total: Object.values(bySlot).reduce((a, b) => a + b, 0), bySlot }));
  });
} else {
  const bus = workerBus();
  let unreported = 0;
  // Report in batches rather than per request: one bus message per interval at most.
  setInterval(() => {
    if (unreported === 0) return;
    void bus.send('metrics:report', { requests: unreported });
    unreported = 0;
  }, REPORT_EVERY_MS).unref();
  const server = http.createServer(async (req, res) => {
    if (req.url === '/stats') {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(await bus.request('metrics:totals', {})));
      return;
    }
    unreported++;
    res.end(`hello from worker ${cluster.worker.id}\n`);
  });
  attachWorker(server);
}
