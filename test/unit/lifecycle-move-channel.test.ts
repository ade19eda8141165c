import { openSync, closeSync, fstatSync } from 'node:fs';
import { Socket, type SocketConstructorOpts } from 'node:net';
import { pEvent } from 'p-event';
import { afterEach, describe, expect, it } from 'vitest';
import { MoveReceiver, MoveSender, MAX_FDS } from '../../src/lifecycle/move-channel-worker.js';
import { handleOfFd, type FdHandle } from '../../src/internal/node-internals.js';
import { loadFdPassing, type FdPassing } from '../../src/sticky/index.js';
import { encodeMessage, type RuntimeMessageMap } from '../../src/ipc/index.js';
import { acceptedConnections, withinDeadline } from '../helpers/loopback-connections.js';

// The move channel with real sockets in one process: TCP connections on loopback pass, as descriptors
// over the native socket pair, from a MoveSender to a MoveReceiver; each one is checked end to end by
// bytes written through the received copy reaching the right client.

type SocketMessage = RuntimeMessageMap['sticky:handoverSocket'];
const native = loadFdPassing();
const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const step of cleanup.splice(0).reverse()) step();
});

/** A native pair, each end in a pipe handle as a worker receives it. */
function pair(fds: FdPassing): [FdHandle, FdHandle] {
  const [a, b] = fds.socketPair().map((fd) => handleOfFd(fd, 'pipe'));
  if (a === null || b === null || a === undefined || b === undefined) throw new Error('no pipe handles');
  return [a, b];
}

const connections = (count: number): ReturnType<typeof acceptedConnections> => acceptedConnections(count, cleanup);

const fdOf = (socket: Socket): number => (socket as unknown as { _handle: { fd: number } })._handle.fd;

describe.skipIf(native === undefined)('the move channel (native fd passing)', () => {
  const fds = native as FdPassing;

  it('moves 600 connections in frames of at most 253, each arriving as the same TCP connection with its message', async () => {
    const count = 600;
    const { accepted, clients } = await connections(count);
    const [give, take] = pair(fds);
    const arrived: { message: SocketMessage; handle: FdHandle }[] = [];
    const rejected: string[] = [];
    const all = new Promise<void>((resolve) => {
      new MoveReceiver(fds, take, 64 * 1024 * 1024, (message, handle) => {
        arrived.push({ message, handle });
        if (arrived.length === count) resolve();
      }, (reason) => rejected.push(reason));
    });
    const sender = new MoveSender(fds, give);
    let sent = 0;
    // A state large enough that the frames outgrow the pair's buffer: the sender must wait for it to drain.
    const state = 'x'.repeat(4096);
    accepted.forEach((socket, index) => {
      const message: SocketMessage = { kind: 'http', head: Buffer.from(`#${index}`).toString('base64'), state };
      expect(sender.push({ fd: fdOf(socket), message, done: (isSent) => { if (isSent) sent++; } })).toBe(true);
    });
    sender.end();
    await withinDeadline(all, 10_000, () => `all ${count} connections to arrive (${arrived.length} did)`);
    expect(sent).toBe(count);
    expect(rejected).toEqual([]);
    // The sender's copies close; the received ones still reach each client, in order.
    for (const socket of accepted) socket.destroy();
    for (const [index, { message, handle }] of arrived.entries()) {
      expect(Buffer.from(message.head ?? '', 'base64').toString()).toBe(`#${index}`);
      const socket = new Socket({ handle, readable: true, writable: true } as SocketConstructorOpts);
      cleanup.push(() => socket.destroy());
      socket.write(`to ${index}`);
    }
    const heard = await Promise.all(clients.map((client) => pEvent<string, Buffer>(client, 'data', { timeout: 5000 })));
    expect(heard.map(String)).toEqual(clients.map((_, index) => `to ${index}`));
    expect(MAX_FDS).toBe(253);
  });

  it('a peer sending a file, a frame without its descriptors or junk: closed, reported, and nothing else breaks', async () => {
    const [give, take] = pair(fds);
    const rejected: [string, boolean][] = [];
    const arrived: SocketMessage[] = [];
    let isBroken: () => void = () => undefined;
    const broken = new Promise<void>((resolve) => { isBroken = resolve; });
    new MoveReceiver(fds, take, 1024, (message, handle) => {
      arrived.push(message);
      handle.close();
    }, (reason, hasBroken) => {
      rejected.push([reason, hasBroken]);
      if (hasBroken) isBroken();
    });
    const frame = (messages: unknown[]): Buffer => {
      const json = Buffer.from(JSON.stringify(messages));
      const header = Buffer.alloc(4);
      header.writeUInt32BE(json.length);
      return Buffer.concat([header, json]);
    };
    const envelope = encodeMessage('sticky:handoverSocket', { kind: 'http' });
    // A file where a TCP connection belongs: the receiver never holds it (closed on arrival).
    const file = openSync('/dev/null', 'r');
    cleanup.push(() => { try { closeSync(file); } catch { /* closed */ } });
    expect(fds.send(give.fd, frame([envelope]), Int32Array.of(file))).toBeGreaterThan(0);
    // A message that does not decode, with a real connection: closed, the frame's next one still taken.
    const { accepted, clients } = await connections(2);
    const pairOf = Int32Array.from(accepted, fdOf);
    expect(fds.send(give.fd, frame([{ junk: true }, envelope]), pairOf)).toBeGreaterThan(0);
    for (const socket of accepted) socket.destroy();
    const closed = pEvent(clients[0] as Socket, 'end', { timeout: 5000 });
    await closed;
    expect(arrived).toEqual([{ kind: 'http' }]);
    expect(rejected).toEqual([
      ['a moved connection arrived unusable: closed', false],
      ['a moved connection arrived unusable: closed', false],
    ]);
    // A frame past its bound breaks the channel: reported once as broken.
    expect(fds.send(give.fd, frame([{ pad: 'y'.repeat(2000) }]), new Int32Array(0))).toBeGreaterThan(0);
    await withinDeadline(broken, 5000, () => 'the channel to break');
    expect(rejected).toHaveLength(3);
    expect(rejected[2]?.[1]).toBe(true);
    expect(() => fstatSync(file)).not.toThrow();
    give.close();
  });

  it('a successor gone before the frames went: each move is reported unsent (it then goes through the primary)', async () => {
    const { accepted, clients } = await connections(3);
    const [give, take] = pair(fds);
    take.close();
    const sender = new MoveSender(fds, give);
    const results: boolean[] = [];
    const all = new Promise<void>((resolve) => {
      for (const socket of accepted) {
        const message: SocketMessage = { kind: 'http' };
        sender.push({ fd: fdOf(socket), message, done: (isSent) => {
          results.push(isSent);
          if (results.length === accepted.length) resolve();
        } });
      }
    });
    await withinDeadline(all, 5000, () => 'every move to be reported');
    expect(results).toEqual([false, false, false]);
    // The sender's copies are untouched: each connection still reaches its client.
    accepted.forEach((socket, index) => socket.write(`still ${index}`));
    const heard = await Promise.all(clients.map((client) => pEvent<string, Buffer>(client, 'data', { timeout: 5000 })));
    expect(heard.map(String)).toEqual(['still 0', 'still 1', 'still 2']);
    expect(sender.push({ fd: fdOf(accepted[0] as Socket), message: { kind: 'http' }, done: () => undefined })).toBe(false);
  });
});
