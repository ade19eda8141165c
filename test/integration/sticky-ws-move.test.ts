import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { spawnCluster, until, type SpawnedCluster } from '../helpers/cluster.js';
import type { WsMoved } from '../helpers/protocol.js';
import { connect, finish, heardFrom, maskedFrame, openClients } from '../helpers/ws-clients.js';

// Live ws WebSockets move, as the same TCP connections, from one process to a fresh one and on
// (ws-move-parent.mjs stands in for the primary): the clients keep sending numbered messages and
// check the server's replies and pushes (some 1 MB, in fragments), which carry a per-connection
// sequence that only the moved state can continue.

async function move(cluster: SpawnedCluster, timeout = 2_000): Promise<WsMoved> {
  const moved = cluster.next('moved', { timeout: 30_000 });
  cluster.child.send({ type: 'move', timeout });
  return moved;
}

describe.skipIf(process.platform !== 'linux')('moving live ws WebSockets between processes', () => {
  it('moves 200 WebSockets three times under traffic: no close, gap or duplicate, their state goes on', async () => {
    const cluster = await spawnCluster('ws-move-parent.mjs');
    const clients = await openClients(cluster.port, 200, false);
    // One client holds a frame half-sent when the first move begins, and completes it after.
    const slow = await connect(cluster.port, 200, false);
    const frame = maskedFrame(JSON.stringify({ n: 1 }));
    const socket = (slow.ws as unknown as { _socket: import('node:net').Socket })._socket;
    socket.write(frame.subarray(0, 10));
    await until(async () => (await cluster.ask('wsProbe')).midFrame === 1, { what: 'the frame half-read' });
    let fromPid = cluster.ready.pid;
    await heardFrom(clients, fromPid ?? 0, 3);
    const timings: string[] = [];
    for (let round = 0; round < 3; round++) {
      const freezing = cluster.next('freezing');
      const moved = move(cluster);
      if (round === 0) {
        await freezing;
        socket.write(frame.subarray(10));
        slow.sent = 1;
      }
      const result = await moved;
      expect(result).toMatchObject({ count: 201, refused: {}, adopted: 201, lost: 0, fromPid });
      if (round === 0) expect(result.midFrame).toBe(1);
      expect(result.afterMove).toEqual({ readyState: WebSocket.CLOSED, thrown: 'STICKY_ERR_WS_MOVED',
        callback: 'STICKY_ERR_WS_MOVED' });
      timings.push(`${result.ms.toFixed(0)}/${result.totalMs.toFixed(0)}`);
      await heardFrom(clients, result.toPid, 3);
      fromPid = result.toPid;
    }
    slow.ws.send(JSON.stringify({ n: 2 }));
    slow.sent = 2;
    await finish([...clients, slow]);
    expect(slow.byPid.get(fromPid ?? 0)).toBeGreaterThan(0);
    expect(clients.reduce((sum, client) => sum + client.big, 0)).toBeGreaterThan(0);
    expect((await cluster.ask('wsProbe')).errors).toBe(0);
    console.log(`moved 201 WebSockets (freeze+send / until adopted) in ${timings.join(', ')} ms`);
  }, 120_000);

  it('moves deflate without context takeover (either side)', async () => {
    const cluster = await spawnCluster('ws-move-parent.mjs', { env: { DEFLATE: 'nocontext' } });
    const clients = await openClients(cluster.port, 50, true);
    let fromPid = cluster.ready.pid ?? 0;
    await heardFrom(clients, fromPid, 3);
    for (let round = 0; round < 2; round++) {
      // The 1 MB pushes reach a busy test process slowly: the move may wait that long for the server's output to drain.
      const result = await move(cluster, 10_000);
      expect(result).toMatchObject({ count: 50, refused: {}, adopted: 50, fromPid });
      await heardFrom(clients, result.toPid, 3);
      fromPid = result.toPid;
    }
    await finish(clients);
    expect((await cluster.ask('wsProbe')).errors).toBe(0);
  }, 60_000);

  it('refuses deflate with context takeover: those close with 1001, as without a handover', async () => {
    const cluster = await spawnCluster('ws-move-parent.mjs', { env: { DEFLATE: 'context' } });
    const clients = await openClients(cluster.port, 10, true);
    await heardFrom(clients, cluster.ready.pid ?? 0, 2);
    const result = await move(cluster);
    expect(result).toMatchObject({ count: 0, refused: { deflateContext: 10 }, adopted: 0 });
    await until(() => clients.every((client) => client.closes.length === 1), { what: 'every close' });
    for (const client of clients) {
      clearInterval(client.timer);
      expect(client.closes).toEqual([1001]);
    }
  }, 60_000);
});
