import { describe, expect, it } from 'vitest';
import { parseProxyHeader } from '../../src/sticky/routing/proxy-protocol.js';

const MAX = 16_384;
const SIGNATURE = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];

/** A PROXY v2 header: signature, version/command byte, family/transport byte, 16-bit length, body. */
function v2(versionCommand: number, familyTransport: number, body: readonly number[], announced = body.length): Buffer {
  return Buffer.from([...SIGNATURE, versionCommand, familyTransport, announced >> 8, announced & 0xff, ...body]);
}

const port = (n: number): number[] => [n >> 8, n & 0xff];
const ipv6 = (groups: readonly number[]): number[] => groups.flatMap((g) => [g >> 8, g & 0xff]);

describe('PROXY protocol v1', () => {
  it('parses TCP4', () => {
    const header = 'PROXY TCP4 192.0.2.1 198.51.100.1 56324 443\r\n';
    expect(parseProxyHeader(Buffer.from(header), MAX)).toEqual({ kind: 'ok', address: '192.0.2.1', port: 56324, length: header.length });
  });

  it('parses TCP6, compressed as sent', () => {
    const header = 'PROXY TCP6 2001:db8::1 2001:db8::2 56324 443\r\n';
    expect(parseProxyHeader(Buffer.from(header), MAX)).toEqual({ kind: 'ok', address: '2001:db8::1', port: 56324, length: header.length });
  });

  it('unwraps an IPv4-mapped TCP6 source', () => {
    const header = 'PROXY TCP6 ::ffff:192.0.2.1 ::ffff:198.51.100.1 1 2\r\n';
    expect(parseProxyHeader(Buffer.from(header), MAX)).toEqual({ kind: 'ok', address: '192.0.2.1', port: 1, length: header.length });
  });

  it('parses UNKNOWN (with or without addresses) as no address', () => {
    expect(parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\n'), MAX)).toEqual({ kind: 'ok', address: undefined, length: 15 });
    const long = 'PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n';
    expect(parseProxyHeader(Buffer.from(long), MAX)).toEqual({ kind: 'ok', address: undefined, length: long.length });
  });

  it('accepts ports 0 and 65535', () => {
    const header = 'PROXY TCP4 192.0.2.1 198.51.100.1 0 65535\r\n';
    expect(parseProxyHeader(Buffer.from(header), MAX)).toMatchObject({ kind: 'ok', address: '192.0.2.1' });
  });

  it('reports `length` so the bytes after the header can be sliced off', () => {
    const header = 'PROXY TCP4 192.0.2.1 198.51.100.1 56324 443\r\n';
    const buffer = Buffer.from(`${header}GET / HTTP/1.1\r\n\r\n`);
    const result = parseProxyHeader(buffer, MAX);
    expect(result.kind).toBe('ok');
    if (result.kind !== 'ok') return;
    expect(buffer.subarray(result.length).toString()).toBe('GET / HTTP/1.1\r\n\r\n');
  });

  it.each(['', 'P', 'PRO', 'PROXY', 'PROXY ', 'PROXY TCP4 1.2', 'PROXY TCP4 192.0.2.1 198.51.100.1 56324 443', 'PROXY TCP4 192.0.2.1 198.51.100.1 56324 443\r'])(
    '%j is incomplete', (text) => {
      expect(parseProxyHeader(Buffer.from(text), MAX)).toEqual({ kind: 'incomplete' });
    },
  );

  it.each([
    ['a bad family', 'PROXY TCP5 192.0.2.1 198.51.100.1 56324 443\r\n'],
    ['a lower-case family', 'PROXY tcp4 192.0.2.1 198.51.100.1 56324 443\r\n'],
    ['a source port of 70000', 'PROXY TCP4 192.0.2.1 198.51.100.1 70000 443\r\n'],
    ['a destination port of 70000', 'PROXY TCP4 192.0.2.1 198.51.100.1 443 70000\r\n'],
    ['a port with a leading zero', 'PROXY TCP4 192.0.2.1 198.51.100.1 0443 443\r\n'],
    ['a negative port', 'PROXY TCP4 192.0.2.1 198.51.100.1 -1 443\r\n'],
    ['IPv6 addresses under TCP4', 'PROXY TCP4 2001:db8::1 2001:db8::2 56324 443\r\n'],
    ['IPv4 addresses under TCP6', 'PROXY TCP6 192.0.2.1 198.51.100.1 56324 443\r\n'],
    ['an invalid IPv4 address', 'PROXY TCP4 999.0.2.1 198.51.100.1 56324 443\r\n'],
    ['a missing field', 'PROXY TCP4 192.0.2.1 198.51.100.1 56324\r\n'],
    ['an extra field', 'PROXY TCP4 192.0.2.1 198.51.100.1 56324 443 x\r\n'],
    ['double spaces', 'PROXY TCP4  192.0.2.1 198.51.100.1 56324 443\r\n'],
    ['no family', 'PROXY \r\n'],
    ['107 bytes without CRLF', `PROXY ${'A'.repeat(101)}`],
    ['a CRLF past 107 bytes', `PROXY UNKNOWN ${'A'.repeat(100)}\r\n`],
    ['a garbage first byte', 'GET / HTTP/1.1\r\n\r\n'],
    ['a lower-case prefix', 'proxy TCP4 192.0.2.1 198.51.100.1 56324 443\r\n'],
    ['a near-miss prefix', 'PROXI TCP4'],
    ['a TLS ClientHello byte', '\x16\x03\x01'],
  ])('refuses %s', (_, text) => {
    expect(parseProxyHeader(Buffer.from(text, 'latin1'), MAX)).toEqual({ kind: 'invalid' });
  });

  it('accepts a header of exactly 107 bytes', () => {
    const header = `PROXY UNKNOWN ${'A'.repeat(91)}\r\n`;
    expect(header.length).toBe(107);
    expect(parseProxyHeader(Buffer.from(header), MAX)).toEqual({ kind: 'ok', address: undefined, length: 107 });
  });
});

describe('PROXY protocol v2', () => {
  const inet = [192, 0, 2, 1, 198, 51, 100, 1, ...port(56324), ...port(443)];

  it('parses PROXY over INET (TCP)', () => {
    expect(parseProxyHeader(v2(0x21, 0x11, inet), MAX)).toEqual({ kind: 'ok', address: '192.0.2.1', port: 56324, length: 28 });
  });

  it('parses PROXY over INET (UDP) the same way', () => {
    expect(parseProxyHeader(v2(0x21, 0x12, inet), MAX)).toEqual({ kind: 'ok', address: '192.0.2.1', port: 56324, length: 28 });
  });

  it('parses PROXY over INET6 and compresses the address like inet_ntop', () => {
    const source = ipv6([0x2001, 0x0db8, 0, 0, 0, 0, 0, 1]);
    const destination = ipv6([0x2001, 0x0db8, 0, 0, 0, 0, 0, 2]);
    const body = [...source, ...destination, ...port(1), ...port(2)];
    expect(parseProxyHeader(v2(0x21, 0x21, body), MAX)).toEqual({ kind: 'ok', address: '2001:db8::1', port: 1, length: 52 });
  });

  it.each([
    [[0x2001, 0x0db8, 0, 0, 0, 0, 0, 1], '2001:db8::1'],
    [[0, 0, 0, 0, 0, 0, 0, 1], '::1'],
    [[0, 0, 0, 0, 0, 0, 0, 0], '::'],
    [[0xfe80, 0, 0, 0, 0, 0, 0, 0], 'fe80::'],
    [[0x2001, 0x0db8, 0, 1, 0, 0, 0, 1], '2001:db8:0:1::1'],
    [[0x2001, 0, 0, 1, 0, 0, 1, 1], '2001::1:0:0:1:1'],
    [[0x2001, 0x0db8, 0, 1, 1, 1, 1, 1], '2001:db8:0:1:1:1:1:1'],
    [[0x2001, 0x0db8, 0xcafe, 0, 0, 0, 0, 0x17], '2001:db8:cafe::17'],
    [[0x2001, 0x0db8, 0xabcd, 0xef01, 0x2345, 0x6789, 0xffff, 0x0001], '2001:db8:abcd:ef01:2345:6789:ffff:1'],
    [[0, 0, 0, 0, 0, 0xffff, 0xc000, 0x0201], '192.0.2.1'],
  ])('formats INET6 %j as %j', (groups, expected) => {
    const body = [...ipv6(groups), ...ipv6([0, 0, 0, 0, 0, 0, 0, 1]), ...port(1), ...port(2)];
    expect(parseProxyHeader(v2(0x21, 0x21, body), MAX)).toMatchObject({ kind: 'ok', address: expected });
  });

  it('gives LOCAL (a health check) no address and skips its body', () => {
    expect(parseProxyHeader(v2(0x20, 0x00, []), MAX)).toEqual({ kind: 'ok', address: undefined, length: 16 });
    expect(parseProxyHeader(v2(0x20, 0x11, inet), MAX)).toEqual({ kind: 'ok', address: undefined, length: 28 });
  });

  it('gives UNSPEC and UNIX families no address', () => {
    expect(parseProxyHeader(v2(0x21, 0x00, []), MAX)).toEqual({ kind: 'ok', address: undefined, length: 16 });
    expect(parseProxyHeader(v2(0x21, 0x31, new Array<number>(216).fill(0)), MAX)).toEqual({ kind: 'ok', address: undefined, length: 232 });
  });

  it('skips TLVs after the addresses, counting them in `length`', () => {
    const tlv = [0x04, 0x00, 0x03, 0x61, 0x62, 0x63];
    expect(parseProxyHeader(v2(0x21, 0x11, [...inet, ...tlv]), MAX)).toEqual({ kind: 'ok', address: '192.0.2.1', port: 56324, length: 34 });
  });

  it('reports `length` so the bytes after the header can be sliced off', () => {
    const buffer = Buffer.concat([v2(0x21, 0x11, inet), Buffer.from('GET / HTTP/1.1\r\n\r\n')]);
    const result = parseProxyHeader(buffer, MAX);
    expect(result.kind).toBe('ok');
    if (result.kind !== 'ok') return;
    expect(buffer.subarray(result.length).toString()).toBe('GET / HTTP/1.1\r\n\r\n');
  });

  it('is incomplete on any proper prefix of the header', () => {
    const full = v2(0x21, 0x11, inet);
    for (let n = 1; n < full.length; n++) {
      expect(parseProxyHeader(full.subarray(0, n), MAX)).toEqual({ kind: 'incomplete' });
    }
  });

  it('is incomplete when the header is shorter than its announced length', () => {
    expect(parseProxyHeader(v2(0x21, 0x11, inet, 20), MAX)).toEqual({ kind: 'incomplete' });
  });

  it.each([
    ['a broken signature', Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x55])],
    ['a lone CR then garbage', Buffer.from([0x0d, 0x00])],
    ['version nibble 1', v2(0x11, 0x11, inet)],
    ['version nibble 3', v2(0x31, 0x11, inet)],
    ['an unknown command', v2(0x22, 0x11, inet)],
    ['an unknown family', v2(0x21, 0x41, inet)],
    ['an INET body shorter than 12 bytes', v2(0x21, 0x11, inet.slice(0, 8))],
    ['an INET6 body shorter than 36 bytes', v2(0x21, 0x21, inet)],
  ])('refuses %s', (_, buffer) => {
    expect(parseProxyHeader(buffer, MAX)).toEqual({ kind: 'invalid' });
  });

  it('refuses an announced length above maxLength, before the bytes arrive', () => {
    const header = v2(0x21, 0x11, inet, 300).subarray(0, 16);
    expect(parseProxyHeader(header, 256)).toEqual({ kind: 'invalid' });
    expect(parseProxyHeader(v2(0x21, 0x11, inet), 27)).toEqual({ kind: 'invalid' });
    expect(parseProxyHeader(v2(0x21, 0x11, inet), 28)).toMatchObject({ kind: 'ok', length: 28 });
  });
});
