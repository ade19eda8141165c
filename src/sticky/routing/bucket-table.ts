import { BUCKETS } from './address-bucket.js';

// Bucket → slot, balanced: with n slots, slot i owns floor(1024 / n) buckets plus one when
// i < 1024 mod n (exact shares). table(n + 1) is table(n) with buckets taken from the old slots
// for the new slot n, and nothing else moved, so scaling up moves exactly the new slot's share
// and scaling back restores the old table (every table is a function of n and the seed alone).
// Which buckets a slot gives up is a seeded shuffle, so neighbouring addresses spread out.

/** Largest slot count: every slot must own at least one bucket. */
export const MAX_SLOTS = BUCKETS;

/** Per seed: tables[n - 1] is the table for n slots, grown on demand. */
const cache = new Map<number, Uint16Array[]>();

function mix(value: number): number {
  let h = value >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b);
  h ^= h >>> 16;
  return h >>> 0;
}

const shareOf = (slot: number, slots: number): number => Math.floor(BUCKETS / slots) + (slot < BUCKETS % slots ? 1 : 0);

/** table(n) → table(n + 1): each old slot gives its surplus over the new share to slot n. */
function grow(table: Uint16Array, n: number, seed: number): Uint16Array {
  const next = table.slice();
  const surplus = new Int32Array(n);
  for (let slot = 0; slot < n; slot++) surplus[slot] = shareOf(slot, n) - shareOf(slot, n + 1);
  const salt = mix(seed ^ Math.imul(n + 1, 0x9e3779b9));
  const order = Array.from({ length: BUCKETS }, (_, bucket) => bucket);
  const rank = order.map((bucket) => mix(bucket ^ salt));
  order.sort((a, b) => (rank[a] as number) - (rank[b] as number) || a - b);
  for (const bucket of order) {
    const owner = next[bucket] as number;
    if ((surplus[owner] as number) > 0) {
      surplus[owner] = (surplus[owner] as number) - 1;
      next[bucket] = n;
    }
  }
  return next;
}

/**
 * The bucket → slot table for `slots` slots (1…1024) and `seed`. Cached and shared: never modify it.
 * @throws RangeError for a slot count outside 1…1024.
 */
export function bucketTable(slots: number, seed: number): Readonly<Uint16Array> {
  if (!Number.isInteger(slots) || slots < 1 || slots > MAX_SLOTS) {
    throw new RangeError(`slot count ${slots} is outside 1-${MAX_SLOTS}`);
  }
  let tables = cache.get(seed);
  if (tables === undefined) {
    tables = [new Uint16Array(BUCKETS)];
    cache.set(seed, tables);
  }
  while (tables.length < slots) tables.push(grow(tables[tables.length - 1] as Uint16Array, tables.length, seed));
  return tables[slots - 1] as Uint16Array;
}
