import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/cluster.js';
import { findBinary, freePorts, nginxStreamModule, noteSkip, startBalancer, type RunningBalancer } from '../helpers/load-balancer.js';
import {
  fleetClients, haproxyAllUp, haproxyFleetConfig, haproxyStates, nginxFleetConfig, probe, readyz, startFleet, type Fleet, type FleetHost, type HostReply,
} from '../helpers/fleet.js';
import { sendControl } from '../../src/cli/control-client.js';

// A fleet on one machine: three hosts (`sticky-runtime serve` on 127.0.0.10-12, two workers each, PROXY
// mode trusting only the load balancer's address) behind HAProxy and nginx at once, and 320 clients
// from their own addresses. The balancer keeps a client on its host, the host keeps it on its worker.

const haproxy = findBinary('haproxy');
const nginx = findBinary('nginx');
const streamModule = nginx === undefined ? undefined : nginxStreamModule(nginx);
if (haproxy === undefined) noteSkip('haproxy is not installed (Debian: apt-get install haproxy); the fleet tests behind it do not run');
if (nginx === undefined || streamModule === undefined) {
  noteSkip('nginx with its stream module is not installed (Debian: apt-get install nginx libnginx-mod-stream); the fleet test behind it does not run');
}

const CLIENTS = fleetClients(320);
const WORKERS = 2;

/** host:slot — where a client is, across a restart of its worker (the pid changes, the slot does not). */
const place = (reply: HostReply): string => `${reply.host}:${reply.slot}`;

/** Clients whose `where` differs between two probes. */
function moved(before: Map<string, HostReply>, after: Map<string, HostReply>, where: (reply: HostReply) => string = place): string[] {
  return CLIENTS.filter((client) => where(before.get(client) as HostReply) !== where(after.get(client) as HostReply));
}

const clientsOf = (replies: Map<string, HostReply>, host: string): string[] => CLIENTS.filter((client) => replies.get(client)?.host === host);

