import { describe, expect, it } from 'vitest';
import { headerKeyRule, isSameKey } from '../../src/sticky/upstream-reuse-worker.js';

describe('keys of later requests on one connection', () => {
  it('header mode: values differ only when they name another client address by the primary\'s rule', () => {
    const first = headerKeyRule('x-forwarded-for', 0, false);
    expect(first.differ('203.0.113.7', '203.0.113.7:4711')).toBe(false);
    expect(first.differ('203.0.113.7', '203.0.113.7, 10.0.0.1')).toBe(false);
    expect(first.differ('203.0.113.7', '203.0.113.8')).toBe(true);
    // Routed by the socket address (no usable value) vs a real client.
    expect(first.differ(undefined, '203.0.113.8')).toBe(true);
    expect(first.differ(undefined, 'unknown')).toBe(false);
    const lastHop = headerKeyRule('x-forwarded-for', 1, false);
    expect(lastHop.differ('10.0.0.1, 203.0.113.7', '10.0.0.2, 203.0.113.7')).toBe(false);
    const forwarded = headerKeyRule('forwarded', 0, true);
    expect(forwarded.differ('for=192.0.2.60;proto=http', 'for="192.0.2.60:80"')).toBe(false);
    expect(forwarded.differ('for=192.0.2.60', 'for=192.0.2.61')).toBe(true);
  });

  it('custom keys: strings by value, number and byte arrays element by element', () => {
    expect(isSameKey('user-1', 'user-1')).toBe(true);
    expect(isSameKey('user-1', 'user-2')).toBe(false);
    expect(isSameKey([1, 2, 3], [1, 2, 3])).toBe(true);
    expect(isSameKey([1, 2, 3], [1, 2])).toBe(false);
    expect(isSameKey(Uint8Array.of(1, 2), Uint8Array.of(1, 2))).toBe(true);
    expect(isSameKey(Uint8Array.of(1, 2), Uint8Array.of(2, 1))).toBe(false);
    expect(isSameKey('1,2', [1, 2])).toBe(false);
    expect(isSameKey(undefined, 'user-1')).toBe(false);
  });
});
