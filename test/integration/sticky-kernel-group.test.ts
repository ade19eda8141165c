import net, { type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { loadReusePortSockets, type NativeSocketError } from '../../src/sticky/planes/reuseport-native.js';
import { holdListeningFd } from '../../src/internal/node-internals-primary.js';
import { listenOnHandle } from '../../src/internal/node-internals-worker.js';
import { bucketOfAddress } from '../../src/sticky/routing/address-bucket.js';
import { bucketTable } from '../../src/sticky/routing/bucket-table.js';
import { BPF, encodeProgram, generateReusePortProgram, type BpfInstruction } from '../../src/sticky/planes/reuseport-program.js';
import { mapLimit } from '../helpers/client.js';
import { until } from '../helpers/cluster.js';
import { onLinux } from '../helpers/platform.js';

// Kernel == model, in-process with real sockets: a reuseport group made by the native part, the
// generated program attached, and connections from many loopback source addresses, each of which
// must be accepted by the socket the TypeScript model names.

const native = loadReusePortSockets();
const sockets = native.sockets;
const isIPv6Available = await new Promise<boolean>((resolve) => {
  const server = net.createServer().once('error', () => resolve(false)).listen(0, '::1', () => server.close(() => resolve(true)));
});

interface Group {
  port: number;
  fds: number[];
  servers: Server[];
  /** remote address → index of the server that accepted it. */
  acceptedBy: Map<string, number>;
}

const open: Server[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

async function createGroup(size: number, host: string, isIPv6Only = false): Promise<Group> {
  if (sockets === undefined) throw new Error(native.reason);
  const port = sockets.probeBind(host, 0, isIPv6Only);
  const group: Group = { port, fds: [], servers: [], acceptedBy: new Map() };
  for (let index = 0; index < size; index++) {
    const { fd, port: bound } = sockets.listen(host, port, 128, isIPv6Only);
    expect(bound).toBe(port);
    group.fds.push(fd);
  }
  // Accept in this process through Node, as a worker would on the received handle.
  for (const [index, fd] of group.fds.entries()) {
    const server = net.createServer((socket: Socket) => {
      group.acceptedBy.set(socket.remoteAddress ?? '?', index);
      socket.destroy();
    });
    open.push(server);
    await listenOnHandle(server, holdListeningFd(fd), 128);
    group.servers.push(server);
  }
  return group;
}

function attach(group: Group, program: readonly BpfInstruction[]): void {
  sockets?.attach(group.fds[0] as number, encodeProgram(program));
}

async function connectFrom(port: number, host: string, localAddress: string): Promise<void> {
  const socket = net.connect({ port, host, localAddress });
  await once(socket, 'connect');
  socket.on('error', () => { /* the server destroys it at once: a reset here is expected */ });
  await once(socket, 'close');
}

async function connectAll(group: Group, host: string, addresses: readonly string[]): Promise<void> {
  await mapLimit(addresses, 16, (address) => connectFrom(group.port, host, address));
  await until(() => addresses.every((address) => group.acceptedBy.has(address) || group.acceptedBy.has(`::ffff:${address}`)));
}

const loopbackClients = (count: number): string[] =>
  Array.from({ length: count }, (_, i) => `127.${1 + (i % 200)}.${(i * 7) % 256}.${2 + (i % 250)}`);

describe.skipIf(sockets === undefined)('reuseport group with the generated program', () => {
  it('accepts every IPv4 client on the socket the model names', async () => {
    for (const [size, seed] of [[3, 0], [5, 0xbeef]] as const) {
      const group = await createGroup(size, '127.0.0.1');
      const table = bucketTable(size, seed);
      attach(group, generateReusePortProgram(table, seed, size));
      const clients = loopbackClients(300);
      await connectAll(group, '127.0.0.1', clients);
      const wrong = clients.filter((c) => group.acceptedBy.get(c) !== table[bucketOfAddress(c, seed)]);
      expect(wrong).toEqual([]);
      // Every socket of the group served someone: the program did not abort to socket 0.
      expect(new Set(group.acceptedBy.values()).size).toBe(size);
    }
  });

  it('accepts IPv4-mapped clients of a dual-stack group as IPv4, and ::1 by its IPv6 bucket', async () => {
    if (!isIPv6Available) return;
    const size = 4;
    const group = await createGroup(size, '::', false);
    const clients = loopbackClients(120);
    const seeds = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
    for (const seed of seeds) {
      const table = bucketTable(size, seed);
      attach(group, generateReusePortProgram(table, seed, size));
      group.acceptedBy.clear();
      await connectFrom(group.port, '::1', '::1');
      await until(() => group.acceptedBy.has('::1'));
      expect(group.acceptedBy.get('::1'), `seed ${seed}`).toBe(table[bucketOfAddress('::1', seed)]);
      if (seed > 1) continue;
      await connectAll(group, '127.0.0.1', clients);
      for (const client of clients) expect(group.acceptedBy.get(`::ffff:${client}`)).toBe(table[bucketOfAddress(client, seed)]);
    }
    // Over the seeds ::1 was expected on more than one socket, so the IPv6 path was really tested.
    expect(new Set(seeds.map((seed) => bucketTable(size, seed)[bucketOfAddress('::1', seed)])).size).toBeGreaterThan(1);
  });

  it('keeps the program when the socket it was attached through closes, moving the last socket into its index', async () => {
    const group = await createGroup(3, '127.0.0.1');
    const table = bucketTable(2, 0);
    attach(group, generateReusePortProgram(table, 0, 3));
    // Close socket 0 (our wrapper owns the fd now): socket 2 takes index 0, socket 1 keeps index 1.
    await new Promise((resolve) => (group.servers[0] as Server).close(resolve));
    const clients = loopbackClients(150);
    await connectAll(group, '127.0.0.1', clients);
    const moved = [2, 1];
    for (const c of clients) expect(group.acceptedBy.get(c)).toBe(moved[table[bucketOfAddress(c, 0)] as number]);
  });

  it('shows the two silent failures the generator avoids: an aborting load goes to socket 0, an index past the group to the kernel hash', async () => {
    const group = await createGroup(3, '127.0.0.1');
    // A load past the network header aborts the program: every client on socket 0.
    attach(group, [{ code: BPF.LD | BPF.W | BPF.ABS, jt: 0, jf: 0, k: (BPF.SKF_NET_OFF + 4000) >>> 0 }, { code: BPF.RET | BPF.K, jt: 0, jf: 0, k: 2 }]);
    const clients = loopbackClients(60);
    await connectAll(group, '127.0.0.1', clients);
    expect(new Set(group.acceptedBy.values())).toEqual(new Set([0]));
    // Index 3 in a group of 3: the kernel spreads by its own hash, so not all on one socket.
    attach(group, [{ code: BPF.RET | BPF.K, jt: 0, jf: 0, k: 3 }]);
    group.acceptedBy.clear();
    await connectAll(group, '127.0.0.1', clients);
    expect(new Set(group.acceptedBy.values()).size).toBeGreaterThan(1);
    expect(() => generateReusePortProgram(bucketTable(4, 0), 0, 3)).toThrow(RangeError);
  });

  it('fails the plain-bind probe with EADDRINUSE on a port a reuseport group or a Node server holds', async () => {
    const group = await createGroup(2, '127.0.0.1');
    expect(() => sockets?.probeBind('127.0.0.1', group.port, false)).toThrow(expect.objectContaining({ code: 'EADDRINUSE', syscall: 'bind' }) as NativeSocketError);
    const server = net.createServer();
    open.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    expect(() => sockets?.probeBind('127.0.0.1', port, false)).toThrow(expect.objectContaining({ code: 'EADDRINUSE' }) as NativeSocketError);
    expect(() => sockets?.listen('127.0.0.1', port, 16, false)).toThrow(expect.objectContaining({ code: 'EADDRINUSE' }) as NativeSocketError);
  });

  it('answers bad arguments with a TypeError and a bad fd with EBADF', () => {
    expect(() => sockets?.listen('not-an-address', 0, 16, false)).toThrow(TypeError);
    expect(() => sockets?.attach(-1, encodeProgram([{ code: BPF.RET | BPF.K, jt: 0, jf: 0, k: 0 }]))).toThrow(expect.objectContaining({ code: 'EBADF' }) as NativeSocketError);
    expect(() => sockets?.attach(0, new Uint32Array(3))).toThrow(TypeError);
  });
});

describe('loading the native part', () => {
  it('loads on linux-x64 and linux-arm64, and says why not elsewhere', () => {
    if (onLinux && (process.arch === 'x64' || process.arch === 'arm64')) expect(native.reason).toBeUndefined();
    else expect(native.reason).toMatch(/needs Linux|did not load/);
  });
});
