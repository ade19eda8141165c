import net from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import { Balancer } from '../../src/sticky/balancer-primary.js';
import { normalizeListenOptions, type ListenOptions } from '../../src/options/index.js';
import { resolveLogger } from '../../src/logger.js';
import { bucketOfAddress } from '../../src/sticky/routing/address-bucket.js';
import { bucketTable } from '../../src/sticky/routing/bucket-table.js';
import { spawnCluster, waitFor, type SpawnedCluster, statsOf, until } from '../helpers/cluster.js';
import { mapLimit, request } from '../helpers/client.js';
import { isKernelAvailable } from '../helpers/platform.js';

// Kernel steering in the product: IP mode's clients reach their slot's worker through the kernel
// group, on the same slot the primary hop would pick (one model), and the fallback and refusals.

const modelSlot = (address: string, slots: number, seed = 0): number => bucketTable(slots, seed)[bucketOfAddress(address, seed)] as number;
const clients = (count: number): string[] => Array.from({ length: count }, (_, i) => `127.${10 + (i % 50)}.${i % 256}.${2 + ((i * 13) % 250)}`);

describe('choosing the data plane (in-process balancer)', () => {
  const balancers: Balancer[] = [];
  const servers: net.Server[] = [];
  afterEach(async () => {
    for (const balancer of balancers.splice(0)) balancer.stopAccepting(false);
    await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
  });
  const balancer = (options: ListenOptions): Balancer => {
    const created = new Balancer(normalizeListenOptions({ workers: 2, logger: false, ...options }), resolveLogger(false, 'info'));
    balancers.push(created);
    return created;
  };

  it.skipIf(!isKernelAvailable)('uses the kernel in IP mode with `auto` and `kernel`, the primary with `primary`', async () => {
    const auto = balancer({});
    await auto.listen(0, '127.0.0.1');
    expect(auto.steering).toEqual({ plane: 'kernel', reason: undefined });
    const primary = balancer({ steering: 'primary' });
    await primary.listen(0, '127.0.0.1');
    expect(primary.steering).toEqual({ plane: 'primary', reason: '`steering` is "primary"', handoff: 'native' });
    expect(primary.stats().acceptPaused).toBe(0);
    const header = balancer({ proxyHeader: 'x-forwarded-for' });
    await header.listen(0, '127.0.0.1');
    expect(header.steering.plane).toBe('primary');
    expect(header.steering.reason).toMatch(/bytes the kernel never sees/);
    expect(header.steering.handoff).toBe('native');
    const ipc = balancer({ proxyHeader: 'x-forwarded-for', nativeHandoff: false });
    await ipc.listen(0, '127.0.0.1');
    expect(ipc.steering).toMatchObject({ plane: 'primary', handoff: 'ipc' });
  });

  it.skipIf(!isKernelAvailable)('fails with EADDRINUSE on an occupied port, though joining a reuseport group would not', async () => {
    const occupant = net.createServer();
    servers.push(occupant);
    await new Promise<void>((resolve) => occupant.listen(0, '127.0.0.1', resolve));
    const { port } = occupant.address() as net.AddressInfo;
    await expect(balancer({ steering: 'kernel' }).listen(port, '127.0.0.1')).rejects.toMatchObject({ code: 'EADDRINUSE' });
    // An instance of ours on the port is taken too: a second group must not join the first.
    const first = balancer({});
    const address = await first.listen(0, '127.0.0.1');
    await expect(balancer({}).listen(address.port, '127.0.0.1')).rejects.toMatchObject({ code: 'EADDRINUSE' });
  });

  it('refuses `steering: "kernel"` with a key the kernel cannot see', () => {
    expect(() => normalizeListenOptions({ steering: 'kernel', proxyProtocol: true, trustedProxies: ['127.0.0.1'] }))
      .toThrow(expect.objectContaining({ code: 'STICKY_ERR_INVALID_OPTION', message: expect.stringContaining('`steering`') as string }) as Error);
    expect(() => normalizeListenOptions({ steering: 'fast' as never })).toThrow(/`steering`/);
  });
});

