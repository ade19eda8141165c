import { describe, expect, it } from 'vitest';
import { clientAddressFromHeader, parseAddressEntry } from '../../src/sticky/routing/address.js';
import { findHeadEnd, isRequestLine, looksLikeHttp, parseRequestHead } from '../../src/sticky/routing/http-head.js';
import { parseProxyHeader } from '../../src/sticky/routing/proxy-protocol.js';

// Nothing a client sends may throw in the primary: every parser the primary runs on client bytes is
// fed seeded random input, and mutations of valid input, and must return a verdict.

/** mulberry32: a small seeded PRNG, so a failure reproduces. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const ALPHABET = 'PROXYTCP46UNKOWabcdef0123456789:.[]%,;="\r\n \t\0-_forFORunknown\u00ff';

function mutate(base: Buffer, next: () => number): Buffer {
  const bytes = Buffer.from(base);
  const edits = 1 + Math.floor(next() * 4);
  for (let i = 0; i < edits && bytes.length > 0; i++) {
    const at = Math.floor(next() * bytes.length);
    bytes[at] = next() < 0.5 ? Math.floor(next() * 256) : ALPHABET.charCodeAt(Math.floor(next() * ALPHABET.length));
  }
  return bytes.subarray(0, Math.floor(next() * (bytes.length + 1)));
}

const ADDRESS_TEMPLATES = [
  'fe80::1', '[2001:db8::1]:443', '::ffff:192.0.2.1', '198.51.100.7:4711', 'for="[2001:db8:cafe::17]:4711"',
  '10.0.0.1, 10.0.0.2', '2001:DB8:0:0:0:0:0:1', 'unknown', '_hidden',
];

/** A plausible forwarding value with a few characters changed, inserted or cut. */
function mutateText(base: string, next: () => number): string {
  let text = base;
  const edits = 1 + Math.floor(next() * 3);
  for (let i = 0; i < edits; i++) {
    const at = Math.floor(next() * (text.length + 1));
    const char = ALPHABET[Math.floor(next() * ALPHABET.length)] as string;
    text = next() < 0.5 ? text.slice(0, at) + char + text.slice(at) : text.slice(0, at) + char + text.slice(at + 1);
  }
  return text;
}

function randomText(next: () => number, length: number): string {
  let text = '';
  for (let i = 0; i < length; i++) text += ALPHABET[Math.floor(next() * ALPHABET.length)];
  return text;
}

const V2 = Buffer.concat([
  Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x21, 0x21, 0x00, 0x24]),
  Buffer.alloc(36, 1),
]);
const SEEDS = [
  Buffer.from('PROXY TCP4 192.0.2.1 198.51.100.2 4711 80\r\nGET / HTTP/1.1\r\n\r\n'),
  Buffer.from('PROXY TCP6 2001:db8::1 2001:db8::2 4711 443\r\n'),
  V2,
  Buffer.from('GET /a?b=c HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 10.0.0.1, [2001:db8::1]:443\r\n\r\n'),
];

describe('parsers never throw on client bytes', () => {
  it('PROXY headers, request heads and forwarding values: 20 000 inputs each', () => {
    const next = random(20_261_121);
    let verdicts = 0;
    for (let i = 0; i < 20_000; i++) {
      const seed = SEEDS[i % SEEDS.length] as Buffer;
      const input = i % 3 === 0 ? Buffer.from(randomText(next, Math.floor(next() * 120)), 'latin1') : mutate(seed, next);
      const proxy = parseProxyHeader(input, 16_384);
      expect(['incomplete', 'invalid', 'ok']).toContain(proxy.kind);
      if (proxy.kind === 'ok') expect(proxy.length).toBeLessThanOrEqual(input.length);
      const end = findHeadEnd(input);
      const head = parseRequestHead(input.toString('latin1', 0, end === -1 ? input.length : end - 4));
      if (head !== undefined) verdicts++;
      looksLikeHttp(input[0] ?? 0);
      isRequestLine(input.toString('latin1'));
      const value = i % 2 === 0
        ? randomText(next, Math.floor(next() * 60))
        : mutateText(ADDRESS_TEMPLATES[i % ADDRESS_TEMPLATES.length] as string, next);
      clientAddressFromHeader(value, Math.floor(next() * 3), next() < 0.5);
      const entry = parseAddressEntry(value);
      if (entry !== undefined) expect(entry).not.toContain('%');
    }
    // The mutations keep some inputs valid, so both outcomes were exercised.
    expect(verdicts).toBeGreaterThan(0);
  });
});
