import { describe, expect, it } from 'vitest';
import { clientAddressFromHeader, normalizeAddress, parseAddressEntry } from '../../src/sticky/routing/address.js';

describe('normalizeAddress', () => {
  it('unwraps IPv4-mapped IPv6, in any case', () => {
    expect(normalizeAddress('::ffff:10.1.2.3')).toBe('10.1.2.3');
    expect(normalizeAddress('::FFFF:10.1.2.3')).toBe('10.1.2.3');
  });

  it('leaves everything else unchanged', () => {
    expect(normalizeAddress('10.1.2.3')).toBe('10.1.2.3');
    expect(normalizeAddress('2001:db8::1')).toBe('2001:db8::1');
    expect(normalizeAddress('::1')).toBe('::1');
    expect(normalizeAddress('::ffff:')).toBe('::ffff:');
    expect(normalizeAddress('::ffff:1')).toBe('::ffff:1');
    expect(normalizeAddress('::ffff:999.1.1.1')).toBe('::ffff:999.1.1.1');
    expect(normalizeAddress('')).toBe('');
  });
});

describe('parseAddressEntry', () => {
  it.each([
    ['198.51.100.7:4711', '198.51.100.7'],
    ['198.51.100.7', '198.51.100.7'],
    [' 198.51.100.7 ', '198.51.100.7'],
    ['1.2.3.4', '1.2.3.4'],
    ['::ffff:1.2.3.4', '1.2.3.4'],
    ['[2001:db8::1]:443', '2001:db8::1'],
    ['[2001:db8::1]', '2001:db8::1'],
    ['"[2001:db8::1]:443"', '2001:db8::1'],
    ['"192.0.2.60"', '192.0.2.60'],
    ['2001:db8::1', '2001:db8::1'],
    ['[::ffff:1.2.3.4]:80', '1.2.3.4'],
    ['0:0:0:0:0:ffff:102:304', '1.2.3.4'],
    ['[::FFFF:C000:0201]', '192.0.2.1'],
    ['[2001:DB8:0:0::1]:443', '2001:db8::1'],
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
  ])('%j → %j', (entry, expected) => {
    expect(parseAddressEntry(entry)).toBe(expected);
  });

  it.each([
    'unknown', '_hidden', '', '   ', 'garbage', '999.1.1.1', '[::1', '[1.2.3.4]', '[2001:db8::1]x',
    '[2001:db8::1]:', '[2001:db8::1]:123456', '1.2.3.4:', '1.2.3.4:abc', '1.2.3', 'example.com', '"',
    `1.2.3.4${' '.repeat(70)}x`,
  ])('%j → undefined', (entry) => {
    expect(parseAddressEntry(entry)).toBeUndefined();
  });
});

describe('clientAddressFromHeader', () => {
  const xff = '203.0.113.9, 198.51.100.7, 192.0.2.1';

  it('takes the leftmost entry with trustedHops 0', () => {
    expect(clientAddressFromHeader(xff, 0, false)).toBe('203.0.113.9');
  });

  it('takes the n-th entry from the right with trustedHops n', () => {
    expect(clientAddressFromHeader(xff, 1, false)).toBe('192.0.2.1');
    expect(clientAddressFromHeader(xff, 2, false)).toBe('198.51.100.7');
    expect(clientAddressFromHeader(xff, 3, false)).toBe('203.0.113.9');
  });

  it('takes the leftmost entry when the list is shorter than the hops', () => {
    expect(clientAddressFromHeader(xff, 4, false)).toBe('203.0.113.9');
    expect(clientAddressFromHeader('203.0.113.9', 2, false)).toBe('203.0.113.9');
    expect(clientAddressFromHeader('203.0.113.9, 192.0.2.1', 64, false)).toBe('203.0.113.9');
  });

  it('returns undefined for a missing or empty value, or an entry that is not an address', () => {
    expect(clientAddressFromHeader(undefined, 0, false)).toBeUndefined();
    expect(clientAddressFromHeader('', 0, false)).toBeUndefined();
    expect(clientAddressFromHeader('unknown, 192.0.2.1', 0, false)).toBeUndefined();
    expect(clientAddressFromHeader('192.0.2.1, garbage', 1, false)).toBeUndefined();
    expect(clientAddressFromHeader('192.0.2.1,', 1, false)).toBeUndefined();
  });

  it('strips ports and brackets from X-Forwarded-For entries', () => {
    expect(clientAddressFromHeader('[2001:db8::1]:443, 192.0.2.1', 0, false)).toBe('2001:db8::1');
    expect(clientAddressFromHeader('192.0.2.1:5555', 1, false)).toBe('192.0.2.1');
  });

  describe('Forwarded (RFC 7239)', () => {
    const forwarded = 'for=192.0.2.60;proto=http, for="[2001:db8:cafe::17]:4711"';

    it('reads `for=` of the chosen element', () => {
      expect(clientAddressFromHeader(forwarded, 0, true)).toBe('192.0.2.60');
      expect(clientAddressFromHeader(forwarded, 1, true)).toBe('2001:db8:cafe::17');
      expect(clientAddressFromHeader(forwarded, 2, true)).toBe('192.0.2.60');
      expect(clientAddressFromHeader(forwarded, 3, true)).toBe('192.0.2.60');
    });

    it('matches `for` in any case and position', () => {
      expect(clientAddressFromHeader('proto=https;FOR=192.0.2.43;by=203.0.113.60', 0, true)).toBe('192.0.2.43');
      expect(clientAddressFromHeader('proto=https; for = 192.0.2.43', 0, true)).toBe('192.0.2.43');
    });

    it('returns undefined without `for=` or with an obfuscated identifier', () => {
      expect(clientAddressFromHeader('proto=http;by=203.0.113.43', 0, true)).toBeUndefined();
      expect(clientAddressFromHeader('for=unknown', 0, true)).toBeUndefined();
      expect(clientAddressFromHeader('for=_hidden', 0, true)).toBeUndefined();
      expect(clientAddressFromHeader('for="_gazonk"', 0, true)).toBeUndefined();
    });

    it('does not read a Forwarded value as a plain address, nor the reverse', () => {
      expect(clientAddressFromHeader('for=192.0.2.60', 0, false)).toBeUndefined();
      expect(clientAddressFromHeader('192.0.2.60', 0, true)).toBeUndefined();
    });
  });
});

describe('zone ids and unparseable IPv6 never throw', () => {
  it('drops the zone id of a link-local address', () => {
    expect(parseAddressEntry('fe80::1%eth0')).toBe('fe80::1');
    expect(parseAddressEntry('[fe80::1%25eth0]:443')).toBe('fe80::1');
    expect(clientAddressFromHeader('for="[fe80::1%25eth0]"', 0, true)).toBe('fe80::1');
  });
});
