import { describe, expect, it } from 'vitest';
import { hashString, jumpHash } from '../../src/sticky/routing/hash.js';

const keys = Array.from({ length: 10_000 }, (_, i) => hashString(`client-${i}`, 0));

describe('hashString', () => {
  it('is deterministic', () => {
    expect(hashString('198.51.100.7', 0)).toBe(hashString('198.51.100.7', 0));
    expect(hashString('', 7)).toBe(hashString('', 7));
  });

  it('returns an unsigned 32-bit integer', () => {
    for (const text of ['', 'a', '10.0.0.1', '2001:db8::1', 'x'.repeat(1000)]) {
      const h = hashString(text, 123);
      expect(Number.isInteger(h)).toBe(true);
      expect(h).toBeGreaterThanOrEqual(0);
      expect(h).toBeLessThanOrEqual(0xffff_ffff);
    }
  });

  it('depends on the seed', () => {
    expect(hashString('10.0.0.1', 0)).not.toBe(hashString('10.0.0.1', 1));
    expect(hashString('10.0.0.1', 1)).not.toBe(hashString('10.0.0.1', 0xffff_ffff));
  });

  it('depends on the text', () => {
    expect(hashString('10.0.0.1', 0)).not.toBe(hashString('10.0.0.2', 0));
  });

  it('hashes from `start` exactly like a slice from there', () => {
    const text = '::ffff:10.1.2.3';
    for (const start of [0, 1, 7, text.length - 1, text.length]) {
      expect(hashString(text, 5, start)).toBe(hashString(text.slice(start), 5));
    }
    expect(hashString(text, 5, 7)).not.toBe(hashString(text, 5));
  });
});

describe('jumpHash', () => {
  it('returns a bucket in [0, n)', () => {
    for (const n of [1, 2, 3, 7, 64, 1024]) {
      for (const key of keys.slice(0, 500)) {
        const b = jumpHash(key, n);
        expect(Number.isInteger(b)).toBe(true);
        expect(b).toBeGreaterThanOrEqual(0);
        expect(b).toBeLessThan(n);
      }
    }
  });

  it('maps everything to bucket 0 when there is one bucket', () => {
    for (const key of [0, 1, 0xffff_ffff, ...keys.slice(0, 100)]) expect(jumpHash(key, 1)).toBe(0);
  });

  it('is deterministic', () => {
    for (const key of keys.slice(0, 100)) expect(jumpHash(key, 13)).toBe(jumpHash(key, 13));
  });

  it('moves 15–25% of keys from 4 to 5 buckets, all of them into the new bucket', () => {
    let moved = 0;
    for (const key of keys) {
      const before = jumpHash(key, 4);
      const after = jumpHash(key, 5);
      if (before === after) continue;
      moved++;
      expect(after).toBe(4);
    }
    expect(moved).toBeGreaterThanOrEqual(1500);
    expect(moved).toBeLessThanOrEqual(2500);
  });

  it('spreads keys evenly over 4 buckets (each within ±15% of 2500)', () => {
    const counts = [0, 0, 0, 0];
    for (const key of keys) counts[jumpHash(key, 4)]! += 1;
    expect(counts.reduce((a, b) => a + b, 0)).toBe(10_000);
    for (const count of counts) {
      expect(count).toBeGreaterThanOrEqual(2125);
      expect(count).toBeLessThanOrEqual(2875);
    }
  });

  it('spreads sequential integer keys evenly too', () => {
    const counts = [0, 0, 0, 0];
    for (let key = 0; key < 10_000; key++) counts[jumpHash(key, 4)]! += 1;
    for (const count of counts) {
      expect(count).toBeGreaterThanOrEqual(2125);
      expect(count).toBeLessThanOrEqual(2875);
    }
  });
});
