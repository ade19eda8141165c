import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { printOutputOnFailure, spawnSharedCluster, stopProcess, until, type MessageOf, type SpawnedCluster } from '../helpers/cluster.js';
import { mapLimit, request, sourceAddress, type WorkerReply } from '../helpers/client.js';
import {
  findBinary, freePorts, haproxyHeaderBackend, haproxyProxyProtocolBackend, nginxProxyProtocolStream, nginxStreamModule, noteSkip, startBalancer,
  type HaproxyReuse, type RunningBalancer,
} from '../helpers/load-balancer.js';

// HAProxy and nginx in front of two primaries on different loopback addresses, as on two machines:
// the balancer picks the primary by the client's address, the primary picks the worker by the
// address the balancer passes on (PROXY protocol or X-Forwarded-For). Exact means every client
// address reaches one worker; an upstream connection the balancer reuses for several clients carries
// later clients' requests to the first client's worker. Each balancer connects from its own address
// (LB_ADDRESS), the one peer the primaries trust (`trustedProxies`): a forwarded address from anyone
// else does not count.

const haproxy = findBinary('haproxy');
const nginx = findBinary('nginx');
const streamModule = nginx === undefined ? undefined : nginxStreamModule(nginx);
if (haproxy === undefined) noteSkip('haproxy is not installed (Debian: apt-get install haproxy); its load balancer tests do not run');
if (nginx === undefined) noteSkip('nginx is not installed (Debian: apt-get install nginx); its load balancer tests do not run');
else if (streamModule === undefined) noteSkip('nginx has no stream module (Debian: apt-get install libnginx-mod-stream); its PROXY protocol test does not run');

const PRIMARY_HOSTS = ['127.0.2.1', '127.0.2.2'] as const;
const LB_ADDRESS = '127.0.3.1';
const CLIENTS = 12;
const REQUESTS = 5;

type Pair = [SpawnedCluster, SpawnedCluster];
type Mode = 'proxyProtocol' | 'proxyHeader';

/** Two primaries per mode, one per loopback address, all started at once. */
function usePrimaries(): (mode: Mode) => Pair {
  const modes: Mode[] = ['proxyProtocol', 'proxyHeader'];
  const running = new Map<string, SpawnedCluster>();
  const key = (mode: Mode, index: number): string => `${mode} on ${PRIMARY_HOSTS[index]}`;
  beforeAll(async () => {
    const started = await Promise.allSettled(modes.flatMap((mode) => PRIMARY_HOSTS.map(async (host, index) => {
      const env = { WORKERS: '2', MODE: mode, HOST: host, OPTIONS: JSON.stringify({ trustedProxies: [LB_ADDRESS] }) };
      running.set(key(mode, index), await spawnSharedCluster('app.mjs', { env }));
    })));
    const failed = started.find((result) => result.status === 'rejected');
    if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
  });
  afterAll(async () => {
    await Promise.all([...running.values()].map((cluster) => stopProcess(cluster.child)));
  });
  for (const mode of modes) {
    PRIMARY_HOSTS.forEach((_, index) => printOutputOnFailure(`app.mjs (${key(mode, index)})`, () => running.get(key(mode, index))));
  }
  return (mode) => PRIMARY_HOSTS.map((_, index) => running.get(key(mode, index))) as Pair;
}

interface Outcome {
  /** Requests that did not reach their client's most frequent worker. */
  misrouted: number;
  /** Client address → the pids of the workers that answered it. */
  workersOf: Map<string, Set<number>>;
  replies: { client: string; reply: WorkerReply }[];
}

/**
 * CLIENTS clients, each from its own address, each sending REQUESTS requests on one keep-alive
 * connection, all at once, through the balancer's port.
 */
async function runClients(port: number, headers: Record<string, string> = {}): Promise<Outcome> {
  const clients = Array.from({ length: CLIENTS }, (_, i) => sourceAddress(40 + i));
  const perClient = await mapLimit(clients, CLIENTS, async (client) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const replies: WorkerReply[] = [];
      for (let i = 0; i < REQUESTS; i++) {
        const response = await request({ port, agent, localAddress: client, path: `/${client}/${i}`, headers });
        expect(response.status).toBe(200);
        replies.push(response.reply);
      }
      return replies.map((reply) => ({ client, reply }));
    } finally {
      agent.destroy();
    }
  });
  const replies = perClient.flat();
  const workersOf = new Map<string, Set<number>>();
  let misrouted = 0;
  for (const client of clients) {
    const pids = replies.filter((entry) => entry.client === client).map((entry) => entry.reply.pid);
    workersOf.set(client, new Set(pids));
    const most = Math.max(...[...new Set(pids)].map((pid) => pids.filter((p) => p === pid).length));
    misrouted += pids.length - most;
  }
  return { misrouted, workersOf, replies };
}

