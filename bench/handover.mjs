// Deploys that keep state: what a planned replacement costs when the slot's worker hands over its
// state and its open WebSockets, against the state's size and the number of WebSockets.
//
// Usage (Linux; run `npm run build` first, this script loads dist/):
//   node bench/handover.mjs            full run, ≈ 3–5 min; writes the "handover" section of bench/RESULTS.md
//   node bench/handover.mjs --quick    fewer points, 3 reloads each; ≈ 15 s; writes bench/tmp/RESULTS.md
// Settings (environment):
//   BENCH_POINTS           the points, `slots:state:sockets[:plane]` separated by commas, e.g. `1:1MB:1000` or
//                          `1:1MB:1000:primary` (the primary hop; default: the kernel plane where it loads)
//   BENCH_RELOADS (5, quick 3)  rolling restarts per point, each awaited before the next
//   BENCH_PINGERS (4)      ws clients sending a numbered message every BENCH_PING_MS (20) ms
//   BENCH_PROBE_MS (5)     the new-connection probe opens a connection this often
//   BENCH_TARGET_OPTIONS   JSON merged over every point's options, e.g. '{"handoverTimeout":2000}'
//   BENCH_TARGET_NODE_OPTIONS  node flags of the target's processes, e.g. `--cpu-prof --cpu-prof-dir=bench/tmp/prof`
//   BENCH_BUDGET_MINUTES (12)  no new point once the run would likely exceed this
//   BENCH_OUT              results file
//
// A point: a fresh target (bench/targets/handover-target.mjs: primary + `slots` workers, IP mode) whose
// workers each build a slot state of `state` bytes (a Map of 1 KB session strings), then `sockets` ws
// WebSockets from as many source addresses (127.1.x.y), the pingers and the probe, then the reloads. For
// each reload: the primary's `handover` event per slot (`pauseMs`: how long the slot's new clients waited;
// `isAdopted`, `bytes`, `sockets`), the slot step (`stats().slots[i].lastReloadDuration`), the longest wait
// for an echo of a pinger and for the answer of a new connection opened during the reload; afterwards
// every held socket must answer from its slot's new worker, every slot's state must be there (entries,
// generation), and no client may have seen a close. Figures are medians (and maxima) over the reloads.
// The load average (`/proc/loadavg`) is printed beside each point: the machine may be shared.
//
// One file past 250 lines: the run, the checks per reload and the report read together (the clients are in
// lib/handover-clients.mjs). Every process stops by itself: the target on IPC disconnect and after its own
// time limit, this script after BENCH_MAX_LIFETIME_MS (20 min). All traffic stays on 127.0.0.0/8.
import http from 'node:http';
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { serialize, deserialize } from 'node:v8';
import { stopChild } from './lib/processes.mjs';
import { ConnectProbe, Pingers, checkHeld, closeHeld, openHeld } from './lib/handover-clients.mjs';
import { buildSessions } from './lib/handover-state.mjs';
import {
  commandLine, describeMachine, formatNumber, median, resultsPath, sourceRevision, table, today, writeSection,
} from './lib/report.mjs';

const { useDistSnapshot } = await import('./lib/dist-snapshot.mjs');

const SECTION = 'handover';
const TARGET_SCRIPT = new URL('./targets/handover-target.mjs', import.meta.url);
const isQuick = process.argv.includes('--quick');
const env = process.env;
const FULL_POINTS = '1:1KB:100,1:100KB:100,1:1MB:0,1:1MB:100,1:10MB:100,1:100MB:100,' +
  '1:1MB:1000,1:1MB:3000,1:1MB:10000,2:1MB:1000,1:1MB:1000:primary';
const QUICK_POINTS = '1:1KB:100,1:1MB:100,1:10MB:100,1:1MB:1000';
const reloads = Number(env.BENCH_RELOADS ?? (isQuick ? 3 : 5));
const pingerCount = Number(env.BENCH_PINGERS ?? 4);
const pingMs = Number(env.BENCH_PING_MS ?? 20);
const probeMs = Number(env.BENCH_PROBE_MS ?? 5);
const budgetMs = Number(env.BENCH_BUDGET_MINUTES ?? 12) * 60_000;
const UNITS = { KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 };
const TARGET = { stateBytes: UNITS.MB, sockets: 1000, pauseMs: 250 };