describe.skipIf(haproxy === undefined)('a fleet of three hosts behind HAProxy and nginx', () => {
  let fleet: Fleet | undefined;
  let balancers: RunningBalancer[] = [];
  let ports: { haproxy: number; nginx: number };
  let statsSocket: string;
  const hosts = (): Fleet => fleet as Fleet;

  beforeAll(async () => {
    fleet = await startFleet({ hosts: 3, workers: WORKERS });
    const [haproxyPort, nginxPort] = (await freePorts(2)) as [number, number];
    ports = { haproxy: haproxyPort, nginx: nginxPort };
    statsSocket = `${fleet.dir}/haproxy.sock`;
    const config = haproxyFleetConfig(fleet.hosts, haproxyPort, statsSocket);
    balancers.push(await startBalancer(haproxy as string, (dir) => ['-db', '-f', `${dir}/haproxy.cfg`], () => ({ 'haproxy.cfg': config }), [haproxyPort]));
    if (nginx !== undefined && streamModule !== undefined) {
      balancers.push(await startBalancer(nginx, (dir) => ['-p', dir, '-e', 'stderr', '-c', `${dir}/nginx.conf`],
        (dir) => ({ 'nginx.conf': nginxFleetConfig(hosts().hosts, nginxPort, dir, streamModule) }), [nginxPort]));
    }
    await waitFor(() => haproxyAllUp(statsSocket, 'hosts', hosts().hosts.length), { timeout: 10_000 });
  }, 60_000);
  afterAll(async () => {
    await Promise.all(balancers.map((balancer) => balancer.stop()));
    balancers = [];
    await fleet?.stop();
  }, 30_000);
  afterEach((context) => {
    if (context.task.result?.state !== 'fail') return;
    for (const host of fleet?.hosts ?? []) console.error(`--- ${host.name} ---\n${host.output().slice(-4000)}`);
    for (const balancer of balancers) console.error(`--- balancer ---\n${balancer.output().slice(-2000)}`);
  });

  /** Three probes of every client: one host and one worker each, the app sees the client's own address. */
  async function expectTwoLevelStickiness(port: number): Promise<Map<string, HostReply>> {
    const rounds = [await probe(port, CLIENTS), await probe(port, CLIENTS), await probe(port, CLIENTS)];
    const first = rounds[0] as Map<string, HostReply>;
    for (const round of rounds.slice(1)) expect(moved(first, round, (reply) => `${reply.host}:${reply.pid}`)).toEqual([]);
    for (const [client, reply] of first) expect({ client: reply.client, remoteAddress: reply.remoteAddress }).toEqual({ client, remoteAddress: client });
    // Every host and every worker of each host has clients.
    expect(new Set([...first.values()].map(place)).size).toBe(3 * WORKERS);
    return first;
  }

  it('HAProxy (balance source, hash-type consistent, send-proxy-v2): every client on one worker of one host, seen by its own address', async () => {
    await expectTwoLevelStickiness(ports.haproxy);
  });

  it.skipIf(nginx === undefined || streamModule === undefined)('nginx (stream, hash $remote_addr consistent, proxy_protocol on): the same', async () => {
    await expectTwoLevelStickiness(ports.nginx);
  });

  it('scaling one host from 2 to 3 workers moves 1/3 ± 0.08 of its clients and none of another host\'s; back to 2, they return', async () => {
    const before = await probe(ports.haproxy, CLIENTS);
    const scaled = hosts().hosts[1];
    const own = clientsOf(before, 'host1');
    const scale = async (workers: number): Promise<void> => {
      const reply = await sendControl(scaled?.controlSocket as string, { command: 'scale', workers }, () => {}, 30_000);
      expect(reply).toMatchObject({ type: 'result', to: workers });
    };
    // /readyz stays 200 while the slot is being added (its worker not ready yet): the balancer keeps the host.
    const statuses: number[] = [];
    let isScaling = true;
    const polling = (async () => {
      while (isScaling) statuses.push(await readyz(scaled as FleetHost));
    })();
    await scale(3).finally(() => { isScaling = false; });
    await polling;
    expect({ polls: statuses.length > 0, notReady: statuses.filter((status) => status !== 200) }).toEqual({ polls: true, notReady: [] });
    const after = await probe(ports.haproxy, CLIENTS);
    const movedClients = moved(before, after, (reply) => `${reply.host}:${reply.pid}`);
    const share = movedClients.length / own.length;
    console.log(`scaling host1 from 2 to 3 workers moved ${movedClients.length} of its ${own.length} clients (${share.toFixed(3)}), 0 of the others`);
    expect({ share: Math.abs(share - 1 / 3) <= 0.08, own: own.length > 50 }).toEqual({ share: true, own: true });
    // Only host1's clients moved, and only to its new slot.
    expect(movedClients.filter((client) => !own.includes(client))).toEqual([]);
    expect(new Set(movedClients.map((client) => place(after.get(client) as HostReply)))).toEqual(new Set(['host1:2']));
    await scale(2);
    expect(moved(before, await probe(ports.haproxy, CLIENTS), (reply) => `${reply.host}:${reply.pid}`)).toEqual([]);
  });

  it.skipIf(nginx === undefined || streamModule === undefined)('nginx: a host taken down moves only its clients; they come back when it returns', async () => {
    const before = await probe(ports.nginx, CLIENTS);
    const own = clientsOf(before, 'host0');
    expect(own.length).toBeGreaterThan(50);
    await hosts().stopHost(0);
    // Each refused connection goes on to the next host on the ring: no client fails.
    const down = await probe(ports.nginx, CLIENTS);
    expect(moved(before, down, (reply) => `${reply.host}:${reply.pid}`).sort()).toEqual([...own].sort());
    expect(own.filter((client) => down.get(client)?.host === 'host0')).toEqual([]);

    await hosts().startHost(0);
    // nginx tries the host again once its fail_timeout has passed.
    await waitFor(async () => (await probe(ports.nginx, own.slice(0, 1))).get(own[0] as string)?.host === 'host0', { timeout: 15_000, interval: 250 });
    const back = await probe(ports.nginx, CLIENTS);
    expect(moved(before, back)).toEqual([]);
    expect(CLIENTS.filter((client) => !own.includes(client) && back.get(client)?.pid !== before.get(client)?.pid)).toEqual([]);
    // HAProxy saw host0 go and come back too: it is up again before the next test.
    await waitFor(async () => (await haproxyStates(statsSocket, 'hosts')).host0 === 'UP', { timeout: 10_000 });
  });

  it('a host taken down moves only its clients, to the other hosts; they come back to its workers when it returns', async () => {
    const before = await probe(ports.haproxy, CLIENTS);
    const own = clientsOf(before, 'host2');
    expect(own.length).toBeGreaterThan(50);
    await hosts().stopHost(2);
    await waitFor(async () => (await haproxyStates(statsSocket, 'hosts')).host2 === 'DOWN', { timeout: 10_000 });
    const down = await probe(ports.haproxy, CLIENTS);
    expect(moved(before, down, (reply) => `${reply.host}:${reply.pid}`).sort()).toEqual([...own].sort());
    expect(own.filter((client) => down.get(client)?.host === 'host2')).toEqual([]);

    await hosts().startHost(2);
    await waitFor(async () => (await haproxyStates(statsSocket, 'hosts')).host2 === 'UP', { timeout: 10_000 });
    const back = await probe(ports.haproxy, CLIENTS);
    // The same host and slot as before (the host's workers are new processes).
    expect(moved(before, back)).toEqual([]);
    expect(CLIENTS.filter((client) => !own.includes(client) && back.get(client)?.pid !== before.get(client)?.pid)).toEqual([]);
  });
});
