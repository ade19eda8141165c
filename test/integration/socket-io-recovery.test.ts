import { afterEach, describe, expect, it } from 'vitest';
import { pEvent } from 'p-event';
import { io as connect, type Socket } from 'socket.io-client';
import { defaultPlane, pause, spawnCluster, until, type SpawnedCluster } from '../helpers/cluster.js';
import { sourceAddress } from '../helpers/client.js';
import { onLinux } from '../helpers/platform.js';

// Socket.IO connection state recovery across a rolling restart, with sticky-runtime/socket.io's
// adapter and handOverSessions(io): real primary, workers and socket.io-client clients from distinct
// source addresses. A reload closes each client's connection once; the client reconnects to its slot's
// next worker and finds its id, rooms, data and every packet broadcast meanwhile, once and in order.
// A crash hands nothing over: the clients of the killed worker start new sessions.

interface Who {
  id: string; rooms: string[]; data: { name?: string; rooms?: string[]; lastN?: number };
  pid: number; slot: number; recovered: boolean; adopted: string;
}

interface Client {
  readonly socket: Socket;
  readonly address: string;
  /** Every 'tick' number, in arrival order. */
  readonly ticks: number[];
  readonly news: unknown[];
  /** One entry per 'connect': whether Socket.IO recovered the session, and the id it got. */
  readonly connects: { recovered: boolean; id: string | undefined }[];
  /** The last number published when the client lost its connection, and when it had it back. */
  readonly outages: { from: number; to?: number }[];
  hello: Who;
}

/** The publisher's last acknowledged number, read by the clients' listeners. */
let lastPublished = (): number => -1;

const ROOMS = ['r0', 'r1', 'r2'] as const;
const roomOf = (n: number): string => ROOMS[n % ROOMS.length] as string;

const sockets: Socket[] = [];
afterEach(() => {
  for (const socket of sockets.splice(0)) socket.disconnect();
});

async function open(port: number, address: string, extra: Record<string, unknown> = {}): Promise<Client> {
  // engine.io-client passes `localAddress` on to ws in Node (its types do not list it).
  const options = { transports: ['websocket'], localAddress: address, reconnectionDelay: 100, reconnectionDelayMax: 500, ...extra };
  const socket = connect(`http://127.0.0.1:${port}`, options);
  sockets.push(socket);
  const hello = pEvent(socket, 'hello', { timeout: 10_000 }) as Promise<Who>;
  const client: Client = { socket, address, ticks: [], news: [], connects: [], outages: [], hello: undefined as unknown as Who };
  socket.on('connect', () => {
    client.connects.push({ recovered: socket.recovered, id: socket.id });
    const outage = client.outages.at(-1);
    if (outage !== undefined) outage.to = lastPublished();
  });
  socket.on('disconnect', () => client.outages.push({ from: lastPublished() }));
  socket.on('tick', (n: number) => client.ticks.push(n));
  socket.on('news', (news: unknown) => client.news.push(news));
  socket.on('hello', (who: Who) => { client.hello = who; });
  client.hello = await hello;
  return client;
}

/** Clients from successive source addresses until each of the cluster's workers serves at least `perWorker`. */
async function openAcrossWorkers(cluster: SpawnedCluster, perWorker: number): Promise<Client[]> {
  const workers = cluster.ready.workers.length;
  const clients: Client[] = [];
  const count = (): Map<number, number> => {
    const perPid = new Map<number, number>();
    for (const client of clients) perPid.set(client.hello.pid, (perPid.get(client.hello.pid) ?? 0) + 1);
    return perPid;
  };
  for (let i = 0; i < 40; i++) {
    clients.push(await open(cluster.port, sourceAddress(i)));
    const perPid = count();
    if (perPid.size === workers && [...perPid.values()].every((n) => n >= perWorker)) return clients;
  }
  throw new Error(`40 source addresses did not give ${perWorker} clients to each of ${workers} workers`);
}