const log = (...parts) => console.error(`[handover ${new Date().toISOString().slice(11, 19)}]`, ...parts);
setTimeout(() => {
  console.error('handover: time limit reached');
  process.exit(3);
}, Number(env.BENCH_MAX_LIFETIME_MS ?? 20 * 60_000)).unref();

function parsePoint(text) {
  const [slots, state, sockets, plane = 'auto'] = text.trim().split(':');
  const match = /^(\d+(?:\.\d+)?)(KB|MB|GB)?$/i.exec(state ?? '');
  const isPlane = ['auto', 'kernel', 'primary'].includes(plane);
  if (match === null || !(Number(slots) >= 1) || !(Number(sockets) >= 0) || !isPlane) {
    throw new Error(`BENCH_POINTS: cannot read ${text} (slots:state:sockets[:plane], e.g. 1:1MB:1000)`);
  }
  const stateBytes = Math.round(Number(match[1]) * (UNITS[match[2]?.toUpperCase()] ?? 1));
  return { label: text.trim(), slots: Number(slots), state, stateBytes, sockets: Number(sockets), plane };
}

const points = (env.BENCH_POINTS ?? (isQuick ? QUICK_POINTS : FULL_POINTS)).split(',').filter(Boolean).map(parsePoint);

/** The soft and hard limits of open files of this process (the target's processes inherit them). */
function fileLimits() {
  try {
    const line = readFileSync('/proc/self/limits', 'latin1').split('\n').find((l) => l.startsWith('Max open files'));
    const [soft, hard] = line.trim().split(/\s+/).slice(3, 5).map(Number);
    return { soft, hard };
  } catch {
    return { soft: Number.NaN, hard: Number.NaN };
  }
}

/** Options per point: the defaults where they suffice, more time and bytes for the big points. */
function targetOptions(point) {
  // Past handoverTimeout the successor starts empty and the WebSockets still on their way close: on a busy
  // 2-core machine 2 s (the default) moves about 2,000 of them.
  const isBig = point.stateBytes >= 10 * UNITS.MB || point.sockets >= 2000;
  const handoverTimeout = isBig ? 60_000 : 2_000;
  return {
    ...(isBig ? { handoverTimeout, slotWaitTimeout: handoverTimeout + 5_000 } : {}),
    ...(point.stateBytes > 48 * UNITS.MB ? { handoverMaxBytes: 4 * point.stateBytes } : {}),
    ...(point.plane === 'auto' ? {} : { steering: point.plane }),
    ...JSON.parse(env.BENCH_TARGET_OPTIONS ?? '{}'),
  };
}

