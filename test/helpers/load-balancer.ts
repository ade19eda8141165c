import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { stopProcess, until } from './cluster.js';

// Real load balancers (HAProxy, nginx) in front of the primaries: each runs in the foreground with a
// configuration written to a temporary directory, on ports picked free on loopback.

/** The path of an installed program (PATH, then the sbin directories a package installs to), or undefined. */
export function findBinary(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin', '/sbin'];
  for (const dir of dirs) {
    if (dir === '') continue;
    const path = join(dir, name);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // Not in this directory.
    }
  }
  return undefined;
}

const skipNotes = new Set<string>();

/** Says once per test file why a group of tests does not run. */
export function noteSkip(reason: string): void {
  if (skipNotes.has(reason)) return;
  skipNotes.add(reason);
  console.warn(`skipped: ${reason}`);
}

/** `count` TCP ports that were free on `host` a moment ago (all held at once, so they differ). */
export async function freePorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const server = createServer();
      servers.push(server);
      server.listen(0, host);
      await once(server, 'listening');
    }
    return servers.map((server) => (server.address() as { port: number }).port);
  } finally {
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  }
}

function isAccepting(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export interface RunningBalancer {
  child: ChildProcess;
  output: () => string;
  stop: () => Promise<void>;
}

/**
 * Starts `command` in the foreground with `args(dir)`, after writing `files` (name → text) into a new
 * temporary directory `dir`; resolves once every port in `ports` accepts connections on `host`.
 * Rejects with the program's output if it exits first or the ports stay closed past `timeout`.
 */
export async function startBalancer(command: string, args: (dir: string) => string[], files: (dir: string) => Record<string, string>,
  ports: readonly number[], { host = '127.0.0.1', timeout = 5_000 } = {}): Promise<RunningBalancer> {
  const dir = mkdtempSync(join(tmpdir(), 'sticky-lb-'));
  for (const [name, text] of Object.entries(files(dir))) writeFileSync(join(dir, name), text);
  const child = spawn(command, args(dir), { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  child.stderr?.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  child.on('error', (error) => { output += `\n${error.message}`; });
  const stop = async (): Promise<void> => {
    await stopProcess(child, 2_000);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await until(async () => {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${command} exited (${child.exitCode ?? child.signalCode})`);
      return (await Promise.all(ports.map((port) => isAccepting(port, host)))).every(Boolean);
    }, { timeout, interval: 10 });
  } catch (error) {
    await stop();
    throw new Error(`${command} did not start: ${(error as Error).message}\n${output}`);
  }
  return { child, output: () => output, stop };
}

/** nginx's dynamic stream module, when this nginx needs one to speak `stream`; null when built in; undefined when missing. */
export function nginxStreamModule(nginx: string): string | null | undefined {
  const result = spawnSync(nginx, ['-V'], { encoding: 'utf8' });
  const text = `${result.stdout}${result.stderr}`;
  if (/--with-stream(\s|$)/.test(text)) return null;
  if (!text.includes('--with-stream=dynamic')) return undefined;
  const modules = /--modules-path=(\S+)/.exec(text)?.[1] ?? '/usr/lib/nginx/modules';
  const path = join(modules, 'ngx_stream_module.so');
  try {
    accessSync(path, constants.R_OK);
    return path;
  } catch {
    return undefined;
  }
}

// The configurations the documentation shows are these functions' output, with the documentation's
// addresses (docs-snippets.test.ts compares them); the load balancer tests run them on loopback.

const serverName = (index: number): string => String.fromCharCode(97 + index);

/** HAProxy, PROXY protocol v2 to each primary: `mode tcp`, the primary picked by the client's address. */
export function haproxyProxyProtocolBackend(name: string, servers: readonly string[]): string[] {
  return [`backend ${name}`, '  mode tcp', '  balance source',
    ...servers.map((address, i) => `  server ${serverName(i)} ${address} send-proxy-v2`)];
}

/** What keeps HAProxy from sending several clients' requests over one upstream connection ('safe': its default, which does). */
export type HaproxyReuse = 'never' | 'server-close' | 'safe';

/** HAProxy, `X-Forwarded-For` appended (`option forwardfor`), the primary picked by the client's address. */
export function haproxyHeaderBackend(name: string, servers: readonly string[], reuse: HaproxyReuse): string[] {
  const reuseLines = { never: ['  http-reuse never'], 'server-close': ['  option http-server-close'], safe: [] }[reuse];
  return [`backend ${name}`, '  mode http', '  balance source', '  option forwardfor', ...reuseLines,
    ...servers.map((address, i) => `  server ${serverName(i)} ${address}`)];
}

/** nginx `stream`, PROXY protocol to each primary, the primary picked by a consistent hash of the client's address. */
export function nginxProxyProtocolStream(servers: readonly string[], listen: string, bind?: string): string[] {
  return ['stream {', ...(bind === undefined ? [] : [`  proxy_bind ${bind};`]),
    '  upstream app {', '    hash $remote_addr consistent;', ...servers.map((address) => `    server ${address};`), '  }',
    `  server { listen ${listen}; proxy_pass app; proxy_protocol on; }`, '}'];
}

/** A configuration without comments, whitespace runs as one space: what two equal configurations share. */
export const configTokens = (text: string): string =>
  text.split('\n').map((line) => line.replace(/#.*$/, '')).join(' ').replace(/\s+/g, ' ').trim();
