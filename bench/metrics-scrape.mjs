// What a /metrics scrape costs with every worker visible, and whether the hand-written exposition
// (src/ops/prometheus.ts, src/ops/exposition.ts) should give way to prom-client's.
//
// 1. In process: the same scrape of SLOTS slots rendered both ways, N times each, alternating:
//    - hand-written: `renderMetrics` of dist/ with the runtime's families and each slot's prom-client
//      default metrics (the JSON one worker's registry gives, once per slot);
//    - prom-client: a Registry whose Gauges/Counters (labelled by slot) are set at each scrape, merged
//      with `AggregatorRegistry.aggregate` of the slots' JSON (each sample labelled by its slot first, so
//      nothing is summed), then `registry.metrics()`.
//    ms per scrape (median of rounds) and bytes.
// 2. End to end: a real cluster of SLOTS workers (test/fixtures/figures-app.mjs, prom-client installed),
//    scraped SCRAPES times over HTTP: ms per scrape (median, p90) and bytes.
// Usage: npm run build && node bench/metrics-scrape.mjs   (SLOTS=8 ROUNDS=15 N=200 SCRAPES=50)
import { fork } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import client from 'prom-client';
import { renderMetrics } from '../dist/ops/index.js';
import { familiesOf } from '../dist/internal/metric-families.js';

const SLOTS = Number(process.env.SLOTS ?? 8);
const ROUNDS = Number(process.env.ROUNDS ?? 15);
const N = Number(process.env.N ?? 200);
const SCRAPES = Number(process.env.SCRAPES ?? 50);
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const percentile = (values, p) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * p))];

// One worker's default metrics, as its registry gives them (after some GC and loop samples).
const defaults = new client.Registry();
client.collectDefaultMetrics({ register: defaults });
global.gc?.();
await new Promise((resolve) => setTimeout(resolve, 300));
const workerJson = await defaults.getMetricsAsJSON();
const workerFamilies = familiesOf(workerJson);

const figures = (slot) => ({ requests: 1000 + slot, accepted: 900 + slot, connections: 3, lag: 0.4, lagMax: 12, cpu: 4.5, rss: 80e6 });
const runtime = () => ({
  slots: Array.from({ length: SLOTS }, (_, slot) => ({
    slot, state: 'ready', restarts: 1, handoffs: 900 + slot, queued: 0, lastReloadMs: 1500, figures: figures(slot), scrapesMissed: 0,
  })),
  workers: SLOTS, readyWorkers: SLOTS, restarts: 0,
  connections: { accepted: 9000, acceptErrors: 0, acceptPauses: 0, acceptPaused: 0, routed: 9000, queued: 0, failedOver: 0, rejected: 0 },
  kernel: { foreignListeners: 0, intrusions: 0, groupChecks: 100, programRestores: 100, refusedScales: 0 },
  openFds: 40, eventLoopDelay: { mean: 1, p99: 3, max: 5 }, startTimeSeconds: 1_700_000_000,
});

const handWritten = () => renderMetrics({ ...runtime(), workerFamilies: Array.from({ length: SLOTS }, (_, slot) => ({ slot, families: workerFamilies })) });

