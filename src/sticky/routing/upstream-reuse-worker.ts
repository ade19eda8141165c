import type { IncomingMessage } from 'node:http';
import type { Server, Socket } from 'node:net';
import { forwardedClient, inheritedForwardingRule, rawHeaderValue, type ForwardingRule } from './trust.js';
import { inheritedOptions } from '../../options/index.js';

// The header and parsed custom modes route a connection by its first request: the primary reads no
// later request. A proxy that shares its keep-alive connections to this port between clients (HAProxy's
// default `http-reuse safe`, nginx upstream `keepalive`) sends later clients' requests down a connection
// routed by another client, and they reach that client's worker. The worker sees every request of a
// connection, so it compares each later request's key with the first one's and counts those that
// differ; the counts reach the primary at most once per report interval, never per request.

/** Ms between two reports of one worker (the first goes out as soon as a reuse is seen). */
export const UPSTREAM_REUSE_REPORT_INTERVAL = 10_000;

/** How a request's routing key is read and compared, by mode. */
export interface KeyRule {
  /** What the request carries: cheap to read and to compare with `===` (a raw header value, a key). */
  read(request: IncomingMessage): unknown;
  /** Whether two read values that are not `===` name different keys, for requests on `socket`. */
  differ(first: unknown, later: unknown, socket: Socket): boolean;
}

/** Header mode: raw values are compared first; only different ones go through the forwarding rule. */
export function headerKeyRule(rule: ForwardingRule): KeyRule {
  const addressOf = (value: unknown, socket: Socket): string | undefined =>
    forwardedClient(rule, socket.remoteAddress, typeof value === 'string' ? value : undefined);
  return {
    read: (request) => rawHeaderValue(request.rawHeaders, rule.header),
    differ: (first, later, socket) => addressOf(first, socket) !== addressOf(later, socket),
  };
}

/** Custom mode: the key function the primary routes by, applied to each request in the worker. */
export function customKeyRule(keyOf: (request: IncomingMessage, socket: Socket) => unknown): KeyRule {
  return {
    read: (request) => {
      try {
        return keyOf(request, request.socket);
      } catch {
        // The primary routes a throwing key function's connection by its socket address: no key.
        return undefined;
      }
    },
    differ: (first, later) => !isSameKey(first, later),
  };
}

/**
 * The rule of this worker's routing mode, which the primary passes in the environment: the header
 * modes, and the parsed custom mode when the worker has the same key function (the drop-in `listen()`
 * gets it on both sides). Undefined in the other modes: nothing to watch.
 */
export function keyRuleOf(keyOf: ((request: never, socket: Socket) => unknown) | undefined): KeyRule | undefined {
  const rule = inheritedForwardingRule();
  if (rule !== undefined) return headerKeyRule(rule);
  if (inheritedOptions().mode === 'custom' && keyOf !== undefined) {
    // An IncomingMessage has every field of the primary's parsed head (method, url, httpVersion, headers, rawHeaders).
    return customKeyRule(keyOf as (request: IncomingMessage, socket: Socket) => unknown);
  }
  return undefined;
}

/** Strings by value; number arrays and byte arrays element by element. */
export function isSameKey(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  const isList = (value: unknown): value is ArrayLike<unknown> => Array.isArray(value) || value instanceof Uint8Array;
  if (!isList(a) || !isList(b) || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export interface UpstreamReuseCounts {
  /** Requests whose key differed from the key of their connection's first request. */
  requests: number;
  /** Connections that carried such requests. */
  connections: number;
}

/** What a connection was routed by; kept on the socket. */
interface RoutedBy {
  key: unknown;
  isMixed: boolean;
}

const ROUTED_BY = Symbol('sticky.routedBy');
type KeyedSocket = Socket & { [ROUTED_BY]?: RoutedBy };

/**
 * Watches the server's requests for connections that carry several keys. `report` gets the counts
 * since the last report: at once for the first, then at most every `interval` ms. Returns `flush`,
 * which reports what is pending now (before the worker exits).
 */
export function watchUpstreamReuse(server: Server, rule: KeyRule, report: (counts: UpstreamReuseCounts) => void,
  interval = UPSTREAM_REUSE_REPORT_INTERVAL): () => void {
  const pending: UpstreamReuseCounts = { requests: 0, connections: 0 };
  let timer: NodeJS.Timeout | undefined;
  const flush = (): void => {
    if (pending.requests === 0) return;
    report({ ...pending });
    pending.requests = 0;
    pending.connections = 0;
  };
  const onTimer = (): void => {
    timer = undefined;
    if (pending.requests === 0) return;
    flush();
    arm();
  };
  const arm = (): void => {
    timer = setTimeout(onTimer, interval);
    timer.unref();
  };
  // Hot path: one header read (or key call) and one comparison per request; no allocation but the
  // per-connection record.
  server.on('request', (request: IncomingMessage) => {
    const socket = request.socket as KeyedSocket;
    const key = rule.read(request);
    const routedBy = socket[ROUTED_BY];
    if (routedBy === undefined) {
      socket[ROUTED_BY] = { key, isMixed: false };
      return;
    }
    if (key === routedBy.key || !rule.differ(routedBy.key, key, socket)) return;
    pending.requests++;
    if (!routedBy.isMixed) {
      routedBy.isMixed = true;
      pending.connections++;
    }
    if (timer === undefined) {
      flush();
      arm();
    }
  });
  return flush;
}
