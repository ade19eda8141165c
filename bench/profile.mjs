// Where one target spends its CPU under new-connection load: the target's primary and workers run with
// `--cpu-prof`, the load generator opens connections (one request each, 64 in flight, 200 sources) for a
// few seconds, then every process's profile is summed by function (self time) and the busiest are printed,
// the primary apart from the workers. Start-up is in the profiles too: compare targets by their load
// functions, not by totals. Writes nothing to RESULTS.md; the .cpuprofile files stay in bench/tmp/prof/
// for Chrome DevTools or speedscope. The load comes from the C generator unless BENCH_LOADGEN=node.
//
//   npm run build && node bench/profile.mjs <rr|none|ip|ip-hop|header|proxy|sio> [seconds] [rows]
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { chooseLoadgen, startTarget, loopbackAddresses } from './lib/processes.mjs';

const [target = 'header', secondsArg = '6', rowsArg = '15'] = process.argv.slice(2);
const dir = join(import.meta.dirname, 'tmp', 'prof', target);
await rm(dir, { recursive: true, force: true });
await mkdir(dir, { recursive: true });
process.env.BENCH_TARGET_NODE_OPTIONS = `--cpu-prof --cpu-prof-dir=${dir}`;

const tree = await startTarget(target);
const generator = chooseLoadgen();
console.log(`load generator: ${generator.description}`);
const loadgen = generator.start();
try {
  await loadgen.call({
    cmd: 'start', kind: 'close', host: '127.0.0.1', port: tree.port, addresses: loopbackAddresses(2, 200), concurrency: 64,
    paths: ['/'], header: target === 'proxy' ? 'proxy1' : 'xff',
  });
  await sleep(1000);
  const [cpu0, count0] = await Promise.all([tree.cpu(), loadgen.call({ cmd: 'snapshot' })]);
  await sleep(Number(secondsArg) * 1000);
  const [cpu1, count1] = await Promise.all([tree.cpu(), loadgen.call({ cmd: 'snapshot' })]);
  await loadgen.call({ cmd: 'stop', drainMs: 10_000 });
  const done = count1.completed - count0.completed;
  console.log(`${target}: ${Math.round(done / ((count1.at - count0.at) / 1000))} new conn/s; per connection: primary ${((cpu1.primary - cpu0.primary) / done).toFixed(1)} µs, workers ${((cpu1.workers - cpu0.workers) / done).toFixed(1)} µs`);
} finally {
  await loadgen.stop();
  // The profiles are written when the processes exit.
  await tree.stop();
}

/** Self time per function of one profile, in µs, and the profile's total. */
function selfTimes(profile) {
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const byFunction = new Map();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const { functionName, url, lineNumber } = nodes.get(id).callFrame;
    const key = `${functionName || '(anonymous)'} ${url.split('/').slice(-2).join('/')}:${lineNumber + 1}`;
    const delta = profile.timeDeltas[i] ?? 0;
    byFunction.set(key, (byFunction.get(key) ?? 0) + delta);
    total += delta;
  });
  return { byFunction, total };
}

// The primary's profile is the one of the lowest pid (it forks the workers).
const files = (await readdir(dir)).filter((name) => name.endsWith('.cpuprofile'))
  .sort((a, b) => Number(a.split('.')[3]) - Number(b.split('.')[3]));
const groups = { primary: files.slice(0, 1), workers: files.slice(1) };
for (const [name, group] of Object.entries(groups)) {
  const sum = new Map();
  let busy = 0;
  for (const file of group) {
    const { byFunction } = selfTimes(JSON.parse(await readFile(join(dir, file), 'utf8')));
    for (const [key, micros] of byFunction) {
      if (key.startsWith('(idle)')) continue;
      sum.set(key, (sum.get(key) ?? 0) + micros);
      busy += micros;
    }
  }
  console.log(`\n${name} (${group.length} profile(s)), busy ${(busy / 1000).toFixed(0)} ms, by self time:`);
  for (const [key, micros] of [...sum].sort((a, b) => b[1] - a[1]).slice(0, Number(rowsArg))) {
    console.log(`${((micros / busy) * 100).toFixed(1).padStart(5)}%  ${(micros / 1000).toFixed(0).padStart(6)} ms  ${key}`);
  }
}
