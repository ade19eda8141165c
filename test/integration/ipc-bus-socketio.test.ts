import { afterEach, expect, it } from 'vitest';
import { pEvent } from 'p-event';
import { io as connect, type Socket } from 'socket.io-client';
import { spawnCluster, until } from '../helpers/cluster.js';
import { sourceAddress } from '../helpers/client.js';
import { onLinux } from '../helpers/platform.js';

// The bus next to another library's plain process.send traffic: Socket.IO's cluster adapter keeps
// broadcasting and answering fetchSockets() across workers while the bus carries heavy traffic, and
// neither sees the other's messages.

const WORKERS = 3;
const CLIENTS = 9;
const TICKS = 2000;
const clients: Socket[] = [];
afterEach(() => {
  for (const client of clients.splice(0)) client.disconnect();
});

it.skipIf(!onLinux)('coexists with @socket.io/cluster-adapter broadcasting', async () => {
  const cluster = await spawnCluster('sio-app.mjs', { env: { WORKERS: String(WORKERS), TICKS: String(TICKS) } });
  const hellos = await Promise.all(Array.from({ length: CLIENTS }, async (_, i) => {
    // engine.io-client passes `localAddress` on to ws in Node (its types do not list it).
    const options = { transports: ['websocket'], localAddress: sourceAddress(60 + i), reconnection: false };
    const client = connect(`http://127.0.0.1:${cluster.port}`, options);
    clients.push(client);
    return (await pEvent(client, 'hello', { timeout: 10_000 })) as { workerId: number };
  }));
  const workersWithClients = new Set(hellos.map((hello) => hello.workerId));
  expect(workersWithClients.size).toBeGreaterThan(1);

  // One client shouts: the adapter broadcasts to every client on every worker while the shouting
  // worker floods the bus.
  const news = clients.map((client) => pEvent(client, 'news', { timeout: 10_000 }));
  clients[0]?.emit('shout', 'hi all');
  for (const item of await Promise.all(news)) expect(item).toEqual({ text: 'hi all', from: hellos[0]?.workerId });

  // The adapter's request/response across workers.
  const counted = await (clients[1] as Socket).timeout(10_000).emitWithAck('count');
  expect(counted).toBe(CLIENTS);

  // Every bus message arrived, none dropped (the adapter's messages are not taken for bus frames).
  let ticks = { count: 0, dropped: -1 };
  await until(async () => {
    ticks = await cluster.ask('ticks');
    return ticks.count >= TICKS;
  }, { timeout: 10_000 });
  expect(ticks).toMatchObject({ count: TICKS, dropped: 0 });

  // A bus broadcast from the primary reaches every worker, each tells its own clients.
  const purged = clients.map((client) => pEvent(client, 'purged', { timeout: 10_000 }));
  expect((await cluster.ask('purge', { key: 'user:1' })).count).toBe(WORKERS);
  const results = (await Promise.all(purged)) as { key: string; workerId: number }[];
  results.forEach((result, i) => expect(result).toEqual({ key: 'user:1', workerId: hellos[i]?.workerId }));
});
