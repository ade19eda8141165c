import type { AddressRanges } from '../../internal/address-ranges.js';
import { clientAddressFromHeader, forwardedFor, normalizeAddress, parseAddressEntry } from './address.js';
import { inheritedOptions } from '../../options/index.js';

// Which forwarded address to believe, in one place for both sides: the primary routes by it, a worker's
// clientAddress(req) reports it and the upstream-reuse watch compares it. With `trustedProxies`, a PROXY
// header or forwarding header counts only from a trusted peer, and the header's entries are walked from
// the right while they are trusted (as nginx's realip with `real_ip_recursive` and proxy-addr do):
// entries left of the first untrusted one were written by whoever that was, the client included.

/** How a forwarding header is read: which header, and which of its entries to believe. */
export interface ForwardingRule {
  /** The header's lower-case name. */
  readonly header: string;
  /** RFC 7239 `Forwarded`: each element's `for=` parameter is the address. */
  readonly isForwarded: boolean;
  /** The count form, used without `trustedProxies`: `0` the leftmost entry, `n` the n-th from the right. */
  readonly trustedHops: number;
  /** The peers whose forwarded addresses count; undefined believes every peer (the count form). */
  readonly trustedProxies: AddressRanges | undefined;
}

export function forwardingRule(header: string, trustedHops: number,
  trustedProxies: AddressRanges | undefined): ForwardingRule {
  return Object.freeze({ header, isForwarded: header === 'forwarded', trustedHops, trustedProxies });
}

/** Header mode in a worker: the primary's rule, passed in the environment (made once). */
let inheritedRule: ForwardingRule | null | undefined;

/** The header rule a worker inherited from its primary; undefined outside the header mode. */
export function inheritedForwardingRule(): ForwardingRule | undefined {
  if (inheritedRule === undefined) {
    const { proxyHeader: name, trustedHops, trustedProxies } = inheritedOptions();
    inheritedRule = name === '' ? null : forwardingRule(name, trustedHops, trustedProxies);
  }
  return inheritedRule ?? undefined;
}

/** Whether a PROXY header from `peer` counts: always without a list, else only from a listed peer. */
export function isTrustedPeer(trustedProxies: AddressRanges | undefined, peer: string | undefined): boolean {
  return trustedProxies === undefined || (peer !== undefined && trustedProxies.has(peer));
}

/**
 * The client behind a request that `peer` (the socket's own peer) sent with `value` in the rule's
 * header. With `trustedProxies`: an untrusted peer is the client itself (the header is ignored); from
 * a trusted peer, the rightmost entry that is not trusted, or the leftmost when all are. Undefined when
 * there is no usable address (no header, an entry that is not an address before an untrusted one is
 * found, or no peer): the caller uses the socket's address.
 */
export function forwardedClient(rule: ForwardingRule, peer: string | undefined,
  value: string | undefined): string | undefined {
  const trusted = rule.trustedProxies;
  if (trusted === undefined) return clientAddressFromHeader(value, rule.trustedHops, rule.isForwarded);
  if (peer === undefined) return undefined;
  if (!trusted.has(peer)) return normalizeAddress(peer);
  if (value === undefined) return undefined;
  let end = value.length;
  for (;;) {
    const comma = end === 0 ? -1 : value.lastIndexOf(',', end - 1);
    const entry = value.slice(comma + 1, end);
    const address = parseAddressEntry(rule.isForwarded ? forwardedFor(entry) : entry);
    if (address === undefined) return undefined;
    if (comma === -1 || !trusted.has(address)) return address;
    end = comma;
  }
}

/** A header value as a request gives it: Node joins repeated lines of most headers, but not of every one. */
export function headerValue(value: string | readonly string[] | undefined): string | undefined {
  return typeof value === 'string' || value === undefined ? value : value.join(', ');
}

/**
 * The value of header `name` (lower case) in a request's `rawHeaders`, repeated lines joined with ', ',
 * as the primary's head parser joins them; undefined without one. Cheaper than `request.headers`, which
 * Node builds on first use for every header.
 */
export function rawHeaderValue(rawHeaders: readonly string[], name: string): string | undefined {
  let value: string | undefined;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const field = rawHeaders[i] as string;
    if (field.length !== name.length || field.toLowerCase() !== name) continue;
    const line = rawHeaders[i + 1] as string;
    value = value === undefined ? line : `${value}, ${line}`;
  }
  return value;
}
