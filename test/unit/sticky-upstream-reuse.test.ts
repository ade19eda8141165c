import { describe, expect, it } from 'vitest';
import { Socket } from 'node:net';
import { headerKeyRule, isSameKey } from '../../src/sticky/routing/upstream-reuse-worker.js';
import { forwardingRule, rawHeaderValue } from '../../src/sticky/routing/trust.js';
import { parseRequestHead } from '../../src/sticky/routing/index.js';
import { AddressRanges } from '../../src/internal/address-ranges.js';

/** A socket whose peer reads as `address` (the rule reads nothing else of it). */
const peer = (address: string): Socket => Object.defineProperty(new Socket(), 'remoteAddress', { value: address });

describe('keys of later requests on one connection', () => {
  it('header mode: values differ only when they name another client address by the primary\'s rule', () => {
    const first = headerKeyRule(forwardingRule('x-forwarded-for', 0, undefined));
    const proxy = peer('127.0.0.1');
    expect(first.differ('203.0.113.7', '203.0.113.7:4711', proxy)).toBe(false);
    expect(first.differ('203.0.113.7', '203.0.113.7, 10.0.0.1', proxy)).toBe(false);
    expect(first.differ('203.0.113.7', '203.0.113.8', proxy)).toBe(true);
    // Routed by the socket address (no usable value) vs a real client.
    expect(first.differ(undefined, '203.0.113.8', proxy)).toBe(true);
    expect(first.differ(undefined, 'unknown', proxy)).toBe(false);
    const lastHop = headerKeyRule(forwardingRule('x-forwarded-for', 1, undefined));
    expect(lastHop.differ('10.0.0.1, 203.0.113.7', '10.0.0.2, 203.0.113.7', proxy)).toBe(false);
    const forwarded = headerKeyRule(forwardingRule('forwarded', 0, undefined));
    expect(forwarded.differ('for=192.0.2.60;proto=http', 'for="192.0.2.60:80"', proxy)).toBe(false);
    expect(forwarded.differ('for=192.0.2.60', 'for=192.0.2.61', proxy)).toBe(true);
  });

  it('header mode with trustedProxies: by the rightmost untrusted entry from a trusted peer; never from another peer', () => {
    const rule = headerKeyRule(forwardingRule('x-forwarded-for', 0, new AddressRanges(['127.0.0.1', '10.0.0.0/8'])));
    const proxy = peer('127.0.0.1');
    // What a client wrote left of its own address does not make another key.
    expect(rule.differ('6.6.6.6, 203.0.113.7', '7.7.7.7, 203.0.113.7', proxy)).toBe(false);
    expect(rule.differ('203.0.113.7, 10.0.0.2', '203.0.113.7', proxy)).toBe(false);
    expect(rule.differ('203.0.113.7', '203.0.113.8', proxy)).toBe(true);
    // A direct client's header is ignored: every request is its own address.
    const direct = peer('127.0.0.66');
    expect(rule.differ('6.6.6.6', '7.7.7.7', direct)).toBe(false);
  });

  it('header mode reads the value from rawHeaders as the primary\'s parser joins it: any case, repeated lines joined', () => {
    const raw = ['Host', 'x', 'X-Forwarded-For', '203.0.113.7', 'x-forwarded-for-not', 'no', 'x-FORWARDED-for', '10.0.0.1'];
    expect(rawHeaderValue(raw, 'x-forwarded-for')).toBe('203.0.113.7, 10.0.0.1');
    expect(rawHeaderValue(raw, 'forwarded')).toBeUndefined();
    expect(rawHeaderValue([], 'x-forwarded-for')).toBeUndefined();
    const head = 'GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 203.0.113.7\r\nx-forwarded-for: 10.0.0.1\r\n\r\n';
    expect(parseRequestHead(head)?.headers['x-forwarded-for']).toBe('203.0.113.7, 10.0.0.1');
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