describe.skipIf(!isKernelAvailable).each(['kernel', 'primary'] as const)('IP mode over the %s plane', (steering) => {
  it('serves IPv4, IPv4-mapped and IPv6 clients on the slot the one model names', async () => {
    const cluster = await spawnCluster('app.mjs', { env: { WORKERS: '3', HOST: '::', OPTIONS: JSON.stringify({ steering }) } });
    expect((cluster.ready.steering as { plane: string }).plane).toBe(steering);
    const v4 = clients(60);
    const replies = await mapLimit(v4, 8, (localAddress) => request({ port: cluster.port, localAddress }));
    expect(replies.map((r) => r.reply.slot)).toEqual(v4.map((address) => modelSlot(address, 3)));
    // On a dual-stack socket IPv4 clients arrive as mapped addresses, keyed as IPv4.
    expect(replies[0]?.reply.remoteAddress).toBe(`::ffff:${v4[0]}`);
    const v6 = await new Promise<{ slot: number }>((resolve, reject) => {
      const socket = net.connect({ port: cluster.port, host: '::1' }, () => socket.end('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
      let text = '';
      socket.on('data', (chunk: Buffer) => { text += chunk.toString(); });
      socket.on('end', () => resolve(JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as { slot: number }));
      socket.on('error', reject);
    });
    expect(v6.slot).toBe(modelSlot('::1', 3));
    // The primary hop counts what it accepts; the kernel plane, where the primary touches no connection,
    // what its workers report accepting (every `reportInterval`).
    const accepted = async (): Promise<number> =>
      ((await cluster.ask('stats')) as unknown as { stats: { connections: { accepted: number } } }).stats.connections.accepted;
    await waitFor(async () => (await accepted()) >= v4.length + 1);
    expect(await accepted()).toBe(v4.length + 1);
  });
});

describe.skipIf(!isKernelAvailable)('kernel steering: scaling', () => {
  async function slotMap(cluster: SpawnedCluster, addresses: string[]): Promise<Map<string, number>> {
    const replies = await mapLimit(addresses, 8, (localAddress) => request({ port: cluster.port, localAddress }));
    return new Map(addresses.map((address, i) => [address, replies[i]?.reply.slot as number]));
  }

  async function scale(cluster: SpawnedCluster, workers: number): Promise<void> {
    const scaled = cluster.next('scaledTo', { timeout: 20_000 });
    cluster.child.send({ type: 'scale', workers });
    expect((await scaled).ok).toBe(true);
  }

  it('2 → 3 moves about 1/3 of the clients, all into the new slot; 3 → 2 brings every one back', async () => {
    const cluster = await spawnCluster('reload-app.mjs', { env: { WORKERS: '2', OPTIONS: JSON.stringify({ steering: 'kernel' }) } });
    const addresses = clients(150);
    const before = await slotMap(cluster, addresses);
    expect([...before.entries()].every(([address, slot]) => slot === modelSlot(address, 2))).toBe(true);
    await scale(cluster, 3);
    const after = await slotMap(cluster, addresses);
    const moved = addresses.filter((address) => before.get(address) !== after.get(address));
    expect(moved.every((address) => after.get(address) === 2)).toBe(true);
    expect(moved.length / addresses.length).toBeGreaterThan(0.2);
    expect(moved.length / addresses.length).toBeLessThan(0.46);
    expect([...after.entries()].every(([address, slot]) => slot === modelSlot(address, 3))).toBe(true);
    await scale(cluster, 2);
    await until(async () => (await statsOf(cluster)).slots.length === 2);
    const back = await slotMap(cluster, addresses);
    expect(addresses.filter((address) => back.get(address) !== before.get(address))).toEqual([]);
  }, 60_000);
});

describe.skipIf(!isKernelAvailable)('kernel steering: a failed slot', () => {
  it('hands the connections stranded in its queue to a live worker and re-points its clients, until it heals', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sticky-kernel-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'version');
    writeFileSync(file, 'ok');
    const cluster = await spawnCluster('reload-app.mjs', {
      env: {
        WORKERS: '2', VERSION_FILE: file,
        OPTIONS: JSON.stringify({ steering: 'kernel', maxRestarts: 3, respawnDelay: 100, minUptime: 60_000, restartWindow: 60_000, failedSlotRetry: 600_000 }),
      },
    });
    const slotZero = clients(80).filter((address) => modelSlot(address, 2) === 0).slice(0, 4);
    expect(slotZero).toHaveLength(4);
    writeFileSync(file, 'crash-slot0');
    const failed = cluster.next('slotFailed', { timeout: 20_000 });
    const exited = cluster.next('workerExit', { where: (m) => m.slot === 0, timeout: 10_000 });
    const { stats } = await cluster.ask('stats');
    process.kill(stats.slots[0]?.pid as number, 'SIGKILL');
    await exited;
    // Slot 0 has no worker now: these connect into its socket's queue and wait there.
    const stranded = slotZero.map((localAddress) => request({ port: cluster.port, localAddress, timeout: 15_000 }));
    expect((await failed).slot).toBe(0);
    // Once the slot is failed, a live worker accepts what waited in its queue, and new clients of the slot go there too.
    for (const reply of await Promise.all(stranded)) expect(reply.reply.slot).toBe(1);
    for (const localAddress of slotZero) expect((await request({ port: cluster.port, localAddress })).reply.slot).toBe(1);

    // A fixed version deployed by a reload heals the slot: its clients come back.
    writeFileSync(file, 'ok');
    const reloaded = cluster.next('reloaded', { timeout: 30_000 });
    cluster.child.send({ type: 'reload' });
    expect((await reloaded).ok).toBe(true);
    for (const localAddress of slotZero) expect((await request({ port: cluster.port, localAddress })).reply.slot).toBe(0);
  }, 60_000);
});
