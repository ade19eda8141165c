import { describe, expect, it } from 'vitest';
import { spawnCluster, until } from '../helpers/cluster.js';
import { sourceAddress } from '../helpers/client.js';
import { startLoad } from '../helpers/load.js';

describe('recycling', () => {
  // Both data planes: the kernel's (IP mode's default on Linux) and the primary hop.
  it.each(['auto', 'primary'])('replaces a worker past maxRequests in its slot under load (steering %s): no failed request, every client keeps its slot', async (steering) => {
    const options = { maxRequests: 40, maxRequestsJitter: 10, steering };
    const cluster = await spawnCluster('app.mjs', { env: { WORKERS: '2', OPTIONS: JSON.stringify(options) } });
    const load = startLoad(cluster.port, [1, 2, 3, 4, 5, 6, 7, 8].map(sourceAddress), 6);
    // Every worker has at most 50 requests before it asks to go: 300 requests recycle each slot at least once.
    await load.until(300);
    await until(async () => {
      const { stats } = await cluster.ask('stats');
      return stats.slots.every((slot) => slot.generation >= 1);
    }, { timeout: 20_000 });
    // The replaced workers drain and exit; the load keeps going meanwhile and after.
    const exits = () => cluster.all('workerExit');
    await until(() => exits().length >= 2, { timeout: 20_000 });
    await load.until(50);
    const result = await load.stop();
    expect(result.errors).toEqual([]);
    expect(result.failed).toBe(0);
    for (const slots of result.slotsByAddress.values()) expect(new Set(slots).size).toBe(1);
    // Old workers exited because the runtime retired them, not by crashing.
    expect(exits().every((exit) => exit.expected === true)).toBe(true);
    expect(cluster.output()).toContain('"reason":"maxRequests"');
  });

  it('replaces a worker whose memory passes maxMemory', async () => {
    // 1 byte: every worker is over it at its first check.
    const options = { maxMemory: 1, memoryCheckInterval: 200 };
    const cluster = await spawnCluster('app.mjs', { env: { WORKERS: '1', OPTIONS: JSON.stringify(options) } });
    await until(() => cluster.output().includes('"msg":"worker recycled"'), { timeout: 15_000 });
    expect(cluster.output()).toContain('"reason":"maxMemory"');
    const exits = cluster.messages.filter((message) => message.type === 'workerExit');
    expect(exits.every((exit) => exit.expected === true)).toBe(true);
  });
});
