import { EventEmitter } from 'node:events';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { pEvent } from 'p-event';
import { describe, expect, it, onTestFinished } from 'vitest';
import { normalizeListenOptions, type ListenOptions } from '../../src/options/index.js';
import { HeadReader, HeadVerdict, type HeadInspector, type HeadLimits, type Refusal } from '../../src/sticky/routing/head-reader-primary.js';
import { createRoutingStrategy } from '../../src/sticky/routing/routing-strategy-primary.js';
import { proxyV1, requestHead } from '../helpers/client.js';

// The head reader over real loopback sockets in this process: it asks the strategy once per chunk,
// stops at its verdict, and refuses on its own what only it can see (size across reads, age,
// the number of heads in flight). Time is passed in, so the 408 verdict needs no waiting.

const SLOTS = 8;
const WAIT = { timeout: 5_000 };

interface Look { length: number; verdict: HeadVerdict }
interface Routed { socket: Socket; slot: number | undefined; bytes: string | undefined }

async function startReader(input: ListenOptions, limits: Partial<HeadLimits> = {}) {
  const options = normalizeListenOptions({ workers: SLOTS, hashSeed: 7, headTimeout: 60_000, ...input });
  const strategy = createRoutingStrategy(options);
  if (strategy.reads === 'nothing') throw new Error('expected a strategy that reads a head');
  const events = new EventEmitter();
  const looks: Look[] = [];
  const refused: { socket: Socket; refusal: Refusal }[] = [];
  const recording: HeadInspector = {
    inspect: (buffer, head, slots) => {
      const verdict = strategy.inspect(buffer, head, slots);
      looks.push({ length: buffer.length, verdict });
      events.emit('look', buffer.length);
      return verdict;
    },
  };
  const reader = new HeadReader(recording, { size: SLOTS }, {
    onHead: (socket, slot, bytes) => events.emit('head', { socket, slot, bytes }),
    onRefuse: (socket, refusal) => {
      refused.push({ socket, refusal });
      socket.destroy();
    },
  }, { maxHeadBytes: options.maxHeadBytes, headTimeout: options.headTimeout, maxPendingHeads: options.maxPendingHeads, ...limits });
  const sockets: Socket[] = [];
  const startedAt: number[] = [];
  const server = createServer({ pauseOnConnect: true }, (socket) => {
    sockets.push(socket);
    // Whole ms, so that `since + headTimeout - headTimeout` is `since` exactly.
    startedAt.push(Math.round(performance.now()));
    reader.start(socket, startedAt[startedAt.length - 1] as number);
    events.emit('accepted', socket);
  });
  server.listen(0, '127.0.0.1');
  await pEvent(server, 'listening', WAIT);
  const port = (server.address() as AddressInfo).port;
  onTestFinished(() => {
    reader.drain();
    for (const socket of sockets) socket.destroy();
    server.close();
  });

  /** A client whose every write reaches the reader as its own chunk. */
  async function client(): Promise<{ client: Socket; socket: Socket; send: (bytes: Buffer | string) => Promise<void> }> {
    const accepted = pEvent<string, Socket>(events, 'accepted', WAIT);
    const socket = connect({ port, host: '127.0.0.1', noDelay: true });
    onTestFinished(() => { socket.destroy(); });
    const serverSide = await accepted;
    let received = 0;
    const send = async (bytes: Buffer | string): Promise<void> => {
      received += Buffer.byteLength(bytes);
      const target = received;
      const looked = pEvent(events, 'look', { ...WAIT, filter: (length: number) => length >= target });
      socket.write(bytes);
      await looked;
    };
    return { client: socket, socket: serverSide, send };
  }

  return { reader, events, looks, refused, client, startedAt };
}

