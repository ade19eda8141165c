import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import { pause } from './cluster.js';

export interface WorkerReply {
  workerId: number;
  slot: number;
  pid: number;
  method: string;
  url: string;
  bytes: number;
  sha256: string;
  /** The peer of the worker's socket (the client, or the proxy in PROXY mode). */
  remoteAddress?: string;
  remotePort?: number;
  remoteFamily?: string;
  /** `clientAddress(req)` in the worker. */
  client?: string;
  /** The worker's variables named in the fixture's REPORT_ENV (null: not set). */
  env?: Record<string, string | null>;
}

export interface RequestOptions {
  port: number;
  localAddress?: string;
  headers?: Record<string, string>;
  method?: string;
  path?: string;
  body?: Buffer;
  agent?: http.Agent | false;
  timeout?: number;
}

/** One HTTP request on loopback; resolves with the status, headers and the worker's JSON reply. */
export function request(options: RequestOptions): Promise<{ status: number; headers: http.IncomingHttpHeaders; reply: WorkerReply }> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1', port: options.port, localAddress: options.localAddress, method: options.method ?? 'GET',
      path: options.path ?? '/', headers: options.headers, agent: options.agent ?? false, timeout: options.timeout ?? 10_000,
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        try {
          resolve({ status: res.statusCode ?? 0, headers: res.headers, reply: JSON.parse(text) as WorkerReply });
        } catch {
          reject(new Error(`not JSON (status ${res.statusCode}): ${text.slice(0, 200)}`));
        }
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Which worker answers a fresh connection from `localAddress`. */
export async function askWorkerId(port: number, localAddress = '127.0.0.1', headers: Record<string, string> = {}): Promise<number> {
  return (await request({ port, localAddress, headers })).reply.workerId;
}

/**
 * Writes raw bytes on a fresh TCP connection and collects everything until the server closes it.
 * Resolves with what arrived and whether the connection ended by reset.
 */
export async function rawExchange(port: number, payload: Buffer | string, { localAddress = '127.0.0.1', timeout = 10_000, endAfterWrite = false } = {}): Promise<{ text: string; reset: boolean }> {
  const socket = net.connect({ host: '127.0.0.1', port, localAddress });
  await once(socket, 'connect');
  const chunks: Buffer[] = [];
  let reset = false;
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => { reset = true; });
  socket.setTimeout(timeout, () => socket.destroy(new Error('raw exchange timed out')));
  if (payload.length > 0) socket.write(payload);
  if (endAfterWrite) socket.end();
  await once(socket, 'close');
  return { text: Buffer.concat(chunks).toString('latin1'), reset };
}

/** `127.0.0.<n>` for n in 2..254: distinct client source addresses on Linux loopback. */
export function sourceAddress(n: number): string {
  if (n < 0 || n > 252) throw new RangeError('source address index out of range');
  return `127.0.0.${n + 2}`;
}

/** An HTTP response read off a raw connection, up to the server's close. */
export interface RawResponse {
  /** 0 when no status line arrived. */
  status: number;
  /** Header names lower-cased. */
  headers: Record<string, string>;
  body: Buffer;
  /** Every byte the server sent. */
  raw: Buffer;
  /** The connection ended by an error (reset) rather than a clean close. */
  reset: boolean;
}

function parseRawResponse(raw: Buffer, reset: boolean): RawResponse {
  const end = raw.indexOf('\r\n\r\n');
  if (end === -1) return { status: 0, headers: {}, body: Buffer.alloc(0), raw, reset };
  const lines = raw.toString('latin1', 0, end).split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let body = raw.subarray(end + 4);
  const length = headers['content-length'];
  if (length !== undefined) body = body.subarray(0, Number(length));
  return { status: status === null ? 0 : Number(status[1]), headers, body, raw, reset };
}

/**
 * Opens a fresh connection and writes `parts` in order; each part after the first is written `gapMs`
 * after the previous one was flushed to the kernel. Collects what the server sends until it closes the
 * connection (send `Connection: close`), and parses it as one HTTP response.
 */
export async function sendInParts(port: number, parts: readonly (Buffer | string)[], { localAddress = '127.0.0.1', gapMs = 0, timeout = 10_000 } = {}): Promise<RawResponse> {
  const socket = net.connect({ host: '127.0.0.1', port, localAddress });
  const chunks: Buffer[] = [];
  let reset = false;
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => { reset = true; });
  socket.setTimeout(timeout, () => socket.destroy(new Error('raw exchange timed out')));
  const closed = once(socket, 'close');
  await once(socket, 'connect');
  for (const [index, part] of parts.entries()) {
    if (index > 0 && gapMs > 0) await pause(gapMs);
    if (socket.destroyed) break;
    await new Promise<void>((resolve) => socket.write(part, () => resolve()));
  }
  await closed;
  return parseRawResponse(Buffer.concat(chunks), reset);
}

