import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stopProcess, waitFor } from './cluster.js';
import { mapLimit } from './client.js';
import { freePorts } from './load-balancer.js';

// A fleet of hosts on one machine: each host is a `sticky-runtime serve` (the real binary) bound to
// its own loopback address, in PROXY mode, trusting only the load balancer's address, with /readyz on
// its own metrics port and a control socket, as an operator runs one per machine.

const BIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const APP = fileURLToPath(new URL('../fixtures/fleet/app.mjs', import.meta.url));

/** The load balancer's own address: the one peer every host trusts. */
export const LB_ADDRESS = '127.0.3.1';
/** The hosts' addresses, as three machines. */
export const HOST_ADDRESSES = ['127.0.0.10', '127.0.0.11', '127.0.0.12'] as const;

/** `count` distinct client addresses, 127.0.4.1 onwards (none of them a host's or the LB's). */
export function fleetClients(count: number): string[] {
  if (count > 508) throw new RangeError('at most 508 fleet clients');
  return Array.from({ length: count }, (_, i) => `127.0.${4 + Math.floor(i / 254)}.${(i % 254) + 1}`);
}

export interface FleetHost {
  readonly name: string;
  readonly address: string;
  readonly port: number;
  readonly metricsPort: number;
  readonly controlSocket: string;
  child: ChildProcess;
  output: () => string;
}

export interface Fleet {
  readonly hosts: FleetHost[];
  readonly dir: string;
  /** Stops host `index` (SIGTERM: a graceful shutdown); resolves once it exited. */
  stopHost(index: number): Promise<void>;
  /** Starts host `index` again, on the same address and ports. */
  startHost(index: number): Promise<void>;
  stop(): Promise<void>;
}

export interface FleetOptions {
  hosts: number;
  workers: number;
  /** More `serve` flags for every host. */
  flags?: string[];
}

/** Starts the hosts (all at once); if one does not come up, stops every one started and throws. */
export async function startFleet(options: FleetOptions): Promise<Fleet> {
  const dir = mkdtempSync(join(tmpdir(), 'sticky-fleet-'));
  const hosts: FleetHost[] = [];
  for (const [index, address] of HOST_ADDRESSES.slice(0, options.hosts).entries()) {
    const [port, metricsPort] = (await freePorts(2, address)) as [number, number];
    const controlSocket = join(dir, `host${index}.sock`);
    hosts.push({ name: `host${index}`, address, port, metricsPort, controlSocket, child: undefined as unknown as ChildProcess, output: () => '' });
  }
  const start = async (host: FleetHost): Promise<void> => {
    const args = [BIN, 'serve', APP, '--host', host.address, '--port', String(host.port), '--workers', String(options.workers),
      '--proxy-protocol', '--trusted-proxies', LB_ADDRESS, '--metrics-port', String(host.metricsPort), '--metrics-host', host.address,
      '--control-socket', host.controlSocket, ...(options.flags ?? [])];
    const child = spawn(process.execPath, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FLEET_HOST: host.name } });
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => { output += chunk.toString(); });
    child.stderr?.on('data', (chunk: Buffer) => { output += chunk.toString(); });
    host.child = child;
    host.output = () => output;
    await waitFor(() => {
      if (child.exitCode !== null) throw new Error(`${host.name} exited with ${child.exitCode}:\n${output}`);
      return output.includes('"msg":"serving"');
    }, { timeout: 20_000 }).catch((error: unknown) => { throw new Error(`${host.name} did not start: ${String(error)}\n${output}`); });
  };
  const stop = async (): Promise<void> => {
    await Promise.all(hosts.map((host) => (host.child === undefined ? undefined : stopProcess(host.child, 10_000))));
    rmSync(dir, { recursive: true, force: true });
  };
  const started = await Promise.allSettled(hosts.map(start));
  const failed = started.find((result) => result.status === 'rejected');
  if (failed !== undefined) {
    await stop();
    throw (failed as PromiseRejectedResult).reason;
  }
  return {
    hosts, dir, stop,
    stopHost: async (index) => stopProcess((hosts[index] as FleetHost).child, 10_000),
    startHost: async (index) => start(hosts[index] as FleetHost),
  };
}

/** What a host's worker answered. */
export interface HostReply { host: string; pid: number; slot: number; client: string; remoteAddress: string }

/** One request on a fresh connection from `localAddress` through `port` (the load balancer's). */
export function fleetRequest(port: number, localAddress: string, timeout = 10_000): Promise<HostReply> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, localAddress, agent: false, timeout }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { text += chunk; });
      res.on('end', () => {
        try {
          if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
          resolve(JSON.parse(text) as HostReply);
        } catch (error) {
          reject(new Error(`${localAddress}: ${(error as Error).message} ${text.slice(0, 200)}`));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
  });
}

/** Every client's reply to one request each, 32 at a time. */
export async function probe(port: number, clients: readonly string[]): Promise<Map<string, HostReply>> {
  const replies = await mapLimit(clients, 32, async (client) => [client, await fleetRequest(port, client)] as const);
  return new Map(replies);
}

