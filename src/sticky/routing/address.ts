import { isIP } from 'node:net';

// Client addresses from sockets and proxy headers. One rule for header values: take what parses
// as an IPv4 or IPv6 address (ports, brackets, quotes and `for=` stripped); anything else
// (`unknown`, `_hidden`, empty, garbage) yields undefined and the caller falls back to the socket.

const MAPPED_PREFIX = '::ffff:';

/** `::ffff:a.b.c.d` → `a.b.c.d`; anything else unchanged. */
export function normalizeAddress(address: string): string {
  if (address.length > MAPPED_PREFIX.length && address.charCodeAt(0) === 58 /* : */ &&
      address.toLowerCase().startsWith(MAPPED_PREFIX)) {
    const rest = address.slice(MAPPED_PREFIX.length);
    if (isIP(rest) === 4) return rest;
  }
  return address;
}

/**
 * The form Node reports for socket addresses (lower case, zeros compressed, RFC 5952), so a header
 * value routes like the same address seen on a socket: `2001:DB8:0::1` → `2001:db8::1`.
 */
export function canonicalIPv6(address: string): string | undefined {
  // A zone id (`fe80::1%eth0`) names an interface of the sender's host: it says nothing about the client.
  const zone = address.indexOf('%');
  let hostname: string;
  try {
    hostname = new URL(`http://[${zone === -1 ? address : address.slice(0, zone)}]/`).hostname.slice(1, -1);
  } catch {
    return undefined;
  }
  // The URL serialiser writes IPv4-mapped addresses in hex (`::ffff:102:304`); key them as IPv4.
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(hostname);
  if (mapped === null) return hostname;
  const high = parseInt(mapped[1] as string, 16);
  const low = parseInt(mapped[2] as string, 16);
  return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
}

const IPV4_WITH_PORT = /^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/;

function stripQuotes(value: string): string {
  return value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value;
}

/** One entry of a forwarding header → a normalised address, or undefined if it is not one. */
export function parseAddressEntry(entry: string): string | undefined {
  let value = stripQuotes(entry.trim());
  if (value.length === 0 || value.length > 64) return undefined;
  if (value.startsWith('[')) {
    const close = value.indexOf(']');
    if (close === -1) return undefined;
    const rest = value.slice(close + 1);
    if (rest !== '' && !/^:\d{1,5}$/.test(rest)) return undefined;
    value = value.slice(1, close);
    return isIP(value) === 6 ? canonicalIPv6(value) : undefined;
  }
  const withPort = IPV4_WITH_PORT.exec(value);
  if (withPort !== null) value = withPort[1] as string;
  const family = isIP(value);
  return family === 0 ? undefined : family === 6 ? canonicalIPv6(value) : value;
}

/** The `for=` parameter of one RFC 7239 `Forwarded` element, if any. */
export function forwardedFor(element: string): string {
  for (const pair of element.split(';')) {
    const eq = pair.indexOf('=');
    if (eq !== -1 && pair.slice(0, eq).trim().toLowerCase() === 'for') return pair.slice(eq + 1);
  }
  return '';
}

/**
 * The count form of the forwarding rule (without `trustedProxies`; trust.ts decides which form applies):
 * the client address in a forwarding header value. `trustedHops = 0` takes the first (leftmost)
 * entry; `n > 0` takes the n-th entry from the right (the one your n-th proxy appended), or the
 * leftmost when the list is shorter.
 */
export function clientAddressFromHeader(
  value: string | undefined, trustedHops: number, isForwarded: boolean,
): string | undefined {
  if (value === undefined || value.length === 0) return undefined;
  const entries = value.split(',');
  const index = trustedHops === 0 ? 0 : Math.max(0, entries.length - trustedHops);
  const entry = entries[index] as string;
  return parseAddressEntry(isForwarded ? forwardedFor(entry) : entry);
}
