import http from 'node:http';
import { pEvent } from 'p-event';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { io as connectIo, type Socket as IoSocket } from 'socket.io-client';
import { printOutputOnFailure, spawnSharedCluster, stopProcess, waitFor, type SpawnedCluster } from '../helpers/cluster.js';
import { findBinary, freePorts, noteSkip, startBalancer, type RunningBalancer } from '../helpers/load-balancer.js';
import { HOST_ADDRESSES, LB_ADDRESS, fleetClients, haproxyFleetConfig, startRedis, type RunningRedis } from '../helpers/fleet.js';

// Shared state across hosts lives in Redis, with a real redis-server started here:
// - Socket.IO (examples/recipes/socket-io-redis.mjs) on two hosts behind HAProxy (PROXY v2), every
//   worker with @socket.io/redis-adapter and no cluster adapter: a broadcast from a client on one host
//   reaches the clients of every worker of every host, and session ids route after the PROXY header.
// - The app bus stays per host; examples/fleet/bus-redis.mjs pairs it with Redis pub/sub for a
//   fleet-wide cache purge.

const haproxy = findBinary('haproxy');
const redisServer = findBinary('redis-server');
if (redisServer === undefined) noteSkip('redis-server is not installed (Debian: apt-get install redis-server); the fleet tests with Redis do not run');
if (haproxy === undefined) noteSkip('haproxy is not installed (Debian: apt-get install haproxy); the Socket.IO fleet test does not run');

let redis: RunningRedis | undefined;
beforeAll(async () => {
  if (redisServer !== undefined) redis = await startRedis(redisServer);
});
afterAll(async () => {
  await redis?.stop();
});

/** Forked hosts of a `describe`, stopped after it; their logs printed after a failed test. */
function useHosts(fixture: string, env: (index: number) => Record<string, string>, count = 2): () => SpawnedCluster[] {
  const hosts: SpawnedCluster[] = [];
  beforeAll(async () => {
    const started = await Promise.allSettled(Array.from({ length: count }, (_, index) => spawnSharedCluster(fixture, { env: env(index), timeout: 30_000 })));
    for (const result of started) if (result.status === 'fulfilled') hosts.push(result.value);
    const failed = started.find((result) => result.status === 'rejected');
    if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
  }, 60_000);
  afterAll(async () => {
    await Promise.all(hosts.map((host) => stopProcess(host.child)));
  });
  for (let index = 0; index < count; index++) printOutputOnFailure(`${fixture} (host${index})`, () => hosts[index]);
  return () => hosts;
}

interface Hello { host: string; workerId: number; sid: string; address: string }
interface Client { socket: IoSocket; hello: Hello; agent: http.Agent; address: string }

async function connect(port: number, address: string): Promise<Client> {
  // Each client its own connections, as separate devices behind one address have.
  const agent = new http.Agent({ keepAlive: true, localAddress: address });
  const socket = connectIo(`http://127.0.0.1:${port}`, {
    transports: ['polling', 'websocket'], agent: agent as never, localAddress: address, reconnection: false,
  } as Parameters<typeof connectIo>[1]);
  const hello = (await pEvent(socket as never, 'hello', { timeout: 15_000 })) as Hello;
  return { socket, hello, agent, address };
}

async function upgraded(socket: IoSocket): Promise<void> {
  if (socket.io.engine.transport.name !== 'websocket') await pEvent(socket.io.engine as never, 'upgrade', { timeout: 15_000 });
}

