import { describe, expect, it } from 'vitest';
import { AddressRanges, rangeError } from '../../src/internal/address-ranges.js';
import { forwardedClient, forwardingRule, isTrustedPeer } from '../../src/sticky/routing/trust.js';

// The one trust rule: which peers may forward a client address (the compiled address ranges), and
// which entry of a forwarding header is the client (walked from the right while trusted).

describe('AddressRanges: the compiled trusted list', () => {
  const ranges = new AddressRanges(['10.0.0.0/8', '127.0.0.1', '::1', 'fd00::/8', '192.168.1.128/25', '2001:db8:0:1::/64']);

  it.each([
    ['10.0.0.1', true], ['10.255.255.255', true], ['11.0.0.0', false], ['9.255.255.255', false],
    ['127.0.0.1', true], ['127.0.0.2', false], ['127.0.0.66', false],
    ['192.168.1.128', true], ['192.168.1.255', true], ['192.168.1.127', false],
    ['::1', true], ['0:0:0:0:0:0:0:1', true], ['::2', false], ['::', false],
    ['fd00::1', true], ['fdff:ffff::1', true], ['FD12:3456::7', true], ['fc00::1', false], ['fe80::1', false],
    ['2001:db8:0:1::5', true], ['2001:db8:0:1:ffff:ffff:ffff:ffff', true], ['2001:db8:0:2::5', false],
  ])('%s → %s', (address, expected) => {
    expect(ranges.has(address)).toBe(expected);
  });

  it('matches IPv4-mapped IPv6 peers (as Node reports them on dual-stack sockets) as IPv4', () => {
    expect(ranges.has('::ffff:10.1.2.3')).toBe(true);
    expect(ranges.has('::FFFF:127.0.0.1')).toBe(true);
    expect(ranges.has('::ffff:a01:203')).toBe(true); // the same address in hex
    expect(ranges.has('::ffff:127.0.0.66')).toBe(false);
    expect(new AddressRanges(['::ffff:10.0.0.0/104']).has('10.9.9.9')).toBe(true);
    expect(new AddressRanges(['::ffff:10.0.0.0/104']).has('11.9.9.9')).toBe(false);
  });

  it('ignores a zone id on a peer, matches /0 to every address of its family, masks host bits of a range', () => {
    expect(new AddressRanges(['fe80::/10']).has('fe80::1%eth0')).toBe(true);
    expect(new AddressRanges(['0.0.0.0/0']).has('203.0.113.7')).toBe(true);
    expect(new AddressRanges(['0.0.0.0/0']).has('2001:db8::1')).toBe(false);
    expect(new AddressRanges(['::/0']).has('2001:db8::1')).toBe(true);
    expect(new AddressRanges(['10.1.2.3/8']).has('10.200.0.1')).toBe(true);
  });

  it.each([
    '', 'unknown', '10.0.0', '10.0.0.0.0', '10.0.0.256', '010.0.0.1', '1.2.3.4:80', '[::1]', ':::1', '1::2::3', '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7:8::', '12345::1', 'g::1', '::1:', ':1', '1.2.3.4.', ' 1.2.3.4', '::ffff:1.2.3',
  ])('a peer that is no address (%j) is never trusted', (address) => {
    expect(new AddressRanges(['0.0.0.0/0', '::/0']).has(address)).toBe(false);
  });

  it('accepts full, compressed and embedded-IPv4 IPv6 forms', () => {
    const one = new AddressRanges(['2001:db8::a:0:0:1']);
    expect(one.has('2001:0db8:0000:0000:000a:0000:0000:0001')).toBe(true);
    expect(one.has('2001:db8:0:0:a::1')).toBe(true);
    expect(new AddressRanges(['64:ff9b::192.0.2.33']).has('64:ff9b::c000:221')).toBe(true);
    expect(new AddressRanges(['1:2:3:4:5:6:7::']).has('1:2:3:4:5:6:7:0')).toBe(true);
  });

  it.each([
    ['10.0.0.0/33', 'The prefix length of an IPv4 range is at most 32'],
    ['fd00::/129', 'The prefix length of an IPv6 range is at most 128'],
    ['10.0.0.0/', 'The prefix length after "/" must be a number from 0 to 32'],
    ['10.0.0.0/x', 'The prefix length after "/" must be a number from 0 to 32'],
    ['fd00::/-1', 'The prefix length after "/" must be a number from 0 to 128'],
    ['localhost', 'Host names are not resolved: name the proxy by its address'],
    ['lb.internal', 'Host names are not resolved: name the proxy by its address'],
    ['10.0.0.300', 'It is not an IPv4 or IPv6 address'],
    ['10.0.0.0/8/8', 'The prefix length after "/" must be a number from 0 to 32'],
    ['fe80::1%eth0', 'A zone id (`%eth0`) has no place in a trusted address'],
  ])('%j is refused: %s', (entry, reason) => {
    expect(rangeError(entry)).toBe(reason.charAt(0).toLowerCase() + reason.slice(1));
    expect(() => new AddressRanges([entry])).toThrow(`${JSON.stringify(entry)}: ${reason.charAt(0).toLowerCase()}${reason.slice(1)}`);
  });
});

