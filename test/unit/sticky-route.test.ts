import { describe, expect, it } from 'vitest';
import { nextLiveSlot, slotOfAddress, slotOfKey } from '../../src/sticky/routing/route.js';
import { hashString, jumpHash } from '../../src/sticky/routing/hash.js';
import { bucketOfAddress } from '../../src/sticky/routing/address-bucket.js';
import { bucketTable } from '../../src/sticky/routing/bucket-table.js';

describe('slotOfAddress', () => {
  it('routes an IPv4-mapped IPv6 address like the plain IPv4 address', () => {
    for (let i = 0; i < 200; i++) {
      const v4 = `10.1.${i}.3`;
      expect(slotOfAddress(`::ffff:${v4}`, 0, 7)).toBe(slotOfAddress(v4, 0, 7));
      expect(slotOfAddress(`::ffff:${v4}`, 99, 16)).toBe(slotOfAddress(v4, 99, 16));
    }
    expect(slotOfAddress('::ffff:10.1.2.3', 0, 64)).toBe(slotOfAddress('10.1.2.3', 0, 64));
  });

  it('is the bucket model\'s slot, the one the kernel data plane computes', () => {
    expect(slotOfAddress('10.1.2.3', 42, 9)).toBe(bucketTable(9, 42)[bucketOfAddress('10.1.2.3', 42)]);
    expect(slotOfAddress('2001:db8::1', 42, 9)).toBe(bucketTable(9, 42)[bucketOfAddress('2001:db8::1', 42)]);
  });

  it('hashes text that is not an address instead of failing', () => {
    expect(slotOfAddress('unknown', 0, 5)).toBe(jumpHash(hashString('unknown', 0), 5));
  });

  it('stays in range', () => {
    for (let i = 0; i < 256; i++) {
      const slot = slotOfAddress(`192.0.2.${i}`, 0, 3);
      expect(slot).toBeGreaterThanOrEqual(0);
      expect(slot).toBeLessThan(3);
    }
  });

  it('does not take a `::ffff:` prefix that is not followed by IPv4 for a mapped address', () => {
    expect(slotOfAddress('::ffff:1', 0, 64)).toBe(bucketTable(64, 0)[bucketOfAddress('0:0:0:0:0:0:ffff:1', 0)]);
    expect(bucketOfAddress('::ffff:1', 0)).not.toBe(bucketOfAddress('0.0.255.255', 0));
  });
});

describe('slotOfKey', () => {
  it('accepts a string', () => {
    expect(slotOfKey('user-1', 3, 8)).toBe(jumpHash(hashString('user-1', 3), 8));
  });

  it('accepts number[] and Uint8Array, deterministically', () => {
    const numbers = slotOfKey([1, 2, 3], 0, 8);
    const bytes = slotOfKey(new Uint8Array([1, 2, 3]), 0, 8);
    expect(numbers).toBeTypeOf('number');
    expect(bytes).toBeTypeOf('number');
    expect(slotOfKey([1, 2, 3], 0, 8)).toBe(numbers);
    expect(slotOfKey(new Uint8Array([1, 2, 3]), 0, 8)).toBe(bytes);
    expect(numbers).toBeGreaterThanOrEqual(0);
    expect(numbers).toBeLessThan(8);
    expect(bytes).toBeGreaterThanOrEqual(0);
    expect(bytes).toBeLessThan(8);
  });

  it('accepts a Buffer (a Uint8Array) and an empty array', () => {
    expect(slotOfKey(Buffer.from('abc'), 0, 4)).toBe(slotOfKey(new Uint8Array([97, 98, 99]), 0, 4));
    expect(slotOfKey([], 0, 4)).toBeTypeOf('number');
    expect(slotOfKey('', 0, 4)).toBeTypeOf('number');
  });

  it('spreads different keys over the slots', () => {
    const seen = new Set<number | undefined>();
    for (let i = 0; i < 200; i++) seen.add(slotOfKey([i, i * 7], 0, 4));
    expect([...seen].sort()).toEqual([0, 1, 2, 3]);
  });

  it('returns undefined for anything else', () => {
    for (const key of [null, undefined, {}, { length: 2 }, 42, true, [1, '2'], [1, null], ['a'], [{}], () => 'x', new Set([1])]) {
      expect(slotOfKey(key, 0, 4)).toBeUndefined();
    }
  });
});

describe('nextLiveSlot', () => {
  it('returns `from` itself when it is live', () => {
    expect(nextLiveSlot(4, 2, () => true)).toBe(2);
  });

  it('searches forward and wraps around', () => {
    const live = new Set([0, 1]);
    expect(nextLiveSlot(4, 2, (s) => live.has(s))).toBe(0);
    expect(nextLiveSlot(4, 3, (s) => s === 1)).toBe(1);
    expect(nextLiveSlot(4, 1, (s) => s === 3)).toBe(3);
  });

  it('wraps a `from` outside [0, count)', () => {
    expect(nextLiveSlot(4, 5, (s) => s === 1)).toBe(1);
    expect(nextLiveSlot(4, -1, (s) => s === 3)).toBe(3);
  });

  it('visits every slot once and returns -1 when none is live', () => {
    const visited: number[] = [];
    expect(nextLiveSlot(4, 2, (s) => { visited.push(s); return false; })).toBe(-1);
    expect(visited).toEqual([2, 3, 0, 1]);
    expect(nextLiveSlot(0, 0, () => true)).toBe(-1);
  });
});
