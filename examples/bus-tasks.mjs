// Task hand-out over the bus: the primary holds a queue of jobs; each worker asks for the next one,
// reports its progress while it works, and hands in the result. The primary prints the progress and,
// once every job is done, the results.
//
//   npm run build && node examples/bus-tasks.mjs        (TASKS 8, WORKERS 4)
//
// The job: count the primes below a limit, in four steps so that there is progress to report.
import cluster from 'node:cluster';
import http from 'node:http';
import { attachWorker, workerBus } from '../dist/index.js';
import { startBusPrimary } from './lib/bus-primary.mjs';

const STEPS = 4;

if (cluster.isPrimary) {
  const count = Number(process.env.TASKS ?? 8);
  const queue = Array.from({ length: count }, (_, id) => ({ id, limit: 20_000 + id * 5_000 }));
  const results = new Map();
  const progress = new Map();
  let primary;
  function finish() {
    const done = [...results].sort(([a], [b]) => a - b).map(([id, result]) => ({ id, ...result, progress: progress.get(id) }));
    for (const task of done) console.log(`task ${task.id}: ${task.primes} primes (slot ${task.slot})`);
    process.send?.({ type: 'tasksDone', tasks: done });
    if (process.send === undefined) void primary.close();
  }

  await startBusPrimary((bus, started) => {
    primary = started;
    // Requests: the response is what the responder returns.
    bus.handle('task:next', () => queue.shift() ?? null);
    bus.handle('task:done', ({ id, primes }, from) => {
      results.set(id, { primes, slot: from.slot });
      if (results.size === count) finish();
      return { ok: true };
    });
    // Messages: fire and forget.
    bus.on('task:progress', ({ id, percent }, from) => {
      progress.set(id, [...(progress.get(id) ?? []), percent]);
      console.log(`task ${id}: ${percent}% (worker ${from.workerId})`);
    });
  }, { waitForWorkers: false });
} else {
  const bus = workerBus();
  const isPrime = (n) => {
    for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
    return n >= 2;
  };
  async function work() {
    for (let task = await bus.request('task:next', {}); task !== null; task = await bus.request('task:next', {})) {
      let primes = 0;
      for (let step = 1; step <= STEPS; step++) {
        const from = Math.floor(((step - 1) * task.limit) / STEPS);
        const to = Math.floor((step * task.limit) / STEPS);
        for (let n = from; n < to; n++) if (isPrime(n)) primes++;
        void bus.send('task:progress', { id: task.id, percent: (step * 100) / STEPS });
        // Let the event loop breathe between steps (and the server serve).
        await new Promise((resolve) => setImmediate(resolve));
      }
      await bus.request('task:done', { id: task.id, primes });
    }
  }
  attachWorker(http.createServer((req, res) => res.end('busy with tasks\n')));
  void work();
}
