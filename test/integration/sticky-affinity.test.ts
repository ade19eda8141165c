import http from 'node:http';
import { describe, expect, it } from 'vitest';
import { until, useSharedCluster, type SpawnedCluster } from '../helpers/cluster.js';
import { mapLimit, request, sourceAddress, type WorkerReply } from '../helpers/client.js';
import { onLinux } from '../helpers/platform.js';

// Affinity: the same routing key always reaches the same worker, over fresh connections, in every
// routing mode; and the keys spread over all workers. One cluster per mode, shared by its tests.

const WORKERS = 4;
const CLIENTS = 50;
const CONNECTIONS_PER_CLIENT = 10;
const CONCURRENCY = 16;

interface Routed {
  key: string;
  reply: WorkerReply;
}

/** Sends `CONNECTIONS_PER_CLIENT` fresh connections per key; every reply must be a 200. */
async function routeEach(keys: readonly string[], send: (key: string) => ReturnType<typeof request>): Promise<Routed[]> {
  const jobs = keys.flatMap((key) => Array.from({ length: CONNECTIONS_PER_CLIENT }, () => key));
  return mapLimit(jobs, CONCURRENCY, async (key) => {
    const response = await send(key);
    expect(response.status).toBe(200);
    return { key, reply: response.reply };
  });
}

/** key → the one worker id it reached; fails when a key reached two workers. */
function workerPerKey(routed: readonly Routed[]): Map<string, number> {
  const seen = new Map<string, Set<number>>();
  for (const { key, reply } of routed) {
    const workers = seen.get(key) ?? new Set<number>();
    workers.add(reply.workerId);
    seen.set(key, workers);
  }
  const result = new Map<string, number>();
  for (const [key, workers] of seen) {
    expect({ key, workers: [...workers] }).toEqual({ key, workers: [expect.any(Number)] });
    result.set(key, [...workers][0] as number);
  }
  return result;
}

function workerIdsOf(cluster: SpawnedCluster): number[] {
  return (cluster.ready.workers as { workerId: number }[]).map((worker) => worker.workerId).sort((a, b) => a - b);
}

const distinctSorted = (values: Iterable<number>): number[] => [...new Set(values)].sort((a, b) => a - b);

describe.skipIf(!onLinux)('affinity by source address (ip mode)', () => {
  const cluster = useSharedCluster('app.mjs', { env: { WORKERS: String(WORKERS), MODE: 'ip' } });

  it('sends every connection of a source address to the same worker, and every worker gets clients', async () => {
    const { port } = cluster();
    const addresses = Array.from({ length: CLIENTS }, (_, i) => sourceAddress(i));
    const routed = await routeEach(addresses, (localAddress) => request({ port, localAddress }));
    expect(routed).toHaveLength(CLIENTS * CONNECTIONS_PER_CLIENT);
    // The worker saw the real client: the primary passed the socket itself, not a copy.
    for (const { key, reply } of routed) expect(reply.remoteAddress).toBe(key);
    const perAddress = workerPerKey(routed);
    expect(perAddress.size).toBe(CLIENTS);
    expect(distinctSorted(perAddress.values())).toEqual(workerIdsOf(cluster()));
  });
});