const whoami = (client: Client): Promise<Who> => client.socket.timeout(10_000).emitWithAck('whoami') as Promise<Who>;

async function joinRooms(clients: Client[]): Promise<Map<Client, Who>> {
  const joined = new Map<Client, Who>();
  for (const [i, client] of clients.entries()) {
    const rooms = [roomOf(i), roomOf(i + 1)];
    joined.set(client, await client.socket.timeout(10_000).emitWithAck('join', rooms, `client-${i}`) as Who);
  }
  return joined;
}

/** One client broadcasts through its worker's io.emit(): every client, on every worker, gets it once. */
async function expectBroadcastEverywhere(clients: Client[], from: Client, text: string): Promise<void> {
  const news = clients.map((client) => pEvent(client.socket, 'news', { timeout: 10_000, filter: (item: { text: string }) => item.text === text }));
  from.socket.emit('shout', text);
  for (const item of await Promise.all(news)) expect(item).toEqual({ text, from: from.hello.pid });
}

interface Publisher { stop(): Promise<number>; published(): number }

/**
 * Publishes 0, 1, 2, … one after the other, each to one room, each acknowledged by the server. A
 * publish lost with a connection is sent again after the reconnect (`retries`); the server broadcasts
 * each number once.
 */
function startPublishing(publisher: Client): Publisher {
  let isRunning = true;
  let last = -1;
  const loop = (async () => {
    for (let n = 0; isRunning; n++) {
      await publisher.socket.emitWithAck('publish', { n, room: roomOf(n) });
      last = n;
      await pause(2); // pacing, about 300 packets a second
    }
  })();
  lastPublished = () => last;
  return {
    published: () => last,
    stop: async () => {
      isRunning = false;
      await loop;
      return last;
    },
  };
}

async function reload(cluster: SpawnedCluster): Promise<void> {
  const reply = cluster.next('reloaded', { timeout: 60_000 });
  cluster.child.send({ type: 'reload' });
  expect(await reply).toMatchObject({ ok: true });
}