/** Sharing upstream connections depends on timing: a few rounds of clients show it. */
async function misroutedWithin(port: number, rounds = 3): Promise<number> {
  let misrouted = 0;
  for (let round = 0; round < rounds && misrouted === 0; round++) misrouted = (await runClients(port)).misrouted;
  return misrouted;
}

/** Requests the header primaries' workers reported on connections routed by another client. */
async function upstreamReuse(pair: Pair): Promise<number> {
  const replies = await Promise.all(pair.map((cluster) => cluster.ask('stats')));
  return replies.reduce((sum, reply) => sum + (reply.stats as { connections: { upstreamReuseRequests: number } }).connections.upstreamReuseRequests, 0);
}

const reuseEvents = (pair: Pair): MessageOf<'upstreamReuse'>[] => pair.flatMap((cluster) => cluster.all('upstreamReuse'));

function expectExact(outcome: Outcome, primaries: Pair): void {
  expect({ misrouted: outcome.misrouted, requests: outcome.replies.length }).toEqual({ misrouted: 0, requests: CLIENTS * REQUESTS });
  for (const [client, pids] of outcome.workersOf) expect({ client, workers: pids.size }).toEqual({ client, workers: 1 });
  // Every request's app saw its own client, and both primaries (machines) served clients.
  for (const { client, reply } of outcome.replies) expect({ client, seen: reply.client }).toEqual({ client, seen: client });
  const primaryOf = (pid: number): number => primaries.findIndex((cluster) => (cluster.ready.workers as { pid: number }[]).some((slot) => slot.pid === pid));
  expect(new Set(outcome.replies.map(({ reply }) => primaryOf(reply.pid)))).toEqual(new Set([0, 1]));
}

