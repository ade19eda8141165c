// The application bus benchmark's target: a sticky-runtime primary (IP mode, primary hop unless
// BENCH_BUS_STEERING says otherwise) with BENCH_WORKERS
// workers that answer every request with "ok", driven by bench/ipc-bus.mjs over IPC. The channel's
// serialization is BENCH_SERIALIZATION (json | advanced).
//
// Commands to the primary (each answered with { type: 'result', id, ... }):
//   { cmd: 'throughput', dir: 'w2p' | 'p2w', via: 'raw' | 'bus', n, bytes }
//       n one-way messages of a `bytes`-long string between the primary and worker 0, sent as fast
//       as the sender can: raw process.send / worker.send in a loop, or the bus's send / sendTo.
//       Answer: { ms } from the start command until the receiver counted all n.
//   { cmd: 'rtt', via, n, concurrency, bytes }
//       worker 0 asks the primary n requests, `concurrency` at a time: raw (an id in a process.send
//       message, answered with worker.send) or bus.request. Answer: { ms, p50, p99 } (µs per request).
//   { cmd: 'flood', via: 'off' | 'raw' | 'bus', rate, bytes }
//       every worker sends `rate` messages/s to the primary and the primary `rate` messages/s to every
//       worker, paced every 5 ms, until the next flood command. Answer: { delivered } since the last one.
// Readiness: { type: 'ready', port } once every worker is ready. Stops on SIGTERM and on disconnect.
import cluster from 'node:cluster';
import http from 'node:http';
import { distUrl } from '../lib/dist-snapshot.mjs';

const { attachWorker, createPrimary, workerBus } = await import(distUrl('index.js'));

const TICK_MS = 5;
const RAW = 'bench:raw';