describe.skipIf(redisServer === undefined || haproxy === undefined)('Socket.IO on two hosts behind HAProxy, with the Redis adapter', () => {
  const recipe = '../../examples/recipes/socket-io-redis.mjs';
  const hosts = useHosts(recipe, (index) => ({
    PORT: '0', HOST: HOST_ADDRESSES[index] as string, WORKERS: '2', HOST_NAME: `host${index}`,
    REDIS_URL: redis?.url ?? '', TRUSTED_PROXIES: LB_ADDRESS,
  }));
  let balancer: RunningBalancer | undefined;
  let port: number;
  const clients: Client[] = [];

  beforeAll(async () => {
    [port] = (await freePorts(1)) as [number];
    const entries = hosts().map((host, index) => ({ name: `host${index}`, address: HOST_ADDRESSES[index] as string, port: host.port }));
    balancer = await startBalancer(haproxy as string, (dir) => ['-db', '-f', `${dir}/haproxy.cfg`],
      (dir) => ({ 'haproxy.cfg': haproxyFleetConfig(entries, port, `${dir}/haproxy.sock`) }), [port]);
  });
  afterAll(async () => {
    for (const { socket, agent } of clients) {
      socket.disconnect();
      agent.destroy();
    }
    await balancer?.stop();
  });

  it('a broadcast from a client on one host reaches the clients of every worker of every host (no cluster adapter)', async () => {
    // Clients from their own addresses until every worker of both hosts has one.
    const places = (): Set<string> => new Set(clients.map(({ hello }) => `${hello.host}:${hello.workerId}`));
    for (const address of fleetClients(60)) {
      if (places().size === 4) break;
      clients.push(await connect(port, address));
    }
    expect(places().size).toBe(4);
    // The app sees each client's own address (the PROXY header's), not the balancer's.
    for (const { hello, address } of clients) expect(hello.address).toBe(address);
    await Promise.all(clients.map(({ socket }) => upgraded(socket)));

    const received = clients.map(({ socket }) => pEvent(socket as never, 'shouted', { timeout: 10_000 }));
    const sender = clients.find(({ hello }) => hello.host === 'host0') as Client;
    sender.socket.emit('shout', 'hello fleet');
    const shouts = (await Promise.all(received)) as { text: string; host: string; workerId: number }[];
    expect(new Set(shouts.map((shout) => JSON.stringify(shout)))).toEqual(new Set([JSON.stringify({ text: 'hello fleet', host: 'host0', workerId: sender.hello.workerId })]));
    expect(shouts).toHaveLength(clients.length);
  });

  it('behind the balancer, session ids route after the PROXY header: 12 clients behind one address spread over one host\'s workers, each session on its worker', async () => {
    const nat: Client[] = [];
    try {
      for (let i = 0; i < 12; i++) nat.push(await connect(port, '127.0.6.1'));
      // One address: one host (the balancer's hash), its handshakes spread over both of its workers.
      expect(new Set(nat.map(({ hello }) => hello.host)).size).toBe(1);
      expect(new Set(nat.map(({ hello }) => hello.workerId)).size).toBe(2);
      for (const { hello } of nat) expect({ address: hello.address, sid: /\.[01]$/.test(hello.sid) }).toEqual({ address: '127.0.6.1', sid: true });
      // Polling carried each session until the upgrade; both reached the worker holding it.
      await Promise.all(nat.map(({ socket }) => upgraded(socket)));
      for (const { socket, hello } of nat) {
        expect(await socket.timeout(10_000).emitWithAck('which')).toEqual({ host: hello.host, workerId: hello.workerId });
      }
    } finally {
      for (const { socket, agent } of nat) {
        socket.disconnect();
        agent.destroy();
      }
    }
  });
});

describe.skipIf(redisServer === undefined)('the app bus per host, paired with Redis pub/sub for a fleet-wide broadcast', () => {
  const hosts = useHosts('../../examples/fleet/bus-redis.mjs', (index) => ({
    PORT: '0', HOST: HOST_ADDRESSES[index] as string, WORKERS: '2', REDIS_URL: redis?.url ?? '',
  }));

  interface Item { key: string; cached: boolean; workerId: number }
  function getJson<T>(host: string, port: number, path: string, localAddress: string, method = 'GET'): Promise<T> {
    return new Promise((resolve, reject) => {
      const req = http.request({ host, port, path, method, localAddress, agent: false, timeout: 10_000 }, (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => { text += chunk.toString(); });
        res.on('end', () => { try { resolve(JSON.parse(text) as T); } catch (error) { reject(error as Error); } });
      });
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', reject);
      req.end();
    });
  }

  it('a purge on one host reaches every worker of every host; the bus alone reaches its own host\'s workers', async () => {
    // A client address for each worker of each host.
    const reach: { host: string; port: number; address: string }[] = [];
    for (const [index, cluster] of hosts().entries()) {
      const host = HOST_ADDRESSES[index] as string;
      const seen = new Set<number>();
      for (const address of fleetClients(60)) {
        if (seen.size === 2) break;
        const item = await getJson<Item>(host, cluster.port, '/item/a', address);
        if (!seen.has(item.workerId)) reach.push({ host, port: cluster.port, address });
        seen.add(item.workerId);
      }
    }
    expect(reach).toHaveLength(4);
    for (const { host, port, address } of reach) expect((await getJson<Item>(host, port, '/item/a', address)).cached).toBe(true);
    const origin = reach[0] as (typeof reach)[number];
    // Redis delivered the purge to one subscriber per host; each host's bus to its own workers.
    expect(await getJson(origin.host, origin.port, '/purge/a', origin.address, 'POST')).toEqual({ purged: 'a', hosts: 2 });
    for (const { host, port, address } of reach) {
      // The purge is on its way to each worker; the first read after it arrived finds the key gone.
      await waitFor(async () => !(await getJson<Item>(host, port, '/item/a', address)).cached, { timeout: 5_000 });
    }
  });
});
