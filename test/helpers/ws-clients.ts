import { once } from 'node:events';
import { expect } from 'vitest';
import WebSocket from 'ws';
import { until } from './cluster.js';
import { sourceAddress } from './client.js';

// ws clients that check a server's per-connection sequences: each sends numbered messages and reads
// the server's replies and pushes, which carry the connection's server-side sequence (`seq`) and the
// pid of the process that sent them. A gap or a repeat on either side is counted, and every close.

export interface Client {
  ws: WebSocket;
  sent: number;
  replies: number;
  nextReply: number;
  nextSeq: number;
  gaps: number;
  duplicates: number;
  closes: number[];
  big: number;
  byPid: Map<number, number>;
  timer?: NodeJS.Timeout;
}

export interface ServerMessage { t: 'reply' | 'push'; n?: number; seq: number; pid: number; pad?: string }

export function track(ws: WebSocket): Client {
  const client: Client = {
    ws, sent: 0, replies: 0, nextReply: 1, nextSeq: 1, gaps: 0, duplicates: 0, closes: [], big: 0, byPid: new Map(),
  };
  ws.on('message', (data) => {
    const message = JSON.parse(data.toString()) as ServerMessage;
    if (message.seq < client.nextSeq) client.duplicates++;
    if (message.seq > client.nextSeq) client.gaps++;
    client.nextSeq = message.seq + 1;
    client.byPid.set(message.pid, (client.byPid.get(message.pid) ?? 0) + 1);
    if (message.pad !== undefined) client.big++;
    if (message.t !== 'reply' || message.n === undefined) return;
    client.replies++;
    if (message.n < client.nextReply) client.duplicates++;
    if (message.n > client.nextReply) client.gaps++;
    client.nextReply = message.n + 1;
  });
  ws.on('close', (code) => client.closes.push(code));
  return client;
}

export async function connect(port: number, id: number, perMessageDeflate: boolean, isTls = false): Promise<Client> {
  const url = `${isTls ? 'wss' : 'ws'}://127.0.0.1:${port}/?id=${id}`;
  // The TLS fixtures' certificate is self-signed, for these tests only.
  const ws = new WebSocket(url, { localAddress: sourceAddress(id % 250), perMessageDeflate, rejectUnauthorized: false });
  const client = track(ws);
  await once(ws, 'open');
  return client;
}

export function startSending(client: Client, everyMs: number): void {
  client.timer = setInterval(() => {
    if (client.ws.readyState === WebSocket.OPEN) client.ws.send(JSON.stringify({ n: ++client.sent }));
  }, everyMs);
}

export async function openClients(
  port: number, count: number, perMessageDeflate: boolean, firstId = 0, everyMs?: number,
): Promise<Client[]> {
  const clients = await Promise.all(Array.from({ length: count }, (_, i) => connect(port, firstId + i, perMessageDeflate)));
  clients.forEach((client, id) => startSending(client, everyMs ?? 20 + (id % 31)));
  return clients;
}

/** Waits until every client heard `count` messages from `pid`. */
export async function heardFrom(clients: Client[], pid: number, count: number): Promise<void> {
  await until(() => clients.every((client) => (client.byPid.get(pid) ?? 0) >= count),
    { timeout: 20_000, what: `every client heard ${count} messages from ${pid}` });
}

/** Stops the clients' sending, waits for every reply, and closes them. */
export async function finish(clients: Client[]): Promise<void> {
  for (const client of clients) clearInterval(client.timer);
  await until(() => clients.every((client) => client.replies === client.sent), { timeout: 20_000, what: 'every reply' });
  for (const client of clients) {
    expect({ closes: client.closes, gaps: client.gaps, duplicates: client.duplicates })
      .toEqual({ closes: [], gaps: 0, duplicates: 0 });
  }
  await Promise.all(clients.map(async (client) => {
    client.ws.close();
    await once(client.ws, 'close');
  }));
}

/** A masked client text frame of `text` (RFC 6455 §5.2), short payloads only. */
export function maskedFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  const mask = Buffer.from([0x12, 0x34, 0x56, 0x78]);
  const masked = payload.map((byte, i) => byte ^ (mask[i % 4] ?? 0));
  return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]);
}

/** The ws client's receiver and inflater, as far as a stalled client shows them (ws internals, for diagnosis). */
function receiverState(ws: WebSocket): object {
  const internals = ws as unknown as {
    _receiver: Record<string, unknown>;
    _extensions: Record<string, { _inflate?: Record<string, unknown> & { writableLength?: number } | null }>;
  };
  const receiver = internals._receiver;
  const inflate = internals._extensions['permessage-deflate']?._inflate;
  return {
    state: receiver._state, loop: receiver._loop, fragmented: receiver._fragmented, compressed: receiver._compressed,
    payloadLength: receiver._payloadLength, bufferedBytes: receiver._bufferedBytes,
    inflate: inflate === undefined ? 'none' : inflate === null ? 'null' : {
      writableLength: inflate.writableLength, ended: inflate.writableEnded, destroyed: inflate.destroyed,
      pendingcb: (inflate._writableState as { pendingcb: number }).pendingcb,
      readEnded: (inflate._readableState as { ended: boolean }).ended,
      endEmitted: (inflate._readableState as { endEmitted: boolean }).endEmitted,
      handle: inflate._handle === null ? 'null' : typeof inflate._handle,
      writing: (inflate._writableState as { writing: boolean }).writing,
      flowing: (inflate._readableState as { flowing: boolean | null }).flowing,
      readableLength: (inflate._readableState as { length: number }).length,
      writeState: Array.from((inflate as { _writeState?: Uint32Array })._writeState ?? []),
      dataListeners: (inflate as unknown as { listenerCount(name: string): number }).listenerCount('data'),
      bytesWritten: inflate.bytesWritten,
      chunk: (inflate._handle as { buffer?: Buffer } | null)?.buffer?.toString('base64'),
    },
  };
}

/** Waits until every client heard `count` messages from one of `pids`; a failure names the silent clients. */
export async function heardFromAny(clients: Client[], pids: Set<number>, count: number, timeout = 60_000): Promise<void> {
  const hasHeard = (client: Client): boolean => [...pids].some((pid) => (client.byPid.get(pid) ?? 0) >= count);
  try {
    await until(() => clients.every(hasHeard), { timeout, what: `every client heard ${count} messages from ${[...pids].join(', ')}` });
  } catch (error) {
    const silent = clients.filter((client) => !hasHeard(client)).map((client) => ({
      byPid: Object.fromEntries(client.byPid), closes: client.closes, sent: client.sent, replies: client.replies,
      state: client.ws.readyState, extensions: client.ws.extensions, buffered: client.ws.bufferedAmount,
      lastSeq: client.nextSeq - 1, receiver: receiverState(client.ws),
    }));
    const message = `${(error as Error).message}: ${silent.length} silent (${silent.filter((c) => c.extensions !== '').length}`
      + ` with deflate), e.g. ${JSON.stringify(silent.slice(0, 3))}`;
    const stuck = silent.filter((c) => /"pendingcb":[1-9]/.test(JSON.stringify(c.receiver)));
    // Clients whose inflate has a zlib write that never returned: ws runs at most 10 at once per process.
    throw new Error(`${message}; holding zlib: ${stuck.length}: ${JSON.stringify(stuck.slice(0, 4))}`);
  }
}
