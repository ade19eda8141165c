import { EventEmitter } from 'node:events';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { pEvent } from 'p-event';
import { describe, expect, it, onTestFinished } from 'vitest';
import { normalizeListenOptions, type ListenOptions } from '../../src/options/index.js';
import { HeadReader, HeadVerdict, type HeadInspector, type HeadLimits, type Refusal } from '../../src/sticky/routing/head-reader-primary.js';
import { acceptBareHandles, socketOfHandle, type TcpHandle } from '../../src/internal/node-internals-primary.js';
import { closeConnection, type Connection } from '../../src/sticky/connection.js';
import { createRoutingStrategy } from '../../src/sticky/routing/routing-strategy-primary.js';
import { proxyV1, requestHead } from '../helpers/client.js';

// The head reader over real loopback connections in this process, on the bare handles the listening
// socket accepts (as the primary hop reads them): it asks the strategy once per chunk,
// stops at its verdict, and refuses on its own what only it can see (size across reads, age,
// the number of heads in flight). Time is passed in, so the 408 verdict needs no waiting.

const SLOTS = 8;
const WAIT = { timeout: 5_000 };

interface Look { length: number; verdict: HeadVerdict }
interface Routed { socket: Connection; peer: string; slot: number | undefined; bytes: string | undefined }

async function startReader(input: ListenOptions, limits: Partial<HeadLimits> = {}) {
  const options = normalizeListenOptions({ workers: SLOTS, hashSeed: 7, headTimeout: 60_000, ...input });
  const strategy = createRoutingStrategy(options);
  if (strategy.reads === 'nothing') throw new Error('expected a strategy that reads a head');
  const events = new EventEmitter();
  const looks: Look[] = [];
  const refused: { socket: Connection; refusal: Refusal }[] = [];
  const recording: HeadInspector = {
    inspect: (buffer, head, slots) => {
      const verdict = strategy.inspect(buffer, head, slots);
      looks.push({ length: buffer.length, verdict });
      events.emit('look', buffer.length);
      return verdict;
    },
  };
  const reader = new HeadReader(recording, { size: SLOTS }, {
    onHead: (socket, peer, slot, bytes) => events.emit('head', { socket, peer, slot, bytes }),
    onRefuse: (socket, refusal) => {
      refused.push({ socket, refusal });
      closeConnection(socket);
    },
  }, { maxHeadBytes: options.maxHeadBytes, headTimeout: options.headTimeout, maxPendingHeads: options.maxPendingHeads, ...limits });
  const handles: TcpHandle[] = [];
  const startedAt: number[] = [];
  const server = createServer({ pauseOnConnect: true });
  server.listen(0, '127.0.0.1');
  await pEvent(server, 'listening', WAIT);
  expect(acceptBareHandles(server, (status, handle) => {
    if (status !== 0 || handle === undefined) return;
    handles.push(handle);
    const peer: { address?: string; port?: number } = {};
    handle.getpeername(peer);
    // Whole ms, so that `since + headTimeout - headTimeout` is `since` exactly.
    startedAt.push(Math.round(performance.now()));
    reader.start(handle, peer.address ?? '', peer.port ?? 0, startedAt[startedAt.length - 1] as number);
    events.emit('accepted', handle);
  })).toBe(true);
  const port = (server.address() as AddressInfo).port;
  onTestFinished(() => {
    reader.drain();
    for (const handle of handles) handle.close();
    server.close();
  });

  /** A client whose every write reaches the reader as its own chunk. */
  async function client(): Promise<{ client: Socket; socket: TcpHandle; send: (bytes: Buffer | string) => Promise<void> }> {
    const accepted = pEvent<string, TcpHandle>(events, 'accepted', WAIT);
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
    const { socket: routedSocket, peer, slot, bytes } = await routed;
    expect(routedSocket).toBe(socket);
    expect(peer).toBe('127.0.0.1');
    expect(slot).toBe(7);
    expect(Buffer.from(bytes ?? '', 'base64').toString('latin1')).toBe(`${head}BODY`);
    expect(looks.map((look) => look.length)).toEqual([...Array.from({ length: head.length - 1 }, (_, i) => i + 1), head.length + 4]);
    expect(looks.filter((look) => look.verdict !== HeadVerdict.readMore)).toEqual([{ length: head.length + 4, verdict: HeadVerdict.route }]);
    expect(reader.size).toBe(0);
  });

  it('takes a head that arrives whole in one read, in one look, and reads nothing after it', async () => {
    const { events, looks, client } = await startReader({ proxyHeader: 'x-forwarded-for' });
    const { client: peer } = await client();
    const head = requestHead('GET', '/one', { 'X-Forwarded-For': '203.0.113.7' });
    const routed = pEvent<string, Routed>(events, 'head', WAIT);
    peer.write(head);
    const { socket, slot, bytes } = await routed;
    expect(slot).toBe(7);
    expect(Buffer.from(bytes ?? '', 'base64').toString('latin1')).toBe(head);
    expect(looks).toEqual([{ length: head.length, verdict: HeadVerdict.route }]);
    // Reads stopped with the verdict: what the client sends now stays in the kernel for the worker,
    // which wraps the handle in a socket and reads it.
    peer.write('later');
    const worker = socketOfHandle(socket as TcpHandle);
    onTestFinished(() => { worker.destroy(); });
    const later = pEvent<string, Buffer>(worker, 'data', WAIT);
    worker.resume();
    expect((await later).toString()).toBe('later');
    expect(looks).toHaveLength(1);
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
    const { client: peer, send } = await client();
    await send('GET / HT');
    // The reader closes its side when it reads the end: the client sees the connection end.
    const closed = pEvent(peer, 'close', WAIT);
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
    expect(drained.map((entry) => ({ socket: entry.connection, peer: entry.peerAddress, text: entry.buffer.toString('latin1') })))
      .toEqual([{ socket, peer: '127.0.0.1', text: 'GET /partial HTTP/1.1\r\n' }]);
    expect(reader.size).toBe(0);
  });
});