/** Connects from `localAddress`, writes `payload`, and collects what arrives until the server closes (by FIN or reset). */
export async function sendUntilClosed(port: number, payload: Buffer | string, localAddress: string): Promise<{ bytes: number; closed: boolean }> {
  const socket = net.connect({ host: '127.0.0.1', port, localAddress });
  let bytes = 0;
  let isTimedOut = false;
  socket.on('data', (chunk: Buffer) => { bytes += chunk.length; });
  // A server that closes without reading what was sent makes the kernel answer with a reset, also
  // before 'connect' is seen: an error is an outcome here, so no events.once (which rejects on one).
  socket.on('error', () => {});
  socket.setTimeout(5_000, () => {
    isTimedOut = true;
    socket.destroy();
  });
  const closed = new Promise((resolve) => socket.once('close', resolve));
  socket.once('connect', () => {
    if (payload.length > 0) socket.write(payload);
  });
  await closed;
  return { bytes, closed: !isTimedOut };
}

/** A request head (ending in the blank line) that asks the server to close after replying. */
export function requestHead(method: string, path: string, headers: Record<string, string | number> = {}): string {
  const lines = [`${method} ${path} HTTP/1.1`, 'Host: localhost', 'Connection: close'];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/** A PROXY protocol v1 header line. */
export function proxyV1(source: string, { destination = isIPv4(source) ? '127.0.0.1' : '::1', sourcePort = 40_000, destinationPort = 80 } = {}): string {
  return `PROXY ${isIPv4(source) ? 'TCP4' : 'TCP6'} ${source} ${destination} ${sourcePort} ${destinationPort}\r\n`;
}

const PROXY_V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

function ipv6Bytes(address: string): Buffer {
  const [head = '', tail] = address.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  const bytes = Buffer.alloc(16);
  groups.forEach((group, i) => bytes.writeUInt16BE(Number.parseInt(group, 16), i * 2));
  return bytes;
}

/**
 * A PROXY protocol v2 header, built byte by byte: `command` 1 = PROXY, 0 = LOCAL; `tlvs` are appended
 * after the addresses (counted in the length), as proxies do with their extensions.
 */
export function proxyV2(source: string, { destination = isIPv4(source) ? '127.0.0.1' : '::1', sourcePort = 40_000, destinationPort = 80, command = 1, tlvs = Buffer.alloc(0) } = {}): Buffer {
  const v4 = isIPv4(source);
  const addresses = v4
    ? Buffer.concat([Buffer.from(source.split('.').map(Number)), Buffer.from(destination.split('.').map(Number))])
    : Buffer.concat([ipv6Bytes(source), ipv6Bytes(destination)]);
  const ports = Buffer.alloc(4);
  ports.writeUInt16BE(sourcePort, 0);
  ports.writeUInt16BE(destinationPort, 2);
  const fixed = Buffer.alloc(4);
  fixed[0] = 0x20 | command;
  fixed[1] = v4 ? 0x11 : 0x21; // TCP over IPv4 / IPv6
  fixed.writeUInt16BE(addresses.length + ports.length + tlvs.length, 2);
  return Buffer.concat([PROXY_V2_SIGNATURE, fixed, addresses, ports, tlvs]);
}

/** Parses the JSON body a fixture worker sent; throws with the raw text when it is not JSON. */
export function replyOf(response: RawResponse): WorkerReply {
  try {
    return JSON.parse(response.body.toString()) as WorkerReply;
  } catch {
    throw new Error(`not a worker reply (status ${response.status}): ${response.raw.toString('latin1').slice(0, 200)}`);
  }
}

/** Runs `fn` over `items` with at most `limit` calls in flight; results keep the items' order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index] as T, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}

/**
 * An agent whose connections (from `localAddress`) start with `header`, as a proxy speaking the PROXY
 * protocol opens them; with `keepAlive` and `maxSockets: 1` every request shares one connection.
 */
export function proxiedAgent(port: number, header: Buffer | string, { localAddress = '127.0.0.1', keepAlive = true } = {}): http.Agent {
  const agent = new http.Agent({ keepAlive, maxSockets: 1 });
  // Node's typings do not declare the createConnection an Agent calls for each socket.
  (agent as unknown as { createConnection: () => net.Socket }).createConnection = () => {
    const socket = net.connect({ host: '127.0.0.1', port, localAddress });
    socket.write(header);
    return socket;
  };
  return agent;
}

/** Resolves whether nothing listens on `port` of 127.0.0.1 (by binding it for a moment). */
function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', () => resolve(false));
    probe.listen({ port, host: '127.0.0.1', exclusive: true }, () => probe.close(() => resolve(true)));
  });
}

/**
 * A free port below the kernel's ephemeral range, for a test whose primary closes its port for a
 * while and must find it free again (or refused) afterwards: ports of `listen(0)` in a test file
 * running alongside, and source ports of outgoing connections, come from that range and never take it.
 */
export async function portBelowEphemeralRange(): Promise<number> {
  let low = 32_768;
  try {
    low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || low;
  } catch {
    // Not Linux: the usual start of the range.
  }
  const first = Math.max(1_024, low - 12_000);
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = first + Math.floor(Math.random() * (low - first));
    if (await isPortFree(port)) return port;
  }
  throw new Error(`no free port found between ${first} and ${low}`);
}

/** A request whose answer is any JSON (the examples' own shapes). */
export function getJson<T>(
  port: number, path: string, { localAddress = '127.0.0.1', method = 'GET', agent = false as http.Agent | false } = {},
): Promise<T> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, localAddress, agent, timeout: 10_000 }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => { text += chunk.toString(); });
      res.on('end', () => {
        try {
          resolve(JSON.parse(text) as T);
        } catch {
          reject(new Error(`not JSON (status ${res.statusCode}): ${text.slice(0, 200)}`));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end();
  });
}
