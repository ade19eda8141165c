import { describe, expect, it } from 'vitest';
import { reloadCluster, spawnCluster, workerPids } from '../helpers/cluster.js';
import { sourceAddress } from '../helpers/client.js';
import { onLinux } from '../helpers/platform.js';
import { startVisits } from '../helpers/visits.js';
import { finish, heardFromAny, openClients } from '../helpers/ws-clients.js';

// Deploys that keep state, under load: rolling restarts while ws clients (half of them with
// permessage-deflate without context takeover) send numbered messages and check every reply and push
// of the server (some 1 MB, in fragments), and HTTP clients (half keep-alive) check that their visit
// counter, kept in their slot's memory, goes up by one at every request. 0 closes, 0 gaps, 0 duplicates,
// 0 failed requests, no counter reset; every WebSocket served by its slot's current worker afterwards.
// The short run is part of `npm test`; `npm run test:resilience` (RESILIENCE=long) runs 30 reloads with
// 200 WebSockets and 40 HTTP clients, and prints the figures. Both data planes (TEST_STEERING).

const isLong = process.env.RESILIENCE === 'long';
const SIZE = isLong ? { reloads: 30, webSockets: 200, http: 40 } : { reloads: 3, webSockets: 40, http: 20 };
// HANDOVER_SOAK=reloads,webSockets,http overrides the size (to look into one case).
const override = process.env.HANDOVER_SOAK?.split(',').map(Number);
if (override?.length === 3) Object.assign(SIZE, { reloads: override[0], webSockets: override[1], http: override[2] });

describe.skipIf(!onLinux)('deploys that keep state, under load', () => {
  it(`${SIZE.reloads} rolling restarts: no WebSocket closes, no message lost or repeated, no counter reset`, async () => {
    // Each client sends a numbered message every 50 ms; the server pushes to each every 200 ms.
    const env = { WORKERS: '2', DEFLATE: 'nocontext', PUSH_MS: '200' };
    const cluster = await spawnCluster('handover-ws-app.mjs', { env });
    const half = SIZE.webSockets / 2;
    const clients = [
      ...await openClients(cluster.port, half, false, 0, 50),
      ...await openClients(cluster.port, half, true, half, 50),
    ];
    // A visit every 50 ms per HTTP client: back to back, their load left the test process's own deflate
    // clients unable to inflate what the server sent (a backlog growing ~9 messages/s per client).
    const addresses = Array.from({ length: SIZE.http }, (_, i) => sourceAddress(120 + i));
    const visits = startVisits(cluster.port, addresses, { everyMs: 50 });
    await visits.until(SIZE.http * 2);
    let pids = await workerPids(cluster);
    await heardFromAny(clients, pids, 2);
    const pauses: number[] = [];
    for (let round = 0; round < SIZE.reloads; round++) {
      const result = await reloadCluster(cluster);
      expect(result.ok).toBe(true);
      pids = await workerPids(cluster);
      await heardFromAny(clients, pids, 2);
      await visits.until(visits.answered() + SIZE.http);
    }
    const traffic = await visits.stop();
    await finish(clients);
    expect(traffic.errors).toEqual([]);
    expect(traffic.broken).toEqual([]);
    const handovers = cluster.all('handover');
    for (const handover of handovers) pauses.push(handover.pauseMs);
    expect(handovers.filter((handover) => !handover.isAdopted)).toEqual([]);
    expect(handovers).toHaveLength(SIZE.reloads * 2);
    // Every WebSocket moved at every reload (the keep-alive HTTP clients' idle connections with them).
    expect(handovers.reduce((sum, handover) => sum + handover.sockets, 0)).toBeGreaterThanOrEqual(SIZE.reloads * SIZE.webSockets);
    const sorted = pauses.sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)];
    console.log(`${SIZE.reloads} reloads, ${SIZE.webSockets} WebSockets, ${SIZE.http} HTTP clients: `
      + `${traffic.pidsPerClient.length} counters kept, slot pause median ${median} ms, max ${sorted.at(-1)} ms`);
  }, isLong ? 900_000 : 180_000);
});
