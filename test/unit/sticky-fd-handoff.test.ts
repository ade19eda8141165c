import { Socket, type SocketConstructorOpts } from 'node:net';
import { pEvent } from 'p-event';
import { afterEach, describe, expect, it } from 'vitest';
import { FdHandoffs, MAX_IN_FLIGHT, type GiveEnd } from '../../src/sticky/planes/fd-handoff-primary.js';
import { FdHandoffReceiver } from '../../src/sticky/planes/fd-handoff-worker.js';
import { decodeHandoff } from '../../src/sticky/planes/fd-handoff.js';
import { loadFdPassing, type FdPassing } from '../../src/sticky/index.js';
import { takeSocketHandle, type TcpHandle } from '../../src/internal/node-internals-primary.js';
import type { RuntimeMessageMap } from '../../src/ipc/index.js';
import { acceptedConnections, withinDeadline } from '../helpers/loopback-connections.js';

// The hop's native handoff with real sockets in one process: accepted loopback connections pass from
// the primary's half (FdHandoffs) over a real socket pair to the worker's half (FdHandoffReceiver);
// each is checked end to end through the received copy, and the primary's copies by whether the
// client sees the connection end once the receiver's copy is closed.

type Payload = RuntimeMessageMap['sticky:connection'];
const native = loadFdPassing();
const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const step of cleanup.splice(0).reverse()) step();
});

/** Bare handles of `count` accepted connections, as the primary holds them, and their clients. */
async function handles(count: number): Promise<{ held: TcpHandle[]; clients: Socket[] }> {
  const { accepted, clients } = await acceptedConnections(count, cleanup);
  const held = accepted.map((socket) => {
    const handle = takeSocketHandle(socket) as TcpHandle;
    socket.destroy();
    cleanup.push(() => handle.close());
    return handle;
  });
  return { held, clients };
}

interface Primary {
  handoffs: FdHandoffs;
  /** The worker's end of the packet pair, as a worker takes it out of the bootstrap pair. */
  end: Promise<number>;
  givenBack: { handle: TcpHandle; bytes: string | undefined }[];
  expired: TcpHandle[];
}

function openPrimary(fds: FdPassing, slotWaitTimeout = 60_000): Primary {
  let resolveEnd: (end: number) => void = () => undefined;
  const end = new Promise<number>((resolve) => { resolveEnd = resolve; });
  const givenBack: Primary['givenBack'] = [];
  const expired: TcpHandle[] = [];
  // As a worker does with the bootstrap end it gets over IPC.
  const give: GiveEnd = (_message, bootstrap) => {
    const fd = fds.receive(bootstrap.fd, Buffer.alloc(8), true)?.fds[0] as number;
    bootstrap.close();
    cleanup.push(() => { try { fds.close(fd); } catch { /* closed by the test */ } });
    resolveEnd(fd);
  };
  const handoffs = FdHandoffs.open(fds, give, {
    slotWaitTimeout, progress: () => undefined,
    giveBack: (handle, bytes) => givenBack.push({ handle, bytes }),
    expired: (handle) => expired.push(handle),
  }) as FdHandoffs;
  cleanup.push(() => handoffs.close());
  return { handoffs, end, givenBack, expired };
}

function receive(fds: FdPassing, fd: number, arrived: { payload: Payload; socket: Socket }[]): FdHandoffReceiver {
  const end = { fd, close: () => undefined };
  const receiver = new FdHandoffReceiver(fds, end, 1024 * 1024, (payload, handle) => {
    const socket = new Socket({ handle, readable: true, writable: true } as SocketConstructorOpts);
    cleanup.push(() => socket.destroy());
    arrived.push({ payload, socket });
  }, () => undefined);
  cleanup.push(() => receiver.close());
  return receiver;
}

/** A worker's first answer by hand: it reads the channel (and then reads nothing, as the test decides). */
const hello = (fds: FdPassing, fd: number): number => fds.send(fd, Buffer.alloc(4), new Int32Array(0));

const until = async (check: () => boolean, what: () => string): Promise<void> => {
  await withinDeadline((async () => {
    while (!check()) await new Promise((resolve) => setImmediate(resolve));
  })(), 10_000, what);
};

describe('decodeHandoff', () => {
  it('takes 0 or an object of the known fields, nothing else', () => {
    expect(decodeHandoff(0)).toEqual({});
    expect(decodeHandoff({ bytes: 'R0VU', client: '10.0.0.1', clientPort: 5 })).toEqual(
      { bytes: 'R0VU', client: '10.0.0.1', clientPort: 5 });
    for (const bad of [1, null, 'x', { bytes: 5 }, { client: 1 }, { clientPort: 1.5 }]) {
      expect(decodeHandoff(bad)).toBeUndefined();
    }
  });
});

