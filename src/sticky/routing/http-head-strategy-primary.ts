import type { Socket } from 'node:net';
import type { ResolvedListenOptions, StickyRequest } from '../../options/index.js';
import { HeadVerdict, type HeadState } from './head-reader-primary.js';
import { findHeadEnd, isRequestLine, looksLikeHttp, parseRequestHead } from './http-head.js';
import { forwardedClient, forwardingRule } from './trust.js';
import { slotOfAddress, slotOfKey } from './route.js';
import { slotOfSessionUrl } from './session-id.js';
import { RESPONSES } from './responses.js';
import { isSocket, proxiedClientOf } from '../connection.js';
import { socketOfHandle } from '../../internal/node-internals-primary.js';
import type { Answers, HeadStrategy } from './strategy.js';

// The modes keyed by the HTTP request head (proxyHeader, socketIoSessions, custom with
// generatePrehashArray): one head inspection that parses a complete head once and hands the parsed
// request to the mode's key; the modes differ only in that key.

export const HTTP_ANSWERS: Answers = Object.freeze({
  badRequest: RESPONSES.badRequest,
  headTooLarge: RESPONSES.headersTooLarge,
  headTimeout: RESPONSES.requestTimeout,
  overloaded: RESPONSES.unavailable,
  invalidProxyHeader: undefined,
  untrustedProxyPeer: undefined,
  rejected: RESPONSES.unavailable,
});

/** The slot of a parsed request; undefined routes it by its socket address. A key function may throw. */
export type RequestSlot = (request: StickyRequest, head: HeadState, slots: number) => number | undefined;

export function createHttpHeadStrategy(
  options: Pick<ResolvedListenOptions, 'maxHeadBytes'>,
  slotOfApiKey: HeadStrategy['slotOfKey'],
  slotOfRequest: RequestSlot,
): HeadStrategy {
  const { maxHeadBytes } = options;
  return {
    reads: 'httpHead',
    isKeyedByPeerAddress: false,
    admitsPeer: undefined,
    answers: HTTP_ANSWERS,
    slotOfKey: slotOfApiKey,
    inspect(buffer: Buffer, head: HeadState, slots: number): HeadVerdict {
      if (!looksLikeHttp(buffer[0] as number)) return HeadVerdict.badRequest;
      const from = head.scanned;
      const end = findHeadEnd(buffer, from);
      if (end === -1) {
        head.scanned = buffer.length;
        // The head is not complete yet: refuse a broken request line now rather than at the deadline.
        const isAcceptable = head.isFirstLineChecked || isFirstLineAcceptable(buffer, from, head);
        return isAcceptable ? HeadVerdict.readMore : HeadVerdict.badRequest;
      }
      // The reader measures only heads still incomplete; one that completed within a single read is
      // measured here, so the limit does not depend on how the bytes were split into packets.
      if (end > maxHeadBytes) return HeadVerdict.headTooLarge;
      const request = parseRequestHead(buffer.toString('latin1', 0, end - 4));
      if (request === undefined) return HeadVerdict.badRequest;
      // Nothing a client sends may throw here: any failure to derive a key falls back to the socket.
      try {
        head.slot = slotOfRequest(request, head, slots);
      } catch {
        head.slot = undefined;
      }
      return HeadVerdict.route;
    },
  };
}

/**
 * False when the request line is complete and broken. Until it is complete no CR LF came before
 * `from` (else it was checked then), so the search starts there, one byte back for a split CR LF.
 */
function isFirstLineAcceptable(buffer: Buffer, from: number, head: HeadState): boolean {
  const lineEnd = buffer.indexOf('\r\n', Math.max(0, from - 1));
  if (lineEnd === -1) return true;
  if (!isRequestLine(buffer.toString('latin1', 0, lineEnd))) return false;
  head.isFirstLineChecked = true;
  return true;
}

/** proxyHeader: the client address in the configured header, by the one forwarding rule (trust.ts). */
export function slotOfForwardedRequest(
  options: Pick<ResolvedListenOptions, 'proxyHeader' | 'trustedHops' | 'trustedProxies' | 'hashSeed'>,
): RequestSlot {
  const { hashSeed } = options;
  const rule = forwardingRule(options.proxyHeader, options.trustedHops, options.trustedProxies);
  return (request, head, slots) => {
    const address = forwardedClient(rule, head.peerAddress, request.headers[rule.header]);
    return address === undefined ? undefined : slotOfAddress(address, hashSeed, slots);
  };
}

/**
 * socketIoSessions: a session's requests go to the slot in its id; anything else may go anywhere, so
 * it is spread per connection (many clients behind one NAT address reach different workers).
 */
export function slotOfSessionRequest(hashSeed: number): RequestSlot {
  return (request, head, slots) => {
    const slot = slotOfSessionUrl(request.url, slots);
    if (slot !== undefined) return slot;
    // Behind a PROXY header, the client it names.
    const proxied = proxiedClientOf(head.connection);
    return proxied === undefined ? slotOfKey(`${head.peerAddress}:${head.peerPort}`, hashSeed, slots)
      : slotOfKey(`${proxied.address}:${proxied.port ?? 0}`, hashSeed, slots);
  };
}

/**
 * custom: the key `generatePrehashArray(req, socket)` returns. The one mode that gives the application
 * a net.Socket: made here, around the paused handle, and handed over in its place.
 */
export function slotOfCustomRequest(
  options: Pick<ResolvedListenOptions, 'generatePrehashArray' | 'hashSeed'>,
): RequestSlot {
  const { generatePrehashArray, hashSeed } = options;
  const keyOf = generatePrehashArray as (r: StickyRequest, s: Socket) => unknown;
  return (request, head, slots) => {
    const { connection } = head;
    const socket = isSocket(connection) ? connection : socketOfHandle(connection);
    head.connection = socket;
    return slotOfKey(keyOf(request, socket), hashSeed, slots);
  };
}
