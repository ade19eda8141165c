import { readFileSync } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { bucketOfAddress } from '../../src/sticky/routing/address-bucket.js';
import { bucketTable } from '../../src/sticky/routing/bucket-table.js';
import { spawnCluster, type SpawnedCluster } from '../helpers/cluster.js';
import { request } from '../helpers/client.js';
import { ADDON_PATH, packageCopy } from '../helpers/package-copy.js';
import { isKernelAvailable } from '../helpers/platform.js';

// A damaged prebuilt addon in an installed package: the primary checks it against
// prebuilds/SHA256SUMS, never loads it, and serves over the primary hop, saying why. Each case runs
// a real primary from a copy of the package (dist/, prebuilds/, the fixture) whose addon for this
// architecture is altered. Without the check a truncated file killed the primary with SIGBUS inside
// dlopen, and a file with one flipped byte loaded and ran.

const root = fileURLToPath(new URL('../..', import.meta.url));
const original = readFileSync(join(root, ADDON_PATH));
const modelSlot = (address: string, slots: number): number =>
  bucketTable(slots, 0)[bucketOfAddress(address, 0)] as number;

/** The primary of that copy once ready; fails at once, with the signal, if it dies first (as it did in dlopen). */
async function startFrom(packageRoot: string): Promise<SpawnedCluster> {
  // `auto` chosen here: the plane must not follow TEST_STEERING.
  const env = { WORKERS: '2', OPTIONS: JSON.stringify({ steering: 'auto' }) };
  const started = await spawnCluster('app.mjs', { packageRoot, env, waitReady: false });
  const gaveUp = new AbortController();
  const ready = started.next('ready', { timeout: 15_000, signal: gaveUp.signal });
  const exited = once(started.child, 'exit').then((args) => args, (error: unknown) => [error]);
  const first = await Promise.race([ready, exited]);
  if (Array.isArray(first)) {
    gaveUp.abort();
    ready.catch(() => undefined);
    throw new Error(`the primary exited before it was ready (code, signal: ${first.map(String).join(', ')})`);
  }
  return { ...started, ready: first, port: first.port };
}

describe.skipIf(!isKernelAvailable)('a damaged prebuilt addon', () => {
  it('an intact copy of the package runs the kernel plane (the copy itself is sound)', async () => {
    const cluster = await startFrom(packageCopy(original));
    expect(cluster.ready.steering).toEqual({ plane: 'kernel' });
  });

  const half = Math.floor(original.length / 2);
  const flipped = Buffer.from(original);
  flipped[half] = (flipped[half] as number) ^ 0x01;
  it.each([
    ['truncated to half its size', original.subarray(0, half)],
    ['with one flipped byte', flipped],
  ])('%s: the primary starts, serves over the hop and reports why', async (_, bytes) => {
    const packageRoot = packageCopy(bytes);
    const cluster = await startFrom(packageRoot);
    const file = join(packageRoot, ADDON_PATH);
    const reason = `the native part did not load from ${file}: its SHA-256 is `;
    const steering = cluster.ready.steering as { plane: string; reason: string };
    expect(steering.plane).toBe('primary');
    expect(steering.reason.startsWith(reason)).toBe(true);
    expect(steering.reason).toMatch(/…, SHA256SUMS says [0-9a-f]{16}… \(a damaged or foreign file\)$/);
    for (const localAddress of ['127.0.0.2', '127.0.0.3', '127.0.0.4']) {
      const { reply } = await request({ port: cluster.port, localAddress });
      expect(reply.slot).toBe(modelSlot(localAddress, 2));
    }
    // Logged once, with the reason.
    const logged = cluster.output().split('\n').filter((line) => line.includes('kernel steering unavailable'));
    expect(logged).toHaveLength(1);
    expect(JSON.parse(logged[0] as string)).toMatchObject({ steering: 'primary', reason: steering.reason });
  });
});
