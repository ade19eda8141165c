// What `trustedProxies` costs per connection: the check of the socket's peer against the compiled list
// (PROXY mode runs it on every accept; header mode once per routed head), and the walk of a forwarding
// header from a trusted peer. Imports dist/ (run `npm run build` first). In-process, no sockets:
// `node bench/trust-check.mjs [--quick]`. Prints CPU ns/op of this process (median of rounds: on a
// shared machine CPU time, unlike wall time, leaves out the time other processes held the core), the
// wall-clock ns/op, and the garbage collections seen while measuring (0: nothing allocated per call).
import { PerformanceObserver } from 'node:perf_hooks';
import { AddressRanges } from '../dist/internal/address-ranges.js';
import { forwardedClient, forwardingRule, isTrustedPeer } from '../dist/sticky/routing/trust.js';

const quick = process.argv.includes('--quick');
const ROUNDS = quick ? 3 : 9;
const OPS = quick ? 500_000 : 2_000_000;

const v4Ranges = (n) => Array.from({ length: n }, (_, i) => (i === 0 ? '10.0.0.0/8' : `172.${16 + i}.0.0/16`));
const v6Ranges = (n) => Array.from({ length: n }, (_, i) => (i === 0 ? 'fd00::/8' : `2001:db8:${i.toString(16)}::/48`));

// Peers as a socket reports them; each case cycles through 4 so no branch is predicted for free.
const CASES = [
  { name: 'IPv4 peer, 1 range, trusted', list: v4Ranges(1), peers: ['10.1.2.3', '10.200.0.7', '10.9.9.9', '10.0.0.1'] },
  { name: 'IPv4 peer, 1 range, untrusted', list: v4Ranges(1), peers: ['203.0.113.7', '198.51.100.23', '192.0.2.1', '127.0.0.66'] },
  { name: 'IPv4 peer, 16 ranges, untrusted (all 16 compared)', list: v4Ranges(16), peers: ['203.0.113.7', '198.51.100.23', '192.0.2.1', '127.0.0.66'] },
  { name: 'IPv4-mapped peer, 16 ranges, untrusted', list: v4Ranges(16), peers: ['::ffff:203.0.113.7', '::ffff:198.51.100.23', '::ffff:192.0.2.1', '::ffff:127.0.0.66'] },
  { name: 'IPv6 peer, 1 range, trusted', list: v6Ranges(1), peers: ['fd00::1', 'fd12:3456:789a::7', 'fdff::2', 'fd00:0:0:1::9'] },
  { name: 'IPv6 peer, 1 range, untrusted', list: v6Ranges(1), peers: ['2001:db8:ffff::1', '2a00:1450:4001:81b::200e', '::1', 'fe80::1'] },
  { name: 'IPv6 peer, 16 ranges, untrusted (all 16 compared)', list: v6Ranges(16), peers: ['2001:db8:ffff::1', '2a00:1450:4001:81b::200e', '::1', 'fe80::1'] },
  {
    name: 'IPv6 peer, 16 mixed ranges (8 + 8), untrusted', list: [...v4Ranges(8), ...v6Ranges(8)],
    peers: ['2001:db8:ffff::1', '2a00:1450:4001:81b::200e', '::1', 'fe80::1'],
  },
];

let gcs = 0;
new PerformanceObserver((list) => { gcs += list.getEntries().length; }).observe({ entryTypes: ['gc'] });

const median = (values) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)];

/** CPU and wall ns per call of `fn(i)`, medians of ROUNDS rounds of OPS calls; `sink` keeps the results alive. */
function measure(fn) {
  let sink = 0;
  for (let i = 0; i < 200_000; i++) sink += fn(i) ? 1 : 0;
  const cpu = [];
  const wall = [];
  for (let round = 0; round < ROUNDS; round++) {
    const start = process.hrtime.bigint();
    const used = process.cpuUsage();
    for (let i = 0; i < OPS; i++) sink += fn(i) ? 1 : 0;
    const { user, system } = process.cpuUsage(used);
    wall.push(Number(process.hrtime.bigint() - start) / OPS);
    cpu.push(((user + system) * 1000) / OPS);
  }
  return { ns: median(cpu), wall: median(wall), sink };
}

const rows = [];
for (const { name, list, peers } of CASES) {
  const ranges = new AddressRanges(list);
  const before = gcs;
  const { ns, wall } = measure((i) => isTrustedPeer(ranges, peers[i & 3]));
  await new Promise((resolve) => setImmediate(resolve)); // let the observer report
  rows.push({ what: `peer check: ${name}`, ns, wall, gcs: gcs - before });
}

// Header mode from a trusted peer: the walk of a forwarding header (parses each entry; allocates).
const rule = forwardingRule('x-forwarded-for', 0, new AddressRanges([...v4Ranges(8), '127.0.0.1', ...v6Ranges(7)]));
for (const [name, value] of [['1 entry', '203.0.113.7'], ['client-written entry + client + 2 proxies', '6.6.6.6, 203.0.113.7, 10.1.1.1, 10.2.2.2']]) {
  const before = gcs;
  const { ns, wall } = measure(() => forwardedClient(rule, '127.0.0.1', value) !== undefined);
  await new Promise((resolve) => setImmediate(resolve));
  rows.push({ what: `header walk, 16 ranges: ${name}`, ns, wall, gcs: gcs - before });
}

console.log(`trust check, Node ${process.version}, ${ROUNDS} rounds × ${OPS.toLocaleString('en')} calls (medians)\n`);
console.log('| what | CPU ns/op | wall ns/op | GCs while measuring |');
console.log('| --- | --- | --- | --- |');
for (const row of rows) console.log(`| ${row.what} | ${row.ns.toFixed(0)} | ${row.wall.toFixed(0)} | ${row.gcs} |`);