describe('isTrustedPeer (PROXY protocol)', () => {
  it('believes every peer without a list, else only listed ones; no peer is not trusted', () => {
    expect(isTrustedPeer(undefined, '6.6.6.6')).toBe(true);
    const list = new AddressRanges(['127.0.0.1']);
    expect(isTrustedPeer(list, '127.0.0.1')).toBe(true);
    expect(isTrustedPeer(list, '::ffff:127.0.0.1')).toBe(true);
    expect(isTrustedPeer(list, '127.0.0.66')).toBe(false);
    expect(isTrustedPeer(list, undefined)).toBe(false);
  });
});

describe('forwardedClient: the one forwarding rule', () => {
  const trusted = new AddressRanges(['10.0.0.0/8', '127.0.0.1', 'fd00::/8']);
  const xff = forwardingRule('x-forwarded-for', 0, trusted);
  const forwarded = forwardingRule('forwarded', 0, trusted);

  it('ignores the header of an untrusted peer: the peer is the client (normalised)', () => {
    expect(forwardedClient(xff, '127.0.0.66', '6.6.6.6')).toBe('127.0.0.66');
    expect(forwardedClient(xff, '::ffff:203.0.113.9', '6.6.6.6')).toBe('203.0.113.9');
    expect(forwardedClient(xff, '203.0.113.9', undefined)).toBe('203.0.113.9');
    expect(forwardedClient(xff, undefined, '6.6.6.6')).toBeUndefined();
  });

  it('walks a trusted peer\'s header from the right: the rightmost untrusted entry is the client', () => {
    // The client wrote "6.6.6.6"; the proxy appended the address it saw.
    expect(forwardedClient(xff, '127.0.0.1', '6.6.6.6, 203.0.113.7')).toBe('203.0.113.7');
    // Two of our proxies appended: skipped while trusted.
    expect(forwardedClient(xff, '127.0.0.1', '6.6.6.6, 203.0.113.7, 10.1.1.1, 10.2.2.2')).toBe('203.0.113.7');
    expect(forwardedClient(xff, '127.0.0.1', '6.6.6.6,203.0.113.7:4711,[fd00::5]:80')).toBe('203.0.113.7');
    expect(forwardedClient(xff, '::ffff:127.0.0.1', '2001:db8::1, fd00::9')).toBe('2001:db8::1');
  });

  it('takes the leftmost entry when every entry is trusted', () => {
    expect(forwardedClient(xff, '127.0.0.1', '10.0.0.1, 10.0.0.2')).toBe('10.0.0.1');
    expect(forwardedClient(xff, '127.0.0.1', '10.0.0.3')).toBe('10.0.0.3');
  });

  it('gives no client (the caller uses the socket address) for garbage met before an untrusted entry', () => {
    expect(forwardedClient(xff, '127.0.0.1', undefined)).toBeUndefined();
    expect(forwardedClient(xff, '127.0.0.1', '')).toBeUndefined();
    expect(forwardedClient(xff, '127.0.0.1', 'unknown')).toBeUndefined();
    expect(forwardedClient(xff, '127.0.0.1', '203.0.113.7, garbage')).toBeUndefined();
    expect(forwardedClient(xff, '127.0.0.1', '203.0.113.7,')).toBeUndefined();
    expect(forwardedClient(xff, '127.0.0.1', '203.0.113.7, 10.0.0.1, _hidden')).toBeUndefined();
    // Garbage left of the client is never looked at.
    expect(forwardedClient(xff, '127.0.0.1', 'garbage, 203.0.113.7')).toBe('203.0.113.7');
    expect(forwardedClient(xff, '127.0.0.1', ',,203.0.113.7')).toBe('203.0.113.7');
  });

  it('reads RFC 7239 Forwarded elements by their for= parameter', () => {
    expect(forwardedClient(forwarded, '127.0.0.1', 'for=6.6.6.6, for="[2001:db8:cafe::17]:4711";proto=https, for=10.0.0.1')).toBe('2001:db8:cafe::17');
    expect(forwardedClient(forwarded, '127.0.0.1', 'for=10.0.0.1;by=10.0.0.2')).toBe('10.0.0.1');
    expect(forwardedClient(forwarded, '127.0.0.1', 'for=6.6.6.6, for=unknown')).toBeUndefined();
    expect(forwardedClient(forwarded, '127.0.0.66', 'for=6.6.6.6')).toBe('127.0.0.66');
  });

  it('without a list keeps the count form (trustedHops) and believes every peer', () => {
    expect(forwardedClient(forwardingRule('x-forwarded-for', 0, undefined), '127.0.0.66', '6.6.6.6, 203.0.113.7')).toBe('6.6.6.6');
    expect(forwardedClient(forwardingRule('x-forwarded-for', 1, undefined), '127.0.0.66', '6.6.6.6, 203.0.113.7')).toBe('203.0.113.7');
    expect(forwardedClient(forwardingRule('x-forwarded-for', 1, undefined), '127.0.0.66', '6.6.6.6')).toBe('6.6.6.6');
  });
});