describe('affinity by x-forwarded-for (proxyHeader mode)', () => {
  const cluster = useSharedCluster('app.mjs', { env: { WORKERS: String(WORKERS), MODE: 'proxyHeader' } });

  const askVia = (port: number, forwardedFor: string | undefined, localAddress = '127.0.0.1'): Promise<number> =>
    request({ port, localAddress, headers: forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor } })
      .then((response) => {
        expect(response.status).toBe(200);
        return response.reply.workerId;
      });

  it('sends every connection with the same header value to the same worker, though all come from 127.0.0.1', async () => {
    const { port } = cluster();
    const values = Array.from({ length: CLIENTS }, (_, i) => (i % 5 === 4 ? `2001:db8::${i.toString(16)}` : `198.51.100.${i + 1}`));
    const routed = await routeEach(values, (value) => request({ port, headers: { 'x-forwarded-for': value } }));
    for (const { reply } of routed) expect(reply.remoteAddress).toBe('127.0.0.1');
    const perValue = workerPerKey(routed);
    expect(perValue.size).toBe(CLIENTS);
    expect(distinctSorted(perValue.values())).toEqual(workerIdsOf(cluster()));
  });

  it.skipIf(!onLinux)('routes header values that are not addresses by the socket address, and strips ports and brackets', async () => {
    const current = cluster();
    const { port } = current;
    const locals = Array.from({ length: 8 }, (_, i) => sourceAddress(100 + i));
    const before = (await current.ask('stats')).stats as { connections: { keyFallbacks: number; badRequest: number } };

    // Without the header, each client lands where its socket address says; the clients must cover
    // more than one worker, or a fallback could not be told apart from a fixed route.
    const bySocket = new Map<string, number>();
    for (const local of locals) bySocket.set(local, await askVia(port, undefined, local));
    expect(new Set(bySocket.values()).size).toBeGreaterThan(1);

    const notAddresses = [
      'unknown', '_hidden', '', 'garbage', 'not an address', '999.1.2.3', '1.2.3', '198.51.100.7:',
      '::ffff:zzzz', '"quoted', '[2001:db8::1', '[198.51.100.7]', 'x'.repeat(2_000),
    ];
    const fallbacks = await mapLimit(locals.flatMap((local) => notAddresses.map((value) => ({ local, value }))), CONCURRENCY,
      async ({ local, value }) => ({ local, value, workerId: await askVia(port, value, local) }));
    for (const { local, value, workerId } of fallbacks) {
      expect({ value, local, workerId }).toEqual({ value, local, workerId: bySocket.get(local) });
    }

    // An address with a port, or a bracketed IPv6 address, is the address: the same worker from every client.
    for (const [withPort, bare] of [['198.51.100.7:4711', '198.51.100.7'], ['[2001:db8::1]:443', '2001:db8::1'], ['[2001:db8::1]', '2001:db8::1']] as const) {
      const expected = await askVia(port, bare);
      for (const local of locals) {
        expect({ withPort, local, workerId: await askVia(port, withPort, local) }).toEqual({ withPort, local, workerId: expected });
        expect({ bare, local, workerId: await askVia(port, bare, local) }).toEqual({ bare, local, workerId: expected });
      }
    }

    // Exactly the requests without a usable address fell back; none was refused.
    const after = (await current.ask('stats')).stats as typeof before;
    expect(after.connections.keyFallbacks - before.connections.keyFallbacks).toBe(locals.length * (1 + notAddresses.length));
    expect(after.connections.badRequest).toBe(before.connections.badRequest);
    expect(await askVia(port, '198.51.100.7')).toBeGreaterThan(0);
    expect(current.child.exitCode).toBeNull();
    expect(current.child.signalCode).toBeNull();
  });

  it('decides once per TCP connection: later requests on a keep-alive connection stay with the first request\'s worker', async () => {
    // A known limitation of header routing, documented here: a proxy that reuses one upstream
    // connection for several clients sends them all to the worker chosen for the first one.
    const { port } = cluster();
    const first = '198.51.100.200';
    const firstWorker = await askVia(port, first);
    const candidates = Array.from({ length: 40 }, (_, i) => `203.0.113.${i + 1}`);
    const elsewhere: string[] = [];
    for (const value of candidates) {
      if (elsewhere.length === 5) break;
      if (await askVia(port, value) !== firstWorker) elsewhere.push(value);
    }
    expect(elsewhere).toHaveLength(5);

    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const replies: WorkerReply[] = [];
      for (const value of [first, ...elsewhere]) {
        const response = await request({ port, agent, headers: { 'x-forwarded-for': value } });
        expect(response.status).toBe(200);
        replies.push(response.reply);
      }
      // One connection (one client port) carried every request, and one worker answered them all.
      expect(new Set(replies.map((reply) => reply.remotePort)).size).toBe(1);
      expect(replies.map((reply) => reply.workerId)).toEqual(replies.map(() => firstWorker));
      // The worker noticed at the first request of another client and reported at once (later ones
      // wait for its next report).
      await expectReuseReported(cluster());
    } finally {
      agent.destroy();
    }
  });
});

describe.skipIf(!onLinux)('a custom key from the socket (generatePrehashArray(req, socket))', () => {
  const cluster = useSharedCluster('app.mjs', { env: { WORKERS: String(WORKERS), MODE: 'customSocket' } });

  it('gives the key function a live socket: keyed by its remoteAddress, each address on one worker, every worker used', async () => {
    const { port } = cluster();
    const addresses = Array.from({ length: CLIENTS }, (_, i) => sourceAddress(i));
    const perAddress = workerPerKey(await routeEach(addresses, (localAddress) => request({ port, localAddress })));
    expect(perAddress.size).toBe(CLIENTS);
    expect(distinctSorted(perAddress.values())).toEqual(workerIdsOf(cluster()));
  });
});

describe('affinity by a custom key (generatePrehashArray)', () => {
  const cluster = useSharedCluster('app.mjs', { env: { WORKERS: String(WORKERS), MODE: 'custom' } });

  it('sends every connection with the same x-user to the same worker, and every worker gets users', async () => {
    const { port } = cluster();
    const users = Array.from({ length: CLIENTS }, (_, i) => `user-${i}`);
    const routed = await routeEach(users, (user) => request({ port, headers: { 'x-user': user } }));
    const perUser = workerPerKey(routed);
    expect(perUser.size).toBe(CLIENTS);
    expect(distinctSorted(perUser.values())).toEqual(workerIdsOf(cluster()));
  });

  it('reports a keep-alive connection whose requests carry several keys', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      for (const user of ['user-a', 'user-a', 'user-b', 'user-c']) {
        expect((await request({ port: cluster().port, agent, headers: { 'x-user': user } })).status).toBe(200);
      }
      await expectReuseReported(cluster());
    } finally {
      agent.destroy();
    }
  });
});

/** One report: the first request with another key on one connection; counted in stats(). */
async function expectReuseReported(current: SpawnedCluster): Promise<void> {
  await until(() => current.messages.some((message) => message.type === 'upstreamReuse'), { timeout: 5_000 });
  expect(current.messages.filter((message) => message.type === 'upstreamReuse')).toEqual([
    expect.objectContaining({ requests: 1, connections: 1, hint: expect.stringContaining('PROXY protocol') }),
  ]);
  const { stats } = await current.ask('stats');
  expect([stats.connections.upstreamReuseRequests, stats.connections.upstreamReuseConnections]).toEqual([1, 1]);
}
