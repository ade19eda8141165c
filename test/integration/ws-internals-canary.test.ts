import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it, onTestFinished } from 'vitest';
import { pEvent } from 'p-event';
import WebSocket, { WebSocketServer, type ServerOptions } from 'ws';
import {
  connectionSettings, frameState, isDetachable, socketOfWebSocket,
} from '../../src/internal/ws-internals-worker.js';
import { freezeWebSocket, type FrozenWebSocket } from '../../src/sticky/ws-freeze-worker.js';
import { thawWebSocket } from '../../src/sticky/ws-thaw-worker.js';
import { until } from '../helpers/cluster.js';

// If one of these fails after a ws upgrade, an accessor of src/internal/ws-internals-worker.ts relies
// on a private API of ws that changed: fix the accessor there (the rest of src only calls it). Real
// sockets on loopback, one process: the handle is thawed beside its frozen socket, never released.

const wsVersion = (JSON.parse(readFileSync(createRequire(import.meta.url).resolve('ws/package.json'), 'utf8')) as
  { version: string }).version;

interface Pair { wss: WebSocketServer; server: WebSocket; client: WebSocket }

async function pair(options: ServerOptions = {}, clientOptions: WebSocket.ClientOptions = {}, protocol?: string): Promise<Pair> {
  const httpServer = http.createServer();
  const wss = new WebSocketServer({ server: httpServer, ...options });
  httpServer.listen(0, '127.0.0.1');
  await once(httpServer, 'listening');
  onTestFinished(() => { wss.close(); httpServer.close(); httpServer.closeAllConnections(); });
  const { port } = httpServer.address() as AddressInfo;
  const accepted = pEvent<string, WebSocket>(wss, 'connection', { timeout: 5_000 });
  const client = new WebSocket(`ws://127.0.0.1:${port}/`, protocol, { perMessageDeflate: false, ...clientOptions });
  onTestFinished(() => client.terminate());
  const [server] = await Promise.all([accepted, once(client, 'open')]);
  return { wss, server, client };
}

/** A pair with deflate that can move (no context takeover), a successor server, and what the client heard. */
async function movablePair(): Promise<Pair & { successor: WebSocketServer; heard: string[] }> {
  const options = { perMessageDeflate: { serverNoContextTakeover: true, clientNoContextTakeover: true, threshold: 0 } };
  const moving = await pair(options, { perMessageDeflate: true });
  const heard: string[] = [];
  moving.client.on('message', (data) => heard.push(String(data)));
  return { ...moving, successor: new WebSocketServer({ noServer: true, ...options }), heard };
}

async function frozen(ws: WebSocket): Promise<FrozenWebSocket> {
  const result = await freezeWebSocket(ws, { timeout: 2_000 });
  if ('refused' in result) throw new Error(`refused: ${result.refused}`);
  return result;
}

const textOf = async (ws: WebSocket): Promise<string> => String((await once(ws, 'message'))[0]);

