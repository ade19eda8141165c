import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';

export interface WorkerReply {
  workerId: number;
  slot: number;
  pid: number;
  method: string;
  url: string;
  bytes: number;
  sha256: string;
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