describe.skipIf(!onLinux)('Socket.IO connection state recovery across a reload (sticky-runtime/socket.io)', () => {
  it('every slot reloaded while packets flow: each client reconnects once, recovered, with its id, rooms, data and every packet once, in order', async () => {
    const cluster = await spawnCluster('sio-recovery-app.mjs', { env: { WORKERS: '2' } });
    expect((cluster.ready.steering as { plane: string }).plane).toBe(defaultPlane());
    const clients = await openAcrossWorkers(cluster, 2);
    const before = await joinRooms(clients);
    await expectBroadcastEverywhere(clients, clients[0] as Client, 'before the reload');

    const publisher = await open(cluster.port, sourceAddress(100), { retries: 1_000, ackTimeout: 5_000 });
    const publisherPid = publisher.hello.pid;
    const publishing = startPublishing(publisher);
    await until(() => clients.every((client) => client.ticks.length >= 20), { what: 'every client receives ticks', timeout: 20_000 });

    await reload(cluster);
    const handovers = cluster.all('handover');
    expect(handovers).toHaveLength(2);
    for (const handover of handovers) expect(handover).toMatchObject({ isAdopted: true });
    const everyone = [...clients, publisher];
    await until(() => everyone.every((client) => client.connects.length >= 2), { what: 'every client reconnected', timeout: 30_000 });
    // Packets keep flowing through the new workers, then stop.
    const afterReload = publishing.published();
    await until(() => publishing.published() >= afterReload + 100, { what: 'publishing goes on after the reload', timeout: 20_000 });
    const last = await publishing.stop();

    for (const client of clients) {
      const rooms = before.get(client)?.data.rooms ?? [];
      const lastForMe = Math.max(...Array.from({ length: 3 }, (_, k) => last - k).filter((n) => rooms.includes(roomOf(n))));
      await until(() => client.ticks.at(-1) === lastForMe, { what: `${client.address} receives tick ${lastForMe}`, timeout: 20_000 });
    }
    for (const client of everyone) {
      // One reconnect, recovered, under the same id.
      expect(client.connects, client.address).toEqual([
        { recovered: false, id: client.connects[0]?.id }, { recovered: true, id: client.connects[0]?.id },
      ]);
    }
    for (const client of clients) {
      const was = before.get(client) as Who;
      const now = await whoami(client);
      expect(now.pid, client.address).not.toBe(was.pid);
      expect(now.slot, client.address).toBe(was.slot);
      expect(now.adopted, client.address).toBe('adopted');
      expect({ id: now.id, rooms: now.rooms, data: now.data }, client.address).toEqual({ id: was.id, rooms: was.rooms, data: was.data });
      // Every number for the client's rooms from its first tick to the last: none lost, none twice, in order.
      const first = client.ticks[0] as number;
      const expected = Array.from({ length: last - first + 1 }, (_, k) => first + k).filter((n) => was.data.rooms?.includes(roomOf(n)));
      expect(client.ticks, client.address).toEqual(expected);
      expect(client.news, client.address).toHaveLength(1);
    }
    // Clients of the slot that did not serve the publisher lost their connection while numbers for their
    // rooms went out: those reached them only through recovery.
    const missedOffline = (client: Client): number => {
      const outage = client.outages[0] as { from: number; to: number };
      const rooms = before.get(client)?.data.rooms ?? [];
      return Array.from({ length: outage.to - outage.from }, (_, k) => outage.from + 1 + k).filter((n) => rooms.includes(roomOf(n))).length;
    };
    const elsewhere = clients.filter((client) => before.get(client)?.pid !== publisherPid);
    expect(elsewhere.length).toBeGreaterThan(0);
    for (const client of elsewhere) expect(missedOffline(client), client.address).toBeGreaterThan(0);
    expect(last).toBeGreaterThan(afterReload);
    // Broadcasts between the new workers.
    await expectBroadcastEverywhere(clients, clients.at(-1) as Client, 'after the reload');
  }, 120_000);

  it('a crash hands nothing over: the killed worker\'s clients reconnect with new sessions, the others keep theirs', async () => {
    const cluster = await spawnCluster('sio-recovery-app.mjs', { env: { WORKERS: '2' } });
    const clients = await openAcrossWorkers(cluster, 1);
    const before = await joinRooms(clients);
    // A broadcast gives every client an offset: without one, a client would not even ask for recovery.
    await expectBroadcastEverywhere(clients, clients[0] as Client, 'before the crash');
    const victim = (clients[0] as Client).hello.pid;
    const killed = clients.filter((client) => client.hello.pid === victim);
    const others = clients.filter((client) => client.hello.pid !== victim);
    expect(others.length).toBeGreaterThan(0);
    process.kill(victim, 'SIGKILL');
    await until(() => killed.every((client) => client.connects.length >= 2), { what: 'the killed worker\'s clients reconnect', timeout: 30_000 });
    for (const client of killed) {
      const was = before.get(client) as Who;
      const now = await whoami(client);
      expect(client.connects[1]?.recovered, client.address).toBe(false);
      expect(now.recovered).toBe(false);
      expect(now.id).not.toBe(was.id);
      expect(now.pid).not.toBe(victim);
      expect(now.slot).toBe(was.slot);
      expect(now.adopted).toBe('crashed');
      expect({ rooms: now.rooms, data: now.data }).toEqual({ rooms: [now.id], data: {} });
    }
    for (const client of others) {
      const now = await whoami(client);
      expect(client.connects).toHaveLength(1);
      expect({ id: now.id, rooms: now.rooms, data: now.data }).toEqual({ id: before.get(client)?.id, rooms: before.get(client)?.rooms, data: before.get(client)?.data });
    }
    await expectBroadcastEverywhere(clients, killed[0] as Client, 'after the crash');
  }, 60_000);
});