describe.skipIf(native === undefined)('the native handoff channel', () => {
  const fds = native as FdPassing;

  it('passes 600 connections with their bytes in order once the worker answers; then the primary holds no copy', async () => {
    const count = 600;
    const { held, clients } = await handles(count);
    const primary = openPrimary(fds);
    // Until the worker's first answer the channel is not used (a worker without the native part never answers).
    expect(primary.handoffs.isOpen).toBe(false);
    expect(primary.handoffs.send(held[0] as TcpHandle, undefined)).toBe(false);
    const arrived: { payload: Payload; socket: Socket }[] = [];
    receive(fds, await primary.end, arrived);
    await until(() => primary.handoffs.isOpen, () => 'the worker\'s first answer');
    const waiting = held.map((handle, i) => ({ handle, bytes: Buffer.from(`GET /${i}`).toString('base64') }));
    // More than MAX_IN_FLIGHT: what waits for room goes once the worker answers (the link's job here).
    const pump = (): void => {
      while (waiting.length > 0 && primary.handoffs.hasRoom) {
        const next = waiting.shift() as { handle: TcpHandle; bytes: string };
        expect(primary.handoffs.send(next.handle, next.bytes)).toBe(true);
      }
    };
    pump();
    expect(primary.handoffs.unacknowledged).toBe(MAX_IN_FLIGHT);
    await until(() => { pump(); return arrived.length === count; }, () => `${arrived.length} of ${count} arrived`);
    await until(() => primary.handoffs.unacknowledged === 0, () => `${primary.handoffs.unacknowledged} unanswered`);
    expect(arrived.map(({ payload }) => Buffer.from(payload.bytes ?? '', 'base64').toString()))
      .toEqual(held.map((_, i) => `GET /${i}`));
    // The same connection: written through the received copy, read by its own client.
    const last = count - 1;
    const reply = pEvent(clients[last] as Socket, 'data', { timeout: 5000 });
    (arrived[last] as { socket: Socket }).socket.write('reply');
    expect(String(await reply)).toBe('reply');
    // Closing (not shutting down) the worker's copy ends the connection only if the primary closed its own.
    const ended = pEvent(clients[0] as Socket, 'end', { timeout: 5000 });
    (arrived[0] as { socket: Socket }).socket.destroy();
    await ended;
    expect(primary.givenBack).toEqual([]);
    expect(primary.expired).toEqual([]);
  });

  it('a worker that stops reading: after slotWaitTimeout the primary reads back what it left and fails it over', async () => {
    const { held, clients } = await handles(5);
    const primary = openPrimary(fds, 200);
    hello(fds, await primary.end);
    await until(() => primary.handoffs.isOpen, () => 'the worker\'s first answer');
    for (const handle of held) expect(primary.handoffs.send(handle, undefined)).toBe(true);
    await until(() => primary.expired.length === 5, () => `${primary.expired.length} of 5 read back`);
    expect(primary.expired).toEqual(held);
    expect(primary.handoffs.unacknowledged).toBe(0);
    // Only the primary's copy is left, and it still is the client's connection.
    const socket = new Socket({ handle: held[2], readable: true, writable: true } as SocketConstructorOpts);
    cleanup.push(() => socket.destroy());
    const reply = pEvent(clients[2] as Socket, 'data', { timeout: 5000 });
    socket.write('still here');
    expect(String(await reply)).toBe('still here');
    expect(primary.givenBack).toEqual([]);
  });

  it('closed: what the worker never read comes back at once; what it read and did not answer, when its end closes', async () => {
    const { held } = await handles(7);
    const primary = openPrimary(fds);
    const end = await primary.end;
    hello(fds, end);
    await until(() => primary.handoffs.isOpen, () => 'the worker\'s first answer');
    // The worker reads the first frame (3 connections) and dies before it answers.
    for (const handle of held.slice(0, 3)) primary.handoffs.send(handle, undefined);
    const readFrame = (): boolean => {
      const read = fds.receive(end, Buffer.alloc(65_536));
      for (const fd of read?.fds ?? []) fds.close(fd);
      return read !== null;
    };
    await until(() => primary.handoffs.unacknowledged === 3 && readFrame(), () => 'the first frame read');
    for (const handle of held.slice(3)) primary.handoffs.send(handle, undefined);
    await Promise.resolve();
    expect(primary.handoffs.unacknowledged).toBe(7);
    primary.handoffs.close();
    expect(primary.givenBack.map(({ handle }) => handle)).toEqual(held.slice(3));
    fds.close(end);
    await until(() => primary.givenBack.length === 7, () => `${primary.givenBack.length} of 7 given back`);
    expect(primary.givenBack.slice(4).map(({ handle }) => handle)).toEqual(held.slice(0, 3));
    expect(primary.expired).toEqual([]);
  });
});