if (cluster.isPrimary) {
  cluster.setupPrimary({ serialization: process.env.BENCH_SERIALIZATION ?? 'json' });
  // The primary hop by default: with kernel steering no connection crosses the channel the bus uses.
  const steering = process.env.BENCH_BUS_STEERING ?? 'primary';
  const primary = createPrimary({ workers: Number(process.env.BENCH_WORKERS ?? 2), logger: false, handleSignals: true, steering });
  const bus = primary.bus();
  const worker0 = () => primary.stats().slots[0];
  const workerOf = (slot) => Object.values(cluster.workers).find((w) => w.id === primary.stats().slots[slot].workerId);

  let received = 0;
  let target = Infinity;
  let onAll;
  const count = () => {
    if (++received === target) onAll?.();
  };
  bus.on('m', count);
  let delivered = 0;
  bus.on('flood', () => { delivered++; });
  bus.handle('q', () => 'a');
  cluster.on('message', (worker, message) => {
    if (message?.[RAW] === 'm') count();
    else if (message?.[RAW] === 'flood') delivered++;
    else if (message?.[RAW] === 'q') worker.send({ [RAW]: 'r', id: message.id, d: 'a' });
  });

  const askWorker = (command) => new Promise((resolve) => {
    const worker = workerOf(0);
    const onReply = (message) => {
      if (message?.[RAW] !== 'reply') return;
      worker.off('message', onReply);
      resolve(message);
    };
    worker.on('message', onReply);
    worker.send({ [RAW]: 'cmd', ...command });
  });
  const broadcastRaw = (command) => {
    for (const worker of Object.values(cluster.workers)) worker.send({ [RAW]: 'cmd', ...command });
  };

  let floodTimer;
  function flood(via, rate, bytes) {
    clearInterval(floodTimer);
    broadcastRaw({ cmd: 'flood', via, rate, bytes });
    if (via === 'off') return;
    const perTick = Math.max(1, Math.round((rate * TICK_MS) / 1000));
    const payload = 'x'.repeat(bytes);
    floodTimer = setInterval(() => {
      for (let i = 0; i < perTick; i++) {
        if (via === 'bus') void bus.broadcast('flood', payload);
        else for (const worker of Object.values(cluster.workers)) worker.send({ [RAW]: 'flood', d: payload });
      }
    }, TICK_MS);
  }

  async function run(command) {
    if (command.cmd === 'throughput') {
      const { dir, via, n, bytes } = command;
      const started = performance.now();
      if (dir === 'w2p') {
        received = 0;
        target = n;
        const all = new Promise((resolve) => { onAll = resolve; });
        askWorker({ cmd: 'send', via, n, bytes });
        await all;
      } else {
        const done = askWorker({ cmd: 'expect', n });
        const payload = 'x'.repeat(bytes);
        const worker = workerOf(0);
        for (let i = 0; i < n; i++) {
          if (via === 'bus') void bus.sendTo({ slot: 0 }, 'm', payload);
          else worker.send({ [RAW]: 'm', d: payload });
        }
        await done;
      }
      return { ms: performance.now() - started };
    }
    if (command.cmd === 'rtt') return askWorker(command);
    if (command.cmd === 'flood') {
      const result = { delivered };
      delivered = 0;
      flood(command.via, command.rate, command.bytes);
      return result;
    }
    throw new Error(`unknown command ${command.cmd}`);
  }

  process.on('message', async (message) => {
    if (message?.cmd === undefined) return;
    const result = await run(message);
    process.send?.({ type: 'result', id: message.id, ...result });
  });
  const { port } = await primary.listen(0, '127.0.0.1');
  await primary.whenReady();
  process.send?.({ type: 'ready', port, pid: worker0().pid });
  process.on('disconnect', () => void primary.close({ waitForConnections: false }));
} else {
  const bus = workerBus();
  const body = Buffer.from('ok');
  const headers = { 'content-type': 'text/plain', 'content-length': body.length, 'x-worker': process.env.STICKY_RUNTIME_SLOT };
  let expected = Infinity;
  let got = 0;
  let onAll;
  const count = () => {
    if (++got === expected) onAll?.();
  };
  bus.on('m', count);
  bus.on('flood', () => {});
  const pendingRaw = new Map();
  let floodTimer;

  async function rtt({ via, n, concurrency, bytes }) {
    const payload = 'x'.repeat(bytes);
    const latencies = new Float64Array(n);
    let next = 0;
    let rawId = 0;
    const one = () => {
      const started = performance.now();
      const done = via === 'bus' ? bus.request('q', payload) : new Promise((resolve) => {
        const id = ++rawId;
        pendingRaw.set(id, resolve);
        process.send({ [RAW]: 'q', id, d: payload });
      });
      return done.then(() => performance.now() - started);
    };
    const lane = async () => {
      while (next < n) {
        const index = next++;
        latencies[index] = await one();
      }
    };
    const started = performance.now();
    await Promise.all(Array.from({ length: concurrency }, lane));
    const ms = performance.now() - started;
    latencies.sort();
    return { ms, p50: latencies[Math.floor(n * 0.5)] * 1000, p99: latencies[Math.floor(n * 0.99)] * 1000 };
  }

  process.on('message', async (message) => {
    const kind = message?.[RAW];
    if (kind === 'm') count();
    else if (kind === 'r') {
      pendingRaw.get(message.id)?.();
      pendingRaw.delete(message.id);
    } else if (kind === 'cmd') {
      const reply = (result) => process.send({ [RAW]: 'reply', ...result });
      if (message.cmd === 'send') {
        const payload = 'x'.repeat(message.bytes);
        for (let i = 0; i < message.n; i++) {
          if (message.via === 'bus') void bus.send('m', payload);
          else process.send({ [RAW]: 'm', d: payload });
        }
        reply({});
      } else if (message.cmd === 'expect') {
        got = 0;
        expected = message.n;
        await new Promise((resolve) => { onAll = resolve; });
        reply({});
      } else if (message.cmd === 'rtt') {
        reply(await rtt(message));
      } else if (message.cmd === 'flood') {
        clearInterval(floodTimer);
        if (message.via === 'off') return;
        const perTick = Math.max(1, Math.round((message.rate * TICK_MS) / 1000));
        const payload = 'x'.repeat(message.bytes);
        floodTimer = setInterval(() => {
          for (let i = 0; i < perTick; i++) {
            if (message.via === 'bus') void bus.send('flood', payload);
            else process.send({ [RAW]: 'flood', d: payload });
          }
        }, TICK_MS);
      }
    }
  });
  attachWorker(http.createServer((request, response) => {
    response.writeHead(200, headers);
    response.end(body);
  }));
}
