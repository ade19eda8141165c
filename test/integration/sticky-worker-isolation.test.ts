import { describe, expect, it } from 'vitest';
import { spawnCluster, type FixtureMessage } from '../helpers/cluster.js';
import { request } from '../helpers/client.js';
import { NEEDS_ROOT, listenersOf, messageOf, nobody, runAsNobody } from '../helpers/other-user.js';

// Workers are reachable only through the primary: another local user can neither keep them from
// starting (by taking the local names they would listen on) nor connect to them around the primary
// (and around its head limits). The attacker is a real process of another uid.

/** Binds the abstract names `\0sticky-runtime-<pid>-1` for the next `count` pids, then reports them. */
const SQUATTER = String.raw`
const net = require('net');
const fs = require('fs');
const count = Number(process.argv[1]);
const max = Number(fs.readFileSync('/proc/sys/kernel/pid_max', 'utf8'));
const last = Number(fs.readFileSync('/proc/sys/kernel/ns_last_pid', 'utf8'));
const pids = [];
let settled = 0;
const settle = () => { if (++settled === count) process.send({ type: 'squatting', pids }); };
for (let i = 1; i <= count; i++) {
  const pid = last + i < max ? last + i : 300 + last + i - max;
  const server = net.createServer((socket) => socket.destroy());
  server.on('error', settle);
  server.listen({ path: '\0sticky-runtime-' + pid + '-1' }, () => { pids.push(pid); settle(); });
}
`;

/** Connects to every target (a Unix socket name or a TCP port), sends a request, reports what came back. */
const CONNECTOR = String.raw`
const net = require('net');
const targets = JSON.parse(process.argv[1]);
const head = 'GET /direct HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 203.0.113.7\r\n\r\n';
const attempt = (target) => new Promise((resolve) => {
  const socket = typeof target === 'number' ? net.connect(target, '127.0.0.1') : net.connect({ path: target });
  let reply = '';
  const timer = setTimeout(() => { socket.destroy(); resolve({ target, connected: true, reply }); }, 3000);
  socket.on('connect', () => socket.write(head));
  socket.on('data', (chunk) => { reply += chunk; });
  socket.on('error', (error) => { clearTimeout(timer); resolve({ target, connected: false, code: error.code }); });
  socket.on('close', () => { clearTimeout(timer); resolve({ target, connected: true, reply }); });
});
Promise.all(targets.map(attempt)).then((results) => process.send({ type: 'results', results }));
`;

interface Attempt {
  target: string | number;
  connected: boolean;
  code?: string;
  reply?: string;
}

const workerPids = (messages: readonly FixtureMessage[]): number[] =>
  messages.filter((message) => message.type === 'workerReady').map((message) => message.pid as number);

/** The test's name, saying why it is skipped when it is. */
const named = (title: string): string => (nobody === undefined ? `${title} (skipped: ${NEEDS_ROOT})` : title);

const asNobody = it.skipIf(nobody === undefined);

describe('workers and another local user', () => {
  asNobody(named('start and serve while nobody holds the names they once listened on'), async () => {
    const squatter = runAsNobody(SQUATTER, ['4000']);
    const { pids: squatted } = await messageOf<{ pids: number[] }>(squatter, 'squatting');
    expect(squatted.length).toBeGreaterThan(3_900);

    const cluster = await spawnCluster('app.mjs', { env: { WORKERS: '2' } });
    const pids = workerPids(cluster.messages);
    expect(pids).toHaveLength(2);
    // The attack was in place: each worker's pid was among the names taken before it started.
    for (const pid of pids) expect(squatted).toContain(pid);
    const { status, reply } = await request({ port: cluster.port, path: '/' });
    expect(status).toBe(200);
    expect(pids).toContain(reply.pid);
    expect(cluster.messages.filter((message) => message.type === 'workerExit')).toEqual([]);
  }, 40_000);

  asNobody(named('cannot connect to a worker around the primary'), async () => {
    // Header mode on the primary hop: the primary enforces head limits that a direct connection would skip.
    const options = JSON.stringify({ steering: 'primary' });
    const cluster = await spawnCluster('app.mjs', { env: { WORKERS: '2', MODE: 'proxyHeader', OPTIONS: options } });
    const pids = workerPids(cluster.messages);
    expect(pids).toHaveLength(2);
    const listeners = listenersOf(pids);
    // Whatever the workers listen on, and the names a worker listened on before.
    const names = new Set([...listeners.unix, ...pids.map((pid) => `\0sticky-runtime-${pid}-1`)]);
    const targets = [...names, ...listeners.tcpPorts];
    const attacker = runAsNobody(CONNECTOR, [JSON.stringify(targets)]);
    const { results } = await messageOf<{ results: Attempt[] }>(attacker, 'results');
    expect(results.filter((result) => result.connected)).toEqual([]);
    for (const result of results) expect(['ECONNREFUSED', 'ENOENT', 'EACCES']).toContain(result.code);
    // The workers listen on nothing at all: every connection they serve comes from the primary.
    expect(listeners).toEqual({ unix: [], tcpPorts: [] });
  });
});
