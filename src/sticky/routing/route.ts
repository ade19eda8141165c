import type { PrehashKey } from '../../options/index.js';
import { hashBytes, hashNumbers, hashString, jumpHash } from './hash.js';
import { bucketOfAddress } from './address-bucket.js';
import { bucketTable } from './bucket-table.js';

// Routing policy, pure: key → seeded hash → slot. Client addresses go through the one address →
// bucket → slot model that the kernel data plane's BPF program also computes, so a client lands on
// the same slot whichever plane (or mode keyed by an address) carries it.

/** Slot of a client address (IPv4-mapped IPv6 counts as the plain IPv4 address). */
export function slotOfAddress(address: string, seed: number, slots: number): number {
  const bucket = bucketOfAddress(address, seed);
  // Not an address (callers pass socket or parsed header addresses, so only in odd cases): hash the text.
  if (bucket === -1) return jumpHash(hashString(address, seed), slots);
  return bucketTable(slots, seed)[bucket] as number;
}

/** Slot of a custom key; undefined when the key is not a number[], string or byte array. */
export function slotOfKey(key: unknown, seed: number, slots: number): number | undefined {
  let hash: number;
  if (typeof key === 'string') hash = hashString(key, seed);
  else if (key instanceof Uint8Array) hash = hashBytes(key, seed);
  else if (Array.isArray(key) && (key as unknown[]).every((n) => typeof n === 'number')) {
    hash = hashNumbers(key as PrehashKey as number[], seed);
  }
  else return undefined;
  return jumpHash(hash, slots);
}

/** The first slot after `from` (wrapping) for which `isLive` holds, or -1. */
export function nextLiveSlot(count: number, from: number, isLive: (slot: number) => boolean): number {
  for (let i = 0; i < count; i++) {
    const slot = (((from + i) % count) + count) % count;
    if (isLive(slot)) return slot;
  }
  return -1;
}