describe('HeadReader', () => {
  it('looks once per byte of a head sent byte by byte, then routes it with the bytes that came along', async () => {
    const { reader, events, looks, client } = await startReader({ proxyHeader: 'x-forwarded-for' });
    const { socket, send } = await client();
    const head = requestHead('POST', '/a', { 'X-Forwarded-For': '203.0.113.7', 'Content-Length': 4 });
    for (let i = 0; i < head.length - 1; i++) await send(head[i] as string);
    expect(reader.size).toBe(1);
    const routed = pEvent<string, Routed>(events, 'head', WAIT);
    await send(`${head.slice(-1)}BODY`);
    const { socket: routedSocket, slot, bytes } = await routed;
    expect(routedSocket).toBe(socket);
    expect(slot).toBe(7);
    expect(Buffer.from(bytes ?? '', 'base64').toString('latin1')).toBe(`${head}BODY`);
    expect(looks.map((look) => look.length)).toEqual([...Array.from({ length: head.length - 1 }, (_, i) => i + 1), head.length + 4]);
    expect(looks.filter((look) => look.verdict !== HeadVerdict.readMore)).toEqual([{ length: head.length + 4, verdict: HeadVerdict.route }]);
    expect(reader.size).toBe(0);
  });

  it('refuses a head that outgrows maxHeadBytes across reads (431 verdict)', async () => {
    const { reader, refused, client } = await startReader({ proxyHeader: 'x-forwarded-for' }, { maxHeadBytes: 64 });
    const { socket, send } = await client();
    const oversize = `GET / HTTP/1.1\r\nX-Pad: ${'a'.repeat(80)}`;
    for (let at = 0; at <= 64; at += 8) await send(oversize.slice(at, at + 8));
    expect(refused).toEqual([{ socket, refusal: HeadVerdict.headTooLarge }]);
    expect(reader.size).toBe(0);
  });

  it('refuses a slow head once headTimeout has passed since it started (408 verdict), and not before', async () => {
    const { reader, refused, client, startedAt } = await startReader({ proxyHeader: 'x-forwarded-for' });
    const { socket, send } = await client();
    await send('GET / HTTP/1.1\r\nHost: x\r\n');
    const since = startedAt[0] as number;
    reader.expire(since + 59_999);
    expect(refused).toEqual([]);
    expect(reader.size).toBe(1);
    reader.expire(since + 60_000);
    expect(refused).toEqual([{ socket, refusal: HeadVerdict.headTimeout }]);
    expect(reader.size).toBe(0);
  });

  it('refuses a connection at once when maxPendingHeads heads are being read', async () => {
    const { reader, refused, client } = await startReader({ proxyHeader: 'x-forwarded-for' }, { maxPendingHeads: 1 });
    await client();
    const second = await client();
    expect(refused).toEqual([{ socket: second.socket, refusal: HeadVerdict.overloaded }]);
    expect(reader.size).toBe(1);
  });

  it('closes a connection whose client leaves mid-head, with no verdict', async () => {
    const { reader, events, refused, client } = await startReader({ proxyHeader: 'x-forwarded-for' });
    const { client: peer, socket, send } = await client();
    await send('GET / HT');
    const closed = pEvent(socket, 'close', WAIT);
    peer.end();
    await closed;
    expect(reader.size).toBe(0);
    expect(refused).toEqual([]);
    expect(events.listenerCount('head')).toBe(0);
  });

  it('refuses a bad PROXY header, and routes a good one handing over only what follows it', async () => {
    const { events, refused, client } = await startReader({ proxyProtocol: true, trustedProxies: ['127.0.0.1'] });
    const bad = await client();
    await bad.send('PROXY TCP4 198.51.100.23 127.0.0.1 99999 80\r\n');
    expect(refused).toEqual([{ socket: bad.socket, refusal: HeadVerdict.invalidProxyHeader }]);
    const good = await client();
    const header = proxyV1('198.51.100.23');
    for (const byte of header.slice(0, -1)) await good.send(byte);
    const routed = pEvent<string, Routed>(events, 'head', WAIT);
    await good.send('\nGET');
    const { slot, bytes } = await routed;
    expect(slot).toBe(0);
    expect(Buffer.from(bytes ?? '', 'base64').toString('latin1')).toBe('GET');
  });

  it('drains: every head still being read, with its bytes so far', async () => {
    const { reader, client } = await startReader({ proxyHeader: 'x-forwarded-for' });
    const { socket, send } = await client();
    await send('GET /partial HTTP/1.1\r\n');
    const drained = reader.drain();
    expect(drained.map((entry) => ({ socket: entry.socket, text: entry.buffer.toString('latin1') }))).toEqual([
      { socket, text: 'GET /partial HTTP/1.1\r\n' },
    ]);
    expect(reader.size).toBe(0);
  });
});
