// The application bus against raw process.send, in the same run, on the same processes:
//   - messages/s one way (worker → primary, primary → worker), small (64 B) and large (64 KiB) payloads;
//   - request/response latency p50/p99 (one at a time, and 32 in flight);
//   - new connections/s through the primary (each one a socket handoff on the channel the bus uses)
//     with no bus traffic, with heavy bus traffic, and with the same traffic as raw process.send.
// Each figure runs for both channel serializations (json, advanced): that is how the default was chosen.
// Rounds alternate raw and bus (and the three traffic cases) so that load from other processes falls
// on all alike; medians over rounds. Writes the "bus" section of RESULTS.md (`--quick`: bench/tmp/).
//
//   npm run build && node bench/ipc-bus.mjs [--quick]
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { startLoadgen, loopbackAddresses, stopChild } from './lib/processes.mjs';
import { useDistSnapshot } from './lib/dist-snapshot.mjs';
import { readBusy, foreignCores } from './lib/machine-load.mjs';
import { commandLine, describeMachine, formatNumber, formatRatio, median, resultsPath, sourceRevision, table, today, writeSection } from './lib/report.mjs';

const isQuick = process.argv.includes('--quick');
const rounds = Number(process.env.BENCH_BUS_ROUNDS ?? (isQuick ? 1 : 3));
const smallN = Number(process.env.BENCH_BUS_SMALL_N ?? (isQuick ? 20_000 : 100_000));
const largeN = Number(process.env.BENCH_BUS_LARGE_N ?? (isQuick ? 300 : 1_500));
const rttN = Number(process.env.BENCH_BUS_RTT_N ?? (isQuick ? 2_000 : 10_000));
const floodRate = Number(process.env.BENCH_BUS_FLOOD_RATE ?? 10_000);
const floodBytes = Number(process.env.BENCH_BUS_FLOOD_BYTES ?? 100);
const windowSeconds = Number(process.env.BENCH_SECONDS ?? (isQuick ? 1 : 2));
const serializations = (process.env.BENCH_BUS_SERIALIZATIONS ?? 'json,advanced').split(',');
const sources = loopbackAddresses(2, Number(process.env.BENCH_SOURCES ?? 200));
const log = (...parts) => console.error(`[bus ${new Date().toISOString().slice(11, 19)}]`, ...parts);

setTimeout(() => {
  console.error('ipc-bus: time limit reached');
  process.exit(3);
}, Number(process.env.BENCH_MAX_LIFETIME_MS ?? 15 * 60_000)).unref();

async function startBusTarget(serialization) {
  const child = fork(new URL('./targets/bus-target.mjs', import.meta.url), [], {
    env: { ...process.env, BENCH_SERIALIZATION: serialization }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const [ready] = await Promise.race([once(child, 'message'), sleep(30_000).then(() => { throw new Error('target not ready'); })]);
  let nextId = 0;
  const call = (command, ms = 120_000) => new Promise((resolve, reject) => {
    const id = ++nextId;
    const timer = setTimeout(() => reject(new Error(`${command.cmd}: no answer within ${ms} ms`)), ms);
    const onMessage = (message) => {
      if (message?.type !== 'result' || message.id !== id) return;
      clearTimeout(timer);
      child.off('message', onMessage);
      resolve(message);
    };
    child.on('message', onMessage);
    child.send({ ...command, id });
  });
  return { port: ready.port, call, stop: () => stopChild(child) };
}

/** Runs `measure(variant)` for every variant, `rounds` times in rotated order; medians per variant and key. */
async function interleaved(variants, measure) {
  const samples = new Map(variants.map((v) => [v, []]));
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < variants.length; i++) {
      const variant = variants[(i + round) % variants.length];
      samples.get(variant).push(await measure(variant));
    }
  }
  const result = new Map();
  for (const [variant, list] of samples) {
    result.set(variant, Object.fromEntries(Object.keys(list[0]).map((key) => [key, median(list.map((s) => s[key]))])));
  }
  return result;
}

async function throughput(target) {
  const rows = [];
  for (const [size, bytes, n] of [['64 B', 64, smallN], ['64 KiB', 65_536, largeN]]) {
    for (const dir of ['w2p', 'p2w']) {
      const result = await interleaved(['raw', 'bus'], async (via) => {
        const { ms } = await target.call({ cmd: 'throughput', dir, via, n, bytes });
        return { perSecond: (n * 1000) / ms };
      });
      const raw = result.get('raw').perSecond;
      const bus = result.get('bus').perSecond;
      log(`throughput ${dir} ${size}: raw ${Math.round(raw)}/s, bus ${Math.round(bus)}/s`);
      rows.push([dir === 'w2p' ? 'worker → primary' : 'primary → worker', size, formatNumber(raw), formatNumber(bus), formatRatio(bus / raw)]);
    }
  }
  return rows;
}