// The same families through prom-client.
const promRegistry = new client.Registry();
const gauge = (name, help, labelNames = ['slot']) => new client.Gauge({ name, help, labelNames, registers: [promRegistry] });
const counter = (name, help, labelNames = ['slot']) => new client.Counter({ name, help, labelNames, registers: [promRegistry] });
const metricsOf = {
  state: gauge('sticky_runtime_slot_state', 'State.', ['slot', 'state']),
  restarts: counter('sticky_runtime_slot_restarts_total', 'Restarts.'),
  handoffs: counter('sticky_runtime_slot_handoffs_total', 'Handoffs.'),
  queued: gauge('sticky_runtime_slot_queued_connections', 'Queued.'),
  reload: gauge('sticky_runtime_slot_last_reload_duration_seconds', 'Reload.'),
  requests: counter('sticky_runtime_slot_requests_total', 'Requests.'),
  accepted: counter('sticky_runtime_slot_accepted_connections_total', 'Accepted.'),
  open: gauge('sticky_runtime_slot_open_connections', 'Open.'),
  lag: gauge('sticky_runtime_slot_event_loop_lag_seconds', 'Lag.'),
  lagMax: gauge('sticky_runtime_slot_event_loop_lag_max_seconds', 'Lag max.'),
  cpu: gauge('sticky_runtime_slot_cpu_usage_ratio', 'CPU.'),
  rss: gauge('sticky_runtime_slot_resident_memory_bytes', 'RSS.'),
  connections: gauge('sticky_runtime_connections', 'Connections.', ['counter']),
  kernel: gauge('sticky_runtime_kernel', 'Kernel.', ['counter']),
};
async function promClientWay() {
  const metrics = runtime();
  promRegistry.resetMetrics();
  for (const slot of metrics.slots) {
    for (const state of ['ready', 'starting', 'respawning', 'failed']) metricsOf.state.set({ slot: slot.slot, state }, slot.state === state ? 1 : 0);
    metricsOf.restarts.inc({ slot: slot.slot }, slot.restarts);
    metricsOf.handoffs.inc({ slot: slot.slot }, slot.handoffs);
    metricsOf.queued.set({ slot: slot.slot }, slot.queued);
    metricsOf.reload.set({ slot: slot.slot }, slot.lastReloadMs / 1000);
    metricsOf.requests.inc({ slot: slot.slot }, slot.figures.requests);
    metricsOf.accepted.inc({ slot: slot.slot }, slot.figures.accepted);
    metricsOf.open.set({ slot: slot.slot }, slot.figures.connections);
    metricsOf.lag.set({ slot: slot.slot }, slot.figures.lag / 1000);
    metricsOf.lagMax.set({ slot: slot.slot }, slot.figures.lagMax / 1000);
    metricsOf.cpu.set({ slot: slot.slot }, slot.figures.cpu / 100);
    metricsOf.rss.set({ slot: slot.slot }, slot.figures.rss);
  }
  for (const [key, value] of Object.entries(metrics.connections)) metricsOf.connections.set({ counter: key }, value);
  for (const [key, value] of Object.entries(metrics.kernel)) metricsOf.kernel.set({ counter: key }, value);
  // Each slot's JSON labelled by slot, so that aggregate() keeps the slots apart instead of summing them.
  const labelled = Array.from({ length: SLOTS }, (_, slot) => workerJson.map((family) => ({
    ...family, aggregator: 'sum', values: family.values.map((value) => ({ ...value, labels: { ...value.labels, slot } })),
  })));
  const workers = client.AggregatorRegistry.aggregate(labelled);
  return client.Registry.merge([promRegistry, workers]).metrics();
}

async function inProcess() {
  const hand = [];
  const prom = [];
  let handBytes = 0;
  let promBytes = 0;
  for (let i = 0; i < 20; i++) { handWritten(); await promClientWay(); }
  for (let round = 0; round < ROUNDS; round++) {
    let start = performance.now();
    for (let i = 0; i < N; i++) handBytes = Buffer.byteLength(handWritten());
    hand.push((performance.now() - start) / N);
    start = performance.now();
    for (let i = 0; i < N; i++) promBytes = Buffer.byteLength(await promClientWay());
    prom.push((performance.now() - start) / N);
  }
  return { hand: { ms: median(hand), bytes: handBytes }, prom: { ms: median(prom), bytes: promBytes } };
}

function get(port, path) {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let bytes = 0;
      res.on('data', (chunk) => { bytes += chunk.length; });
      res.on('end', () => resolve(bytes));
    }).on('error', reject);
  });
}

async function endToEnd() {
  const fixture = fileURLToPath(new URL('../test/fixtures/figures-app.mjs', import.meta.url));
  const child = fork(fixture, [], { env: { ...process.env, WORKERS: String(SLOTS), OPTIONS: '{"logLevel":"warn"}' }, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  try {
    const ready = await new Promise((resolve, reject) => {
      child.on('message', (message) => { if (message?.type === 'ready') resolve(message); });
      child.on('exit', (code) => reject(new Error(`fixture exited with ${code}`)));
    });
    // Each worker's first report and GC samples.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    for (let i = 0; i < 5; i++) await get(ready.metricsPort, '/metrics');
    const times = [];
    let bytes = 0;
    for (let i = 0; i < SCRAPES; i++) {
      const start = performance.now();
      bytes = await get(ready.metricsPort, '/metrics');
      times.push(performance.now() - start);
    }
    return { median: median(times), p90: percentile(times, 0.9), bytes };
  } finally {
    clearTimeout(timer);
    child.kill('SIGTERM');
  }
}

const local = await inProcess();
const remote = await endToEnd();
const row = (name, { ms, bytes }) => `| ${name} | ${ms.toFixed(3)} | ${bytes.toLocaleString('en')} |`;
console.log(`In process, ${SLOTS} slots (runtime families + each slot's prom-client default metrics), median of ${ROUNDS} rounds of ${N}:\n`);
console.log('| exposition | ms per scrape | bytes |\n| --- | --- | --- |');
console.log(row('hand-written (renderMetrics)', local.hand));
console.log(row('prom-client (Registry + AggregatorRegistry.aggregate, labelled by slot)', local.prom));
console.log(`\nEnd to end, ${SLOTS} workers, ${SCRAPES} scrapes over HTTP: median ${remote.median.toFixed(2)} ms, p90 ${remote.p90.toFixed(2)} ms, ${remote.bytes.toLocaleString('en')} bytes`);
process.exit(0);
