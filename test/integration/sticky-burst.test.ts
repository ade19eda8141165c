import { expect, it } from 'vitest';
import { spawnCluster } from '../helpers/cluster.js';
import { request, sourceAddress } from '../helpers/client.js';
import { onLinux } from '../helpers/platform.js';

// A reconnect storm: thousands of connections at once. Every one is answered by its client's worker;
// none is reset or dropped on the way through the primary.

const CONNECTIONS = 2_000;
const CLIENTS = 20;

it.skipIf(!onLinux)(`answers a burst of ${CONNECTIONS} connections from ${CLIENTS} addresses, each from its client's worker`, async () => {
  // The primary hop's handoff under a burst (kernel steering has no handoff).
  const cluster = await spawnCluster('app.mjs', { env: { WORKERS: '2', MODE: 'ip', OPTIONS: JSON.stringify({ steering: 'primary' }) } });
  const { port } = cluster;
  const addresses = Array.from({ length: CLIENTS }, (_, i) => sourceAddress(20 + i));
  const workerOf = new Map<string, number>();
  for (const localAddress of addresses) workerOf.set(localAddress, (await request({ port, localAddress })).reply.workerId);
  expect(new Set(workerOf.values()).size).toBe(2);

  // All at once: no pacing, no agent, every request on its own connection.
  const outcomes = await Promise.all(Array.from({ length: CONNECTIONS }, (_, i) => {
    const localAddress = addresses[i % CLIENTS] as string;
    return request({ port, localAddress, path: `/burst/${i}`, timeout: 30_000 }).then(
      ({ status, reply }) => ({ i, localAddress, status, workerId: reply.workerId, url: reply.url }),
      (error: Error) => ({ i, localAddress, status: 0, workerId: 0, url: error.message }),
    );
  }));
  const wrong = outcomes.filter(({ i, localAddress, status, workerId, url }) =>
    status !== 200 || workerId !== workerOf.get(localAddress) || url !== `/burst/${i}`);
  expect(wrong.slice(0, 10)).toEqual([]);
  expect(outcomes).toHaveLength(CONNECTIONS);
  const stats = (await cluster.ask('stats')).stats as { connections: { accepted: number; routed: number; rejected: number } };
  expect(stats.connections).toMatchObject({ accepted: CONNECTIONS + CLIENTS, routed: CONNECTIONS + CLIENTS, rejected: 0 });
}, 60_000);