async function latency(target) {
  const rows = [];
  for (const concurrency of [1, 32]) {
    const result = await interleaved(['raw', 'bus'], async (via) => {
      const { ms, p50, p99 } = await target.call({ cmd: 'rtt', via, n: rttN, concurrency, bytes: 64 });
      return { p50, p99, perSecond: (rttN * 1000) / ms };
    });
    const raw = result.get('raw');
    const bus = result.get('bus');
    log(`rtt c=${concurrency}: raw p50 ${raw.p50.toFixed(0)} p99 ${raw.p99.toFixed(0)} µs, bus p50 ${bus.p50.toFixed(0)} p99 ${bus.p99.toFixed(0)} µs`);
    rows.push([String(concurrency), formatNumber(raw.p50), formatNumber(raw.p99), formatNumber(raw.perSecond), formatNumber(bus.p50), formatNumber(bus.p99), formatNumber(bus.perSecond)]);
  }
  return rows;
}

async function handoffs(target) {
  const loadgen = startLoadgen();
  try {
    await loadgen.call({ cmd: 'start', kind: 'close', host: '127.0.0.1', port: target.port, addresses: sources, concurrency: 64 });
    await sleep(1_000);
    const result = await interleaved(['off', 'bus', 'raw'], async (via) => {
      await target.call({ cmd: 'flood', via, rate: floodRate, bytes: floodBytes });
      await sleep(500);
      const busyBefore = readBusy();
      const before = await loadgen.call({ cmd: 'snapshot' });
      await target.call({ cmd: 'flood', via, rate: floodRate, bytes: floodBytes });
      await sleep(windowSeconds * 1000);
      const { delivered } = await target.call({ cmd: 'flood', via, rate: floodRate, bytes: floodBytes });
      const after = await loadgen.call({ cmd: 'snapshot' });
      const seconds = (after.at - before.at) / 1000;
      return {
        perSecond: (after.completed - before.completed) / seconds,
        errors: after.errors - before.errors,
        traffic: delivered / seconds,
        foreign: foreignCores(busyBefore, readBusy()),
      };
    });
    await target.call({ cmd: 'flood', via: 'off', rate: 0, bytes: 0 });
    await loadgen.call({ cmd: 'stop', drainMs: 10_000 });
    const off = result.get('off').perSecond;
    return ['off', 'bus', 'raw'].map((via) => {
      const r = result.get(via);
      log(`handoffs with ${via} traffic: ${Math.round(r.perSecond)} conn/s (${Math.round(r.traffic)} msgs/s into the primary)`);
      return [via === 'off' ? 'none' : via === 'bus' ? 'bus (send / broadcast)' : 'raw process.send', formatNumber(r.traffic), formatNumber(r.perSecond), formatRatio(r.perSecond / off), String(r.errors), r.foreign.toFixed(2)];
    });
  } finally {
    await loadgen.stop();
  }
}

const removeSnapshot = useDistSnapshot();
const startedAt = new Date().toISOString();
const sections = [];
try {
  for (const serialization of serializations) {
    log(`serialization ${serialization}`);
    const target = await startBusTarget(serialization);
    try {
      const tput = await throughput(target);
      const rtt = await latency(target);
      const handoff = await handoffs(target);
      sections.push({ serialization, tput, rtt, handoff });
    } finally {
      await target.stop();
    }
  }
} finally {
  removeSnapshot();
}

const body = [
  `## Application bus (${today()})`,
  '',
  `- Command: \`${commandLine('bench/ipc-bus.mjs')}\` (after \`npm run build\`)`,
  `- Date: ${startedAt}; commit ${sourceRevision()}; machine: ${describeMachine()}`,
  `- ${rounds} round(s) per figure, medians; raw and bus alternate within each round. Two workers; one-way counts are n = ${smallN} (64 B) and ${largeN} (64 KiB) messages between the primary and worker 0; requests n = ${rttN}.`,
  `- Heavy traffic: every worker sends ${floodRate} messages/s of ${floodBytes} B to the primary and the primary ${floodRate}/s to every worker (paced every 5 ms), while a load generator opens new connections (64 in flight, ${sources.length} source addresses). IP mode over the primary hop (\`steering: '${process.env.BENCH_BUS_STEERING ?? 'primary'}'\`), so each connection is one socket handoff on the channel the bus uses; over the kernel plane no connection crosses it.`,
  '- "machine busy" is every process\'s CPU on the machine during the window (/proc/stat), this benchmark\'s own included: about 2 cores means the load filled the machine.',
  ...sections.flatMap(({ serialization, tput, rtt, handoff }) => [
    '',
    `### Channel serialization: ${serialization}`,
    '',
    table(['direction', 'payload', 'raw process.send, msgs/s', 'bus, msgs/s', 'bus / raw'], tput),
    '',
    table(['in flight', 'raw p50, µs', 'raw p99, µs', 'raw req/s', 'bus p50, µs', 'bus p99, µs', 'bus req/s'], rtt),
    '',
    table(['bus traffic during the window', 'messages/s into the primary', 'new connections/s', 'vs none', 'failed', 'machine busy, cores'], handoff),
  ]),
];
const out = resultsPath(isQuick);
writeSection(out, 'bus', body.join('\n'));
log(`written to ${out}`);