/** A host's `/readyz` status code; 0 when nothing answers. */
export function readyz(host: FleetHost): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get({ host: host.address, port: host.metricsPort, path: '/readyz', agent: false, timeout: 2_000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

/** HAProxy's view of each server of `backend` (e.g. `{ host0: 'UP', host1: 'DOWN' }`), from its stats socket. */
export function haproxyStates(statsSocket: string, backend: string): Promise<Record<string, string>> {
  return new Promise((resolve, reject) => {
    const socket = connect(statsSocket);
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => { text += chunk; });
    socket.on('error', reject);
    socket.on('end', () => {
      const states: Record<string, string> = {};
      for (const line of text.split('\n')) {
        const [proxy, server, ...rest] = line.split(',');
        if (proxy === backend && server !== 'BACKEND' && server !== undefined) states[server] = rest[15] ?? '';
      }
      resolve(states);
    });
    socket.write('show stat\n');
  });
}

/**
 * Whether HAProxy sees all `count` servers of `backend` UP. False while its stats socket is not there
 * yet (HAProxy creates it after it listens on its frontends) or refuses.
 */
export async function haproxyAllUp(statsSocket: string, backend: string, count: number): Promise<boolean> {
  const states = await haproxyStates(statsSocket, backend).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT' || error.code === 'ECONNREFUSED') return undefined;
    throw error;
  });
  return states !== undefined && Object.keys(states).length === count && Object.values(states).every((state) => state === 'UP');
}

/** A host as a balancer's configuration names it; without a metrics port, it has no health check. */
export interface FleetEntry { readonly name: string; readonly address: string; readonly port: number; readonly metricsPort?: number }

/**
 * HAProxy in front of the fleet (the configuration "Running a fleet" shows): TCP, the host chosen by a
 * consistent hash of the client address, PROXY v2 to the host, connections from LB_ADDRESS, and each
 * host's `/readyz` as its health check.
 */
export function haproxyFleetConfig(hosts: readonly FleetEntry[], port: number, statsSocket: string): string {
  const isChecked = hosts.every((host) => host.metricsPort !== undefined);
  return [
    'global',
    '  maxconn 4096',
    `  stats socket ${statsSocket} mode 600 level admin`,
    '',
    'defaults',
    '  mode tcp',
    '  timeout connect 2s',
    '  timeout client 60s',
    '  timeout server 60s',
    '  retries 2',
    '  option redispatch',
    '',
    'frontend fleet',
    `  bind 127.0.0.1:${port}`,
    '  default_backend hosts',
    '',
    'backend hosts',
    '  balance source',
    '  hash-type consistent',
    `  source ${LB_ADDRESS}`,
    ...(isChecked ? ['  option httpchk GET /readyz', '  default-server send-proxy-v2 check inter 200ms fall 2 rise 1'] : ['  default-server send-proxy-v2']),
    ...hosts.map((host) => `  server ${host.name} ${host.address}:${host.port}${isChecked ? ` port ${String(host.metricsPort)}` : ''}`),
    '',
  ].join('\n');
}

/**
 * nginx's `stream` in front of the fleet: the host by a consistent hash of the client address, PROXY (v1)
 * to the host. No active health checks in open-source nginx: a host that refuses a connection is skipped
 * (the connection goes to the next host on the ring) and left out for `fail_timeout`, then tried again.
 */
export function nginxFleetConfig(hosts: readonly FleetEntry[], port: number, dir: string, streamModule: string | null): string {
  return [
    ...(streamModule === null ? [] : [`load_module ${streamModule};`]),
    'daemon off;', 'master_process off;', `pid ${dir}/nginx.pid;`, 'error_log stderr warn;',
    'events { worker_connections 1024; }',
    '',
    'stream {',
    '  upstream hosts {',
    '    hash $remote_addr consistent;',
    ...hosts.map((host) => `    server ${host.address}:${host.port} max_fails=1 fail_timeout=2s;`),
    '  }',
    '  server {',
    `    listen 127.0.0.1:${port};`,
    '    proxy_pass hosts;',
    '    proxy_protocol on;',
    `    proxy_bind ${LB_ADDRESS};`,
    '  }',
    '}',
    '',
  ].join('\n');
}

export interface RunningRedis { port: number; url: string; stop: () => Promise<void> }

/** A throw-away `redis-server` on loopback: no persistence, no config file; stopped by `stop()`. */
export async function startRedis(binary: string): Promise<RunningRedis> {
  const [port] = (await freePorts(1)) as [number];
  const dir = mkdtempSync(join(tmpdir(), 'sticky-redis-'));
  const child = spawn(binary, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  child.stderr?.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  const stop = async (): Promise<void> => {
    await stopProcess(child, 2_000);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(() => {
      if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}`);
      return output.includes('Ready to accept connections');
    }, { timeout: 10_000 });
  } catch (error) {
    await stop();
    throw new Error(`redis-server did not start: ${(error as Error).message}\n${output}`);
  }
  return { port, url: `redis://127.0.0.1:${port}`, stop };
}