describe.skipIf(haproxy === undefined && nginx === undefined)('load balancers in front of two primaries', () => {
  const primaries = usePrimaries();
  const pp = (): Pair => primaries('proxyProtocol');
  const header = (): Pair => primaries('proxyHeader');
  const servers = (pair: Pair, prefix: string, suffix = ''): string =>
    pair.map((cluster, i) => `${prefix.replace('#', String(i))}${PRIMARY_HOSTS[i]}:${cluster.port}${suffix}`).join('\n');
  const addresses = (pair: Pair): string[] => pair.map((cluster, i) => `${PRIMARY_HOSTS[i]}:${cluster.port}`);

  describe.skipIf(haproxy === undefined)('HAProxy', () => {
    let balancer: RunningBalancer | undefined;
    let ports: { tcp: number; never: number; serverClose: number; safe: number };

    beforeAll(async () => {
      const [tcp, never, serverClose, safe] = (await freePorts(4)) as [number, number, number, number];
      ports = { tcp, never, serverClose, safe };
      // The backends are the documentation's (docs/routing.md), with the primaries' loopback addresses.
      const httpBackend = (name: string, port: number, reuse: HaproxyReuse): string => [
        `frontend ${name}`, '  mode http', `  bind 127.0.0.1:${port}`, `  default_backend ${name}`,
        ...haproxyHeaderBackend(name, addresses(header()), reuse), '',
      ].join('\n');
      const config = [
        'global', '  maxconn 256', '',
        'defaults', '  timeout connect 2s', '  timeout client 10s', '  timeout server 10s', `  source ${LB_ADDRESS}`, '',
        'frontend tcp', '  mode tcp', `  bind 127.0.0.1:${tcp}`, '  default_backend tcp',
        ...haproxyProxyProtocolBackend('tcp', addresses(pp())), '',
        httpBackend('never', never, 'never'),
        httpBackend('server_close', serverClose, 'server-close'),
        // HAProxy's default: idle upstream connections are shared between clients after their first request.
        httpBackend('safe', safe, 'safe'),
      ].join('\n');
      balancer = await startBalancer(haproxy as string, (dir) => ['-db', '-f', `${dir}/haproxy.cfg`], () => ({ 'haproxy.cfg': config }), Object.values(ports));
    });
    afterAll(async () => {
      await balancer?.stop();
    });

    it('mode tcp + send-proxy-v2 with proxyProtocol: exact, and the app sees each client\'s address', async () => {
      const outcome = await runClients(ports.tcp);
      expectExact(outcome, pp());
      for (const { client, reply } of outcome.replies) expect(reply.remoteAddress).toBe(client);
    });

    it('mode http + option forwardfor with header mode: exact with http-reuse never and with option http-server-close; no reuse reported', async () => {
      const before = await upstreamReuse(header());
      expectExact(await runClients(ports.never), header());
      // option forwardfor appends to what the client wrote: the client's own entry is never believed.
      expectExact(await runClients(ports.serverClose, { 'x-forwarded-for': '6.6.6.6' }), header());
      expect(await upstreamReuse(header())).toBe(before);
      expect(reuseEvents(header())).toEqual([]);
    });

    it('mode http + option forwardfor with the default http-reuse safe: misroutes, and the workers report it (event, stats)', async () => {
      const before = await upstreamReuse(header());
      expect(await misroutedWithin(ports.safe)).toBeGreaterThan(0);
      await until(() => reuseEvents(header()).length > 0, { timeout: 5_000 });
      const event = reuseEvents(header())[0];
      expect(event).toMatchObject({ requests: expect.any(Number), connections: expect.any(Number), workerId: expect.any(Number), pid: expect.any(Number) });
      expect(event !== undefined && event.requests >= event.connections && event.connections > 0).toBe(true);
      expect(event?.hint).toContain('`http-reuse never`');
      expect(await upstreamReuse(header())).toBeGreaterThan(before);
    });
  });

  describe.skipIf(nginx === undefined)('nginx', () => {
    let balancer: RunningBalancer | undefined;
    let ports: { stream: number; keepalive: number; fresh: number };

    beforeAll(async () => {
      const [stream, keepalive, fresh] = (await freePorts(3)) as [number, number, number];
      ports = { stream, keepalive, fresh };
      const upstream = (name: string, pair: Pair, extra: string[] = []): string[] =>
        [`  upstream ${name} {`, '    hash $remote_addr consistent;', servers(pair, '    server ', ';'), ...extra, '  }'];
      const location = (lines: string[]): string[] =>
        ['    location / {', '      proxy_set_header X-Forwarded-For $remote_addr;', ...lines, '    }'];
      const config = (dir: string): string => [
        ...(typeof streamModule === 'string' ? [`load_module ${streamModule};`] : []),
        'daemon off;', 'master_process off;', `pid ${dir}/nginx.pid;`, 'error_log stderr warn;',
        'events { worker_connections 256; }',
        ...(streamModule === undefined ? [] : [
          ...nginxProxyProtocolStream(addresses(pp()), `127.0.0.1:${stream}`, LB_ADDRESS),
        ]),
        'http {', '  access_log off;', `  proxy_bind ${LB_ADDRESS};`,
        ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((kind) => `  ${kind}_temp_path ${dir}/${kind};`),
        // Upstream keep-alive: idle connections to a primary are shared by every client.
        ...upstream('keepalive', header(), ['    keepalive 8;']),
        `  server { listen 127.0.0.1:${keepalive};`,
        ...location(['      proxy_pass http://keepalive;', '      proxy_http_version 1.1;', '      proxy_set_header Connection "";']),
        '  }',
        // nginx's default: one upstream connection per request (HTTP/1.0, closed after the response).
        ...upstream('fresh', header()),
        `  server { listen 127.0.0.1:${fresh};`, ...location(['      proxy_pass http://fresh;']), '  }',
        '}',
      ].join('\n');
      const listening = streamModule === undefined ? [keepalive, fresh] : [stream, keepalive, fresh];
      balancer = await startBalancer(nginx as string, (dir) => ['-p', dir, '-e', 'stderr', '-c', `${dir}/nginx.conf`],
        (dir) => ({ 'nginx.conf': config(dir) }), listening);
    });
    afterAll(async () => {
      await balancer?.stop();
    });

    it.skipIf(streamModule === undefined)('stream + proxy_protocol on with proxyProtocol: exact, and the app sees each client\'s address', async () => {
      const outcome = await runClients(ports.stream);
      expectExact(outcome, pp());
      for (const { client, reply } of outcome.replies) expect(reply.remoteAddress).toBe(client);
    });

    it('http + X-Forwarded-For with header mode: exact without upstream keepalive, misroutes with it', async () => {
      const before = await upstreamReuse(header());
      expectExact(await runClients(ports.fresh), header());
      expect(await upstreamReuse(header())).toBe(before);
      expect(await misroutedWithin(ports.keepalive)).toBeGreaterThan(0);
    });
  });
});