describe('the ws internals a WebSocket move relies on', () => {
  it('runs on a supported ws major', () => {
    expect(wsVersion).toMatch(/^8\./);
  });

  it('frameState: an idle server-side WebSocket is between frames both ways, with the listeners to detach', async () => {
    const { server } = await pair();
    expect(frameState(server)).toEqual({ isOpen: true, isReceiverAtFrame: true, isReceiverInMessage: false, isSenderBusy: false });
    expect(isDetachable(server)).toBe(true);
    expect(socketOfWebSocket(server)?.remoteAddress).toBe('127.0.0.1');
  });

  it('frameState: a client frame half-read, and a message half-sent', async () => {
    const { server, client } = await pair();
    const raw = (client as unknown as { _socket: Socket })._socket;
    raw.write(Buffer.from([0x81, 0x85, 1, 2, 3, 4, 0x61]));
    await until(() => !frameState(server).isReceiverAtFrame, { what: 'the receiver mid-frame' });
    server.send('half', { fin: false });
    expect(frameState(server).isSenderBusy).toBe(true);
    server.send('done', { fin: true });
    await until(() => !frameState(server).isSenderBusy, { what: 'the sender idle' });
  });

  it('connectionSettings: the subprotocol, binaryType, maxPayload and the accepted deflate parameters', async () => {
    const { server } = await pair({
      maxPayload: 4096, handleProtocols: () => 'chat',
      perMessageDeflate: { serverNoContextTakeover: true, clientNoContextTakeover: true },
    }, { perMessageDeflate: true }, 'chat');
    server.binaryType = 'arraybuffer';
    expect(connectionSettings(server)).toEqual({
      protocol: 'chat', binaryType: 'arraybuffer', maxPayload: 4096, isPaused: false,
      deflate: { server_no_context_takeover: true, client_no_context_takeover: true },
    });
  });

  it('detach and reattach: sends on the frozen object fail, nothing the client sent meanwhile is lost', async () => {
    const { server, client } = await pair();
    const moved = await frozen(server);
    expect(server.readyState).toBe(WebSocket.CLOSING);
    expect(() => server.send('lost?')).toThrow(expect.objectContaining({ code: 'STICKY_ERR_WS_MOVED' }));
    const [error] = await new Promise<unknown[]>((resolve) => server.send('lost?', (...args) => resolve(args)));
    expect(error).toMatchObject({ code: 'STICKY_ERR_WS_MOVED' });
    client.send('while frozen');
    const received = textOf(server);
    moved.restore();
    expect(await received).toBe('while frozen');
    const echoed = textOf(client);
    server.send('back');
    expect(await echoed).toBe('back');
  });

  it('rebuild: a thawed WebSocket with deflate (no context takeover) reads what crossed and goes on', async () => {
    const { server, client, successor } = await movablePair();
    const moved = await frozen(server);
    client.send('crossing');
    const ws = thawWebSocket(moved.handle, moved.description, { server: successor }) as WebSocket;
    expect(successor.clients.has(ws)).toBe(true);
    const received = textOf(ws);
    ws.resume();
    expect(await received).toBe('crossing');
    const echoed = textOf(client);
    ws.send('from the successor');
    expect(await echoed).toBe('from the successor');
    expect(connectionSettings(ws).deflate).toEqual(moved.description.deflate);
    // Not released: in one process both objects share the handle, and releasing would close it.
    ws.terminate();
  });

  it('messages sent while it waits for its boundary are held: they travel in the description, the successor sends them first', async () => {
    const { server, successor, heard } = await movablePair();
    server.send('part-1 ', { fin: false });
    const freezing = freezeWebSocket(server, { timeout: 2_000 });
    // The message this sender began ends on it; what comes after waits for the move.
    server.send('part-2', { fin: true });
    server.send('held-1');
    server.send(Buffer.from('held-2'), { binary: true });
    // A message begun after a held one is held too, and the move waits for its last fragment.
    server.send('frag-a ', { fin: false });
    // Its last fragment comes only once the client has the first message: the sender has long been idle.
    void until(() => heard.length === 1, { what: 'the first message' })
      .then(() => server.send('frag-b', { fin: true }, () => undefined));
    const moved = await freezing;
    if ('refused' in moved) throw new Error(`refused: ${moved.refused}`);
    const sends = moved.description.sends?.map((send) => [Buffer.from(send.data, 'base64').toString(), send.fin]);
    expect(sends).toEqual([['held-1', true], ['held-2', true], ['frag-a ', false], ['frag-b', true]]);
    expect(moved.description.sends?.map((send) => send.binary)).toEqual([false, true, false, false]);
    const ws = thawWebSocket(moved.handle, moved.description, { server: successor }) as WebSocket;
    ws.send('after');
    await until(() => heard.length === 5, { what: 'five messages' });
    expect(heard).toEqual(['part-1 part-2', 'held-1', 'held-2', 'frag-a frag-b', 'after']);
    ws.terminate();
  });

  it('a message the application begins while nothing is held ends on the same sender: it is never split', async () => {
    const { server, successor, heard } = await movablePair();
    // Being compressed (asynchronously): the sender is busy, the move waits.
    server.send('busy');
    const freezing = freezeWebSocket(server, { timeout: 2_000 });
    server.send('quarter-1 ', { fin: false });
    setImmediate(() => {
      server.send('quarter-2', { fin: true });
      server.send('next');
    });
    const moved = await freezing;
    if ('refused' in moved) throw new Error(`refused: ${moved.refused}`);
    expect(moved.description.sends?.map((send) => Buffer.from(send.data, 'base64').toString())).toEqual(['next']);
    const ws = thawWebSocket(moved.handle, moved.description, { server: successor }) as WebSocket;
    await until(() => heard.length === 3, { what: 'three messages' });
    expect(heard).toEqual(['busy', 'quarter-1 quarter-2', 'next']);
    ws.terminate();
  });

  it('messages held while it waited are sent by the same WebSocket, in order, when it stays', async () => {
    const { server, client } = await pair();
    const heard: string[] = [];
    client.on('message', (data) => heard.push(String(data)));
    server.send('part-1 ', { fin: false });
    const freezing = freezeWebSocket(server, { timeout: 2_000 });
    server.send('part-2', { fin: true });
    const called = new Promise<unknown>((resolve) => server.send('held', (error) => resolve(error ?? 'sent')));
    const moved = await freezing;
    if ('refused' in moved) throw new Error(`refused: ${moved.refused}`);
    moved.restore();
    server.send('after');
    expect(await called).toBe('sent');
    await until(() => heard.length === 3, { what: 'three messages' });
    expect(heard).toEqual(['part-1 part-2', 'held', 'after']);
  });

  it('refuses a client frame still half-read at the deadline, and keeps serving it', async () => {
    const { server, client } = await pair();
    const raw = (client as unknown as { _socket: Socket })._socket;
    const frame = Buffer.from([0x81, 0x82, 0, 0, 0, 0, 0x68, 0x69]);
    raw.write(frame.subarray(0, 7));
    await until(() => !frameState(server).isReceiverAtFrame, { what: 'the receiver mid-frame' });
    expect(await freezeWebSocket(server, { timeout: 30 })).toEqual({ refused: 'midFrame' });
    const received = textOf(server);
    raw.write(frame.subarray(7));
    expect(await received).toBe('hi');
  });

  it('refuses TLS terminated in this process and deflate with context takeover, leaving them open', async () => {
    const tls = { cert: readFileSync(new URL('../fixtures/tls/cert.pem', import.meta.url)),
      key: readFileSync(new URL('../fixtures/tls/key.pem', import.meta.url)) };
    const httpsServer = https.createServer(tls);
    const wss = new WebSocketServer({ server: httpsServer });
    httpsServer.listen(0, '127.0.0.1');
    await once(httpsServer, 'listening');
    onTestFinished(() => { wss.close(); httpsServer.close(); httpsServer.closeAllConnections(); });
    const accepted = pEvent<string, WebSocket>(wss, 'connection', { timeout: 5_000 });
    const client = new WebSocket(`wss://127.0.0.1:${(httpsServer.address() as AddressInfo).port}/`, { rejectUnauthorized: false });
    onTestFinished(() => client.terminate());
    const [server] = await Promise.all([accepted, once(client, 'open')]);
    expect(await freezeWebSocket(server, { timeout: 100 })).toEqual({ refused: 'tls' });
    expect(server.readyState).toBe(WebSocket.OPEN);
    const { server: deflating } = await pair({ perMessageDeflate: true }, { perMessageDeflate: true });
    expect(await freezeWebSocket(deflating, { timeout: 100 })).toEqual({ refused: 'deflateContext' });
    expect(deflating.readyState).toBe(WebSocket.OPEN);
  });
});