async function startTarget(point) {
  const options = targetOptions(point);
  const child = fork(TARGET_SCRIPT, [], {
    execArgv: (env.BENCH_TARGET_NODE_OPTIONS ?? '').split(' ').filter(Boolean),
    env: {
      ...env, BENCH_WORKERS: String(point.slots), BENCH_STATE_BYTES: String(point.stateBytes),
      BENCH_TARGET_OPTIONS: JSON.stringify(options),
    },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const handovers = [];
  const waiting = new Map();
  let nextId = 0;
  const ready = new Promise((resolve, reject) => {
    child.on('message', (message) => {
      if (message?.type === 'ready') resolve(message);
      else if (message?.type === 'handover') handovers.push(message);
      else if (waiting.has(message?.id)) {
        waiting.get(message.id)(message);
        waiting.delete(message.id);
      }
    });
    child.once('exit', (code, signal) => {
      reject(new Error(`target exited (${code ?? signal})`));
      for (const resolveCall of waiting.values()) resolveCall({ ok: false, message: 'the target exited' });
    });
  });
  const timeout = (ms, what) => new Promise((_, reject) => {
    setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms).unref();
  });
  try {
    const { port, steering } = await Promise.race([ready, timeout(60_000, 'target start')]);
    return {
      port, steering, options, handovers,
      call(cmd, ms) {
        const id = ++nextId;
        const answer = new Promise((resolve) => waiting.set(id, resolve));
        child.send({ cmd, id });
        return Promise.race([answer, timeout(ms, `target '${cmd}'`)]);
      },
      stop: () => stopChild(child, 15_000),
    };
  } catch (error) {
    await stopChild(child, 5_000);
    throw error;
  }
}

function getState(port, localAddress) {
  return new Promise((resolve) => {
    const request = { host: '127.0.0.1', port, path: '/state', localAddress, agent: false, timeout: 10_000 };
    const req = http.get(request, (res) => {
      let body = '';
      res.on('data', (chunk) => { body += chunk; });
      res.on('end', () => resolve(JSON.parse(body)));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
  });
}

/**
 * Every slot's state as its current worker reports it, asked from addresses 127.4.0.x until each slot
 * answered with `entries` at least `minEntries` (the first workers build theirs after starting), within `ms`.
 */
async function slotStates(port, slots, minEntries, ms = 120_000) {
  const deadline = performance.now() + ms;
  const seen = new Map();
  for (let i = 0; performance.now() < deadline; i++) {
    const state = await getState(port, `127.4.0.${(i % 250) + 2}`);
    if (state !== undefined && state.entries >= minEntries) seen.set(state.slot, state);
    if (seen.size === slots) return seen;
    // Every slot seen with fewer entries: its first worker is still building (at most a second or so).
    if (i % 250 === 249) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return seen;
}

/** v8.serialize / deserialize of the same state in this process: ms (median of 3), bytes. */
function serializationCost(bytes) {
  const state = { sessions: buildSessions(bytes), generation: 0 };
  const runs = [];
  let size = 0;
  for (let i = 0; i < 3; i++) {
    const a = performance.now();
    const payload = serialize(state);
    const b = performance.now();
    deserialize(payload);
    runs.push({ serialize: b - a, deserialize: performance.now() - b });
    size = payload.length;
  }
  return {
    bytes: size, entries: state.sessions.size,
    serializeMs: median(runs.map((r) => r.serialize)), deserializeMs: median(runs.map((r) => r.deserialize)),
  };
}

async function runPoint(point) {
  const cost = serializationCost(point.stateBytes);
  const loadBefore = loadavg()[0];
  const target = await startTarget(point);
  const pingers = new Pingers();
  const probe = new ConnectProbe();
  let held;
  try {
    const initial = await slotStates(target.port, point.slots, cost.entries);
    if (initial.size !== point.slots) throw new Error('the slots did not build their state in time');
    held = await openHeld(target.port, point.sockets);
    await pingers.start(target.port, pingerCount, pingMs);
    probe.start(target.port, probeMs);
    const rounds = [];
    for (let r = 0; r < reloads; r++) {
      const load = loadavg()[0];
      const firstEvent = target.handovers.length;
      pingers.begin();
      probe.begin();
      const reply = await target.call('reload', 10 * 60_000);
      const [gapMs, probed] = await Promise.all([pingers.end(), probe.end()]);
      const events = target.handovers.slice(firstEvent);
      const states = await slotStates(target.port, point.slots, cost.entries, 30_000);
      const pids = new Set(reply.slots.map((slot) => String(slot.pid)));
      const check = await checkHeld(held, 60_000);
      const strayPids = [...check.pids.keys()].filter((pid) => !pids.has(pid));
      const round = {
        ok: reply.ok, reloadMs: reply.ms, load,
        pauseMs: events.map((e) => e.pauseMs),
        stepMs: reply.slots.map((slot) => slot.lastReloadDuration),
        adopted: events.filter((e) => e.isAdopted).length, events: events.length,
        reasons: events.filter((e) => !e.isAdopted).map((e) => e.reason),
        bytes: events.map((e) => e.bytes),
        moved: events.reduce((sum, e) => sum + e.sockets, 0),
        statesOk: [...states.values()]
          .filter((s) => s.entries === cost.entries && s.generation === r + 1 && s.adopted.isAdopted).length,
        gapMs, probe: probed,
        answered: check.answered, strayPids: strayPids.length,
      };
      rounds.push(round);
      const steps = round.stepMs.map((v) => formatNumber(v)).join('/');
      log(`${point.label} reload ${r + 1}: pause ${round.pauseMs.join('/')} ms, step ${steps} ms, ` +
        `ws gap ${formatNumber(gapMs)} ms, new conn ${formatNumber(probed.maxWaitMs)} ms (${probed.failed} failed), ` +
        `moved ${round.moved}/${point.sockets + pingerCount}, adopted ${round.adopted}/${round.events}, ` +
        `load ${load.toFixed(2)}`);
    }
    return {
      point, cost, rounds, steering: target.steering, options: target.options, loadBefore, loadAfter: loadavg()[0],
      closes: held.closes + pingers.closes, closeCodes: { ...held.closeCodes },
      lost: pingers.lost, duplicates: pingers.duplicates, skipped: probe.skipped,
    };
  } finally {
    pingers.stop();
    probe.stop();
    if (held !== undefined) closeHeld(held);
    await target.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// The report.

const sum = (values) => values.reduce((a, b) => a + b, 0);
const medMax = (values) => `${formatNumber(median(values))} (${formatNumber(Math.max(...values))})`;
const bytesLabel = (bytes) => (bytes >= UNITS.MB
  ? `${formatNumber(bytes / UNITS.MB, 1)} MiB`
  : `${formatNumber(bytes / 1024, 1)} KiB`);

function completeness(result) {
  const { point, rounds } = result;
  const expectMoved = point.sockets + pingerCount;
  const adopted = sum(rounds.map((r) => r.adopted));
  const events = sum(rounds.map((r) => r.events));
  const isMoved = rounds.every((r) => r.moved === expectMoved);
  const isAnswered = rounds.every((r) => r.answered === point.sockets && r.strayPids === 0);
  const isStates = rounds.every((r) => r.statesOk === point.slots);
  const failedProbes = sum(rounds.map((r) => r.probe.failed));
  const isComplete = rounds.every((r) => r.ok) && adopted === events && events === reloads * point.slots && isMoved &&
    isAnswered && isStates && result.closes === 0 && result.lost === 0 && result.duplicates === 0 && failedProbes === 0;
  const notes = [];
  if (adopted !== events) notes.push(`started empty: ${rounds.flatMap((r) => r.reasons).join(', ')}`);
  if (!isMoved) notes.push(`moved ${rounds.map((r) => r.moved).join('/')} of ${expectMoved}`);
  if (!isAnswered) notes.push(`answered ${rounds.map((r) => r.answered).join('/')} of ${point.sockets}`);
  if (!isStates) notes.push('a slot\'s state missing or stale after a reload');
  if (result.closes + result.lost + result.duplicates > 0) {
    const codes = JSON.stringify(result.closeCodes);
    notes.push(`closes ${result.closes} (codes ${codes}), lost ${result.lost}, repeated ${result.duplicates}`);
  }
  if (failedProbes > 0) notes.push(`${failedProbes} new connections failed`);
  const text = isComplete
    ? `all: ${adopted}/${events} adopted, ${expectMoved} moved each time, 0 closes`
    : notes.join('; ');
  return { isComplete, text };
}

function pointRow(result) {
  const { point, rounds, cost } = result;
  const all = (key) => rounds.flatMap((r) => r[key]);
  const load = rounds.map((r) => r.load);
  return [
    String(point.slots), bytesLabel(cost.bytes), formatNumber(point.sockets), result.steering ?? '?',
    String(rounds.length), medMax(all('pauseMs')), medMax(all('stepMs')), medMax(rounds.map((r) => r.gapMs)),
    medMax(rounds.map((r) => r.probe.maxWaitMs)), completeness(result).text,
    `${Math.min(...load).toFixed(1)}–${Math.max(...load).toFixed(1)}`,
  ];
}

function verdict(results) {
  const hit = results.find((r) => r.point.slots === 1 && r.point.stateBytes === TARGET.stateBytes &&
    r.point.sockets === TARGET.sockets && r.point.plane === 'auto');
  if (hit === undefined) return '_The target point (1 slot, 1 MB, 1,000 WebSockets) was not measured in this run._';
  const pauses = hit.rounds.flatMap((r) => r.pauseMs);
  const m = median(pauses);
  const max = Math.max(...pauses);
  const isMet = m <= TARGET.pauseMs && completeness(hit).isComplete;
  return `Target: the slot's pause ≤ ${TARGET.pauseMs} ms for 1 MB of state and 1,000 WebSockets: ` +
    `${isMet ? '**met**' : '**not met**'}, ` +
    `median ${formatNumber(m)} ms, max ${formatNumber(max)} ms over ${pauses.length} reloads` +
    `${max > TARGET.pauseMs ? ` (the max is over the target)` : ''}; ${completeness(hit).text}.`;
}

function render(results, skipped, startedAt, limits) {
  const header = ['slots', 'state', 'WebSockets', 'plane', 'reloads', 'pause ms', 'slot step ms', 'ws echo gap ms',
    'new conn. wait ms', 'arrived', 'load avg'];
  const costRows = [...new Map(results.map((r) => [r.point.stateBytes, r.cost])).values()].map((c) => [
    bytesLabel(c.bytes), formatNumber(c.entries), formatNumber(c.serializeMs, 1), formatNumber(c.deserializeMs, 1),
  ]);
  return [
    `## Deploys that keep state: the slot's pause against state size and open WebSockets (${today()})`,
    '',
    verdict(results),
    '',
    'Medians over the reloads (max in brackets). **pause**: the `handover` event\'s `pauseMs`, how long',
    'the slot\'s new clients waited (the retiring worker\'s last connection to the successor\'s first).',
    '**slot step**: the slot\'s `lastReloadDuration` (fork, readiness, handover, drain start). **ws echo gap**:',
    `the longest wait for an echo of ${pingerCount} WebSocket clients each sending a numbered message every`,
    `${pingMs} ms (their sockets move too). **new conn. wait**: the longest time to the first answer bytes of a`,
    `connection opened (every ${probeMs} ms) during the reload. **arrived**: the state adopted (\`isAdopted\`,`,
    'entries and generation checked in the new worker), every WebSocket moved (`sockets`, the held ones plus',
    'the pingers) and answering from the new worker, no close, no ping lost or repeated, no new connection',
    'failed. **load avg**: the 1-minute load average at each reload.',
    '',
    table(header, results.map(pointRow)),
    '',
    'The state in one process: `v8.serialize` and `deserialize` of the same Map (median of 3), the part of the',
    'pause that is not IPC:',
    '',
    table(['state', 'entries', 'serialize ms', 'deserialize ms'], costRows),
    '',
    '### Setup',
    '',
    `- Command: \`${commandLine('bench/handover.mjs')}\``,
    `- Date: ${today()}, duration ${formatNumber((Date.now() - startedAt) / 60_000, 1)} min; ` +
      `source: commit ${sourceRevision()}`,
    `- Machine: ${describeMachine()}; open files: soft ${limits.soft}, hard ${limits.hard}`,
    `- Points: ${results.map((r) => `\`${r.point.label}\` (${JSON.stringify(r.options)})`).join(', ')}` +
      (skipped.length > 0 ? `; skipped: ${skipped.map((s) => `\`${s.label}\` (${s.why})`).join(', ')}` : ''),
    '- A fresh cluster per point (`bench/targets/handover-target.mjs`); each WebSocket from its own source address',
    '  (127.1.x.y), connections of the probe from 127.3.0.x; the clients run in the bench process.',
  ].join('\n');
}

const startedAt = Date.now();
const removeSnapshot = useDistSnapshot();
const limits = fileLimits();
const results = [];
const skipped = [];
try {
  for (const point of points) {
    const needed = point.sockets + pingerCount + 300;
    if (needed > limits.soft) {
      skipped.push({ label: point.label, why: `needs about ${needed} open files, the limit is ${limits.soft}` });
      continue;
    }
    if (Date.now() - startedAt > budgetMs) {
      skipped.push({ label: point.label, why: 'time budget' });
      continue;
    }
    log(`point ${point.label}: load average ${loadavg().map((v) => v.toFixed(2)).join(' ')}`);
    try {
      results.push(await runPoint(point));
    } catch (error) {
      log(`point ${point.label} failed: ${error.message}`);
      skipped.push({ label: point.label, why: `failed: ${error.message}` });
    }
  }
} finally {
  removeSnapshot();
}
const text = render(results, skipped, startedAt, limits);
writeSection(resultsPath(isQuick), SECTION, text);
console.log(text);
process.exit(0);
