import { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { normalizeListenOptions, type ListenOptions, type StickyRequest } from '../../src/options/index.js';
import { createRoutingStrategy, type HeadStrategy, type RoutingStrategy, type SocketStrategy } from '../../src/sticky/routing/routing-strategy-primary.js';
import { HeadVerdict, type HeadState } from '../../src/sticky/routing/head-reader-primary.js';
import { slotOfAddress, slotOfKey } from '../../src/sticky/routing/route.js';
import { proxiedClientOf } from '../../src/sticky/connection.js';
import { proxyV1, proxyV2, requestHead } from '../helpers/client.js';

// Each routing mode's strategy on its own: what it reads, the verdict it gives on bytes arriving in
// any split (one byte at a time included), and the slot it derives, against the route functions and
// against literal slots for seed 7 over 8 slots (taken from those functions before the strategies).

const SEED = 7;
const SLOTS = 8;

function strategyOf(input: ListenOptions): RoutingStrategy {
  return createRoutingStrategy(normalizeListenOptions({ workers: SLOTS, hashSeed: SEED, ...input }));
}

function headStrategyOf(input: ListenOptions): HeadStrategy {
  const strategy = strategyOf(input);
  if (strategy.reads === 'nothing') throw new Error('expected a strategy that reads a head');
  return strategy;
}

/** A head as the reader starts it; by default a connection with no peer address (a socket never connected). */
function newHead(connection = new Socket(), peerAddress = '', peerPort = 0): HeadState {
  return { connection, peerAddress, peerPort, scanned: 0, isFirstLineChecked: false, slot: undefined, consumed: 0 };
}

interface Fed {
  verdict: HeadVerdict;
  /** Bytes delivered when the verdict came. */
  at: number;
  head: HeadState;
}

/** Delivers `bytes` in chunks of `size` the way the head reader does (everything so far, each time) until a verdict. */
function feed(strategy: HeadStrategy, bytes: Buffer | string, size = 1, head = newHead()): Fed {
  const all = Buffer.from(bytes);
  for (let at = Math.min(size, all.length); ; at = Math.min(at + size, all.length)) {
    const verdict = strategy.inspect(all.subarray(0, at), head, SLOTS);
    if (verdict !== HeadVerdict.readMore || at === all.length) return { verdict, at, head };
  }
}

describe('HTTP head strategies', () => {
  const forwarded = headStrategyOf({ proxyHeader: 'x-forwarded-for' });
  const head = requestHead('GET', '/a', { 'X-Forwarded-For': '203.0.113.7' });

  it('reads on byte by byte until the blank line, then routes by the header, searching each byte once', () => {
    const state = newHead();
    for (let at = 1; at < head.length; at++) {
      expect(forwarded.inspect(Buffer.from(head.slice(0, at)), state, SLOTS)).toBe(HeadVerdict.readMore);
      expect(state.scanned).toBe(at);
    }
    expect(forwarded.inspect(Buffer.from(head), state, SLOTS)).toBe(HeadVerdict.route);
    expect(state.slot).toBe(slotOfAddress('203.0.113.7', SEED, SLOTS));
    expect(state.slot).toBe(7);
    expect(state.consumed).toBe(0);
  });

  it('routes the same whatever the split', () => {
    for (const size of [1, 2, 3, 7, 64, head.length]) {
      expect(feed(forwarded, head, size)).toMatchObject({ verdict: HeadVerdict.route, at: head.length, head: { slot: 7 } });
    }
  });

  it('refuses bytes that are not HTTP at the first byte', () => {
    for (const bytes of ['\x16\x03\x01', ' GET / HTTP/1.1\r\n', '1GET', '\0']) {
      expect(feed(forwarded, bytes)).toMatchObject({ verdict: HeadVerdict.badRequest, at: 1 });
    }
  });

  it('refuses a broken request line when its CR LF arrives, not at the deadline', () => {
    const broken = 'GET /a HTTP/1.1 extra\r\nHost: x\r\n';
    expect(feed(forwarded, broken)).toMatchObject({ verdict: HeadVerdict.badRequest, at: broken.indexOf('\n') + 1 });
    expect(feed(forwarded, broken, broken.length)).toMatchObject({ verdict: HeadVerdict.badRequest, at: broken.length });
    // A good request line is checked once; the head then reads on.
    const partial = feed(forwarded, 'GET /a HTTP/1.1\r\nHost: x\r\n');
    expect(partial).toMatchObject({ verdict: HeadVerdict.readMore, head: { isFirstLineChecked: true } });
  });

  it('refuses a complete but malformed head (400)', () => {
    for (const bytes of ['GET /a HTTP/1.1\r\nno colon here\r\n\r\n', 'GET /a HTTP/1.1\r\nBad Name: 1\r\n\r\n', 'GET /a\r\n\r\n']) {
      expect(feed(forwarded, bytes, 1).verdict).toBe(HeadVerdict.badRequest);
      expect(feed(forwarded, bytes, bytes.length).verdict).toBe(HeadVerdict.badRequest);
    }
  });

  it('measures a head that completed within one read against maxHeadBytes (431)', () => {
    const small = headStrategyOf({ proxyHeader: 'x-forwarded-for', maxHeadBytes: 256 });
    const exact = `GET / HTTP/1.1\r\nX-Pad: ${'a'.repeat(256 - 'GET / HTTP/1.1\r\nX-Pad: \r\n\r\n'.length)}\r\n\r\n`;
    expect(exact.length).toBe(256);
    expect(feed(small, exact, exact.length).verdict).toBe(HeadVerdict.route);
    expect(feed(small, `${exact.slice(0, -4)}a\r\n\r\n`, exact.length + 1).verdict).toBe(HeadVerdict.headTooLarge);
  });

  it('falls back (slot undefined) when the header is missing or not an address, and applies trustedHops', () => {
    expect(feed(forwarded, requestHead('GET', '/')).head.slot).toBeUndefined();
    expect(feed(forwarded, requestHead('GET', '/', { 'X-Forwarded-For': 'unknown' }))).toMatchObject({ verdict: HeadVerdict.route, head: { slot: undefined } });
    const hops = headStrategyOf({ proxyHeader: 'x-forwarded-for', trustedHops: 1 });
    expect(feed(hops, requestHead('GET', '/', { 'X-Forwarded-For': '198.51.100.23, 192.0.2.200' })).head.slot).toBe(6);
    const rfc = headStrategyOf({ proxyHeader: 'forwarded' });
    expect(feed(rfc, requestHead('GET', '/', { Forwarded: 'for="[2001:db8::17]:4711";proto=https' })).head.slot).toBe(4);
  });

  it('proxyHeader with trustedProxies: the header counts only when the head\'s peer is trusted', () => {
    const trusting = headStrategyOf({ proxyHeader: 'x-forwarded-for', trustedProxies: ['127.0.0.1'] });
    const request = requestHead('GET', '/', { 'X-Forwarded-For': '203.0.113.7' });
    expect(feed(trusting, request, 7, newHead(new Socket(), '127.0.0.1', 1)).head.slot).toBe(7);
    expect(feed(trusting, request, 7, newHead(new Socket(), '127.0.0.66', 1)).head.slot)
      .toBe(slotOfAddress('127.0.0.66', SEED, SLOTS));
  });

  it('socketIoSessions: the slot in the session id, else spread by the connection', () => {
    const sessions = headStrategyOf({ socketIoSessions: true });
    expect(feed(sessions, requestHead('GET', '/socket.io/?EIO=4&transport=polling&sid=abc.3')).head.slot).toBe(3);
    // Slot 9 is no slot of 8: spread like a request without a session, by the peer's address and port.
    const state = newHead(new Socket(), '127.0.0.9', 40_123);
    expect(feed(sessions, requestHead('GET', '/socket.io/?EIO=4&sid=abc.9'), 5, state).head.slot)
      .toBe(slotOfKey('127.0.0.9:40123', SEED, SLOTS));
    expect(feed(sessions, requestHead('GET', '/socket.io/?EIO=4&sid=abc.9')).head.slot).toBe(slotOfKey(':0', SEED, SLOTS));
  });

  it('custom: the key function gets the parsed request and the socket; a throwing or unusable key falls back', () => {
    const seen: { request: StickyRequest; socket: Socket }[] = [];
    const custom = headStrategyOf({
      generatePrehashArray: (request, socket) => {
        seen.push({ request, socket });
        return request.headers['x-user'] ?? '';
      },
    });
    const state = newHead();
    expect(feed(custom, requestHead('POST', '/login', { 'X-User': 'user-1' }), 3, state).head.slot).toBe(1);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.socket).toBe(state.connection);
    expect(seen[0]?.request).toMatchObject({ method: 'POST', url: '/login', httpVersion: '1.1', headers: { 'x-user': 'user-1' } });
    const throwing = headStrategyOf({ generatePrehashArray: () => { throw new Error('no key'); } });
    expect(feed(throwing, requestHead('GET', '/'))).toMatchObject({ verdict: HeadVerdict.route, head: { slot: undefined } });
    // A JavaScript key function that returns neither a string nor an array.
    const unusable = headStrategyOf({ generatePrehashArray: () => ({}) as unknown as string });
    expect(feed(unusable, requestHead('GET', '/')).head.slot).toBeUndefined();
  });
});

describe('the PROXY protocol strategy', () => {
  const proxy = headStrategyOf({ proxyProtocol: true, trustedProxies: ['127.0.0.1'] });

  it('reads a v1 header byte by byte, routes by its source and consumes exactly the header', () => {
    const header = proxyV1('198.51.100.23', { sourcePort: 41_000 });
    const fed = feed(proxy, `${header}GET / HTTP/1.1\r\n`);
    expect(fed).toMatchObject({ verdict: HeadVerdict.route, at: header.length, head: { consumed: header.length } });
    expect(fed.head.slot).toBe(slotOfAddress('198.51.100.23', SEED, SLOTS));
    expect(fed.head.slot).toBe(0);
    expect(proxiedClientOf(fed.head.connection)).toEqual({ address: '198.51.100.23', port: 41_000 });
  });

  it('reads a v2 header in any split, IPv4 and IPv6 routing like v1', () => {
    for (const size of [1, 5, 16, 64]) {
      const v4 = proxyV2('203.0.113.7');
      expect(feed(proxy, v4, size)).toMatchObject({ verdict: HeadVerdict.route, at: Math.min(v4.length, Math.ceil(v4.length / size) * size), head: { slot: 7, consumed: v4.length } });
      expect(feed(proxy, proxyV2('2001:db8::17'), size).head.slot).toBe(feed(proxy, proxyV1('2001:db8::17'), size).head.slot);
    }
    expect(feed(proxy, proxyV2('2001:db8::17')).head.slot).toBe(4);
  });

  it('routes a LOCAL header (a health check) by the socket address', () => {
    const local = proxyV2('127.0.0.1', { command: 0 });
    const fed = feed(proxy, local);
    expect(fed).toMatchObject({ verdict: HeadVerdict.route, head: { slot: undefined, consumed: local.length } });
    expect(proxiedClientOf(fed.head.connection)).toBeUndefined();
  });

  it('refuses bad headers as soon as they are bad', () => {
    expect(feed(proxy, 'GET / HTTP/1.1\r\n')).toMatchObject({ verdict: HeadVerdict.invalidProxyHeader, at: 1 });
    expect(feed(proxy, 'PROXY TCP4 198.51.100.23 127.0.0.1 70000 80\r\n').verdict).toBe(HeadVerdict.invalidProxyHeader);
    expect(feed(proxy, 'PROXY TCP4 2001:db8::1 127.0.0.1 1 80\r\n').verdict).toBe(HeadVerdict.invalidProxyHeader);
    expect(feed(proxy, `PROXY TCP4 ${'1'.repeat(120)}`)).toMatchObject({ verdict: HeadVerdict.invalidProxyHeader, at: 107 });
    const wrongVersion = proxyV2('203.0.113.7');
    wrongVersion[12] = 0x31;
    // The fixed part (16 bytes) is read whole before the version is looked at.
    expect(feed(proxy, wrongVersion)).toMatchObject({ verdict: HeadVerdict.invalidProxyHeader, at: 16 });
    const small = headStrategyOf({ proxyProtocol: true, trustedProxies: ['127.0.0.1'], maxHeadBytes: 256 });
    expect(feed(small, proxyV2('203.0.113.7', { tlvs: Buffer.alloc(300) })).verdict).toBe(HeadVerdict.invalidProxyHeader);
  });

  it('admits only peers in trustedProxies; the header modes admit every peer', () => {
    const trusting = headStrategyOf({ proxyProtocol: true, trustedProxies: ['127.0.0.1', 'fd00::/8'] });
    expect(['127.0.0.1', '::ffff:127.0.0.1', 'fd00::5', '127.0.0.66', '::1', ''].map((a) => trusting.admitsPeer?.(a)))
      .toEqual([true, true, true, false, false, false]);
    expect(headStrategyOf({ proxyHeader: 'x-forwarded-for', trustedProxies: ['127.0.0.1'] }).admitsPeer).toBeUndefined();
  });
});

describe('the PROXY protocol strategy with socketIoSessions', () => {
  const sessions = headStrategyOf({ proxyProtocol: true, trustedProxies: ['127.0.0.1'], socketIoSessions: true });

  it('reads the PROXY header, then the request head, in any split; the session id routes, the header is consumed', () => {
    const header = proxyV2('203.0.113.7', { sourcePort: 41_000 });
    const request = requestHead('GET', '/socket.io/?EIO=4&transport=polling&sid=abc.3');
    const all = Buffer.concat([header, Buffer.from(request)]);
    for (const size of [1, 7, 16, all.length]) {
      const fed = feed(sessions, all, size);
      expect(fed).toMatchObject({ verdict: HeadVerdict.route, at: all.length, head: { slot: 3, consumed: header.length } });
      expect(proxiedClientOf(fed.head.connection)).toEqual({ address: '203.0.113.7', port: 41_000 });
    }
    // The PROXY header alone is not enough: the request head decides.
    expect(feed(sessions, header).verdict).toBe(HeadVerdict.readMore);
    expect(feed(sessions, `${proxyV1('198.51.100.23')}${request}`).head.slot).toBe(3);
  });

  it('spreads a request without a session by the PROXY client\'s address and port, not the load balancer\'s', () => {
    const handshake = requestHead('GET', '/socket.io/?EIO=4&transport=polling');
    const slotFor = (port: number): number | undefined =>
      feed(sessions, Buffer.concat([proxyV2('203.0.113.7', { sourcePort: port }), Buffer.from(handshake)]), 9).head.slot;
    expect(slotFor(41_000)).toBe(slotOfKey('203.0.113.7:41000', SEED, SLOTS));
    const spread = new Set(Array.from({ length: 40 }, (_, i) => slotFor(40_000 + i)));
    expect(spread.size).toBeGreaterThan(4);
    // A LOCAL header (a health check) names no client: the socket's own address and port.
    expect(feed(sessions, Buffer.concat([proxyV2('127.0.0.1', { command: 0 }), Buffer.from(handshake)])).head.slot)
      .toBe(slotOfKey(':0', SEED, SLOTS));
  });

  it('refuses a bad PROXY header by closing, and a bad request after a good header in HTTP', () => {
    expect(feed(sessions, 'GET / HTTP/1.1\r\n\r\n')).toMatchObject({ verdict: HeadVerdict.invalidProxyHeader, at: 1 });
    expect(feed(sessions, Buffer.concat([proxyV2('203.0.113.7'), Buffer.from('\x00\x01 nonsense\r\n\r\n')])).verdict)
      .toBe(HeadVerdict.badRequest);
    expect(sessions.answers.badRequest?.toString('latin1')).toMatch(/^HTTP\/1\.1 400 /);
    expect(sessions.answers.invalidProxyHeader).toBeUndefined();
    expect(sessions.answers.untrustedProxyPeer).toBeUndefined();
    expect(sessions.reads).toBe('proxyHeader');
    expect(sessions.admitsPeer?.('127.0.0.66')).toBe(false);
  });
});

describe('strategies that read nothing', () => {
  it('ip: the peer address; no peer, no slot', () => {
    const ip = strategyOf({}) as SocketStrategy;
    expect(ip).toMatchObject({ reads: 'nothing', isKeyedByPeerAddress: true });
    expect(ip.slotOfSocket(new Socket(), SLOTS)).toBeUndefined();
  });

  it('customNoParsing: the key of the socket, by slotOfKey', () => {
    const sockets: Socket[] = [];
    const custom = strategyOf({ generatePrehashArrayNoParsing: (socket) => { sockets.push(socket); return [1, 2, 3]; } }) as SocketStrategy;
    const socket = new Socket();
    expect(custom).toMatchObject({ reads: 'nothing', isKeyedByPeerAddress: false });
    expect(custom.slotOfSocket(socket, SLOTS)).toBe(2);
    expect(custom.slotOfSocket(socket, SLOTS)).toBe(slotOfKey([1, 2, 3], SEED, SLOTS));
    expect(sockets).toEqual([socket, socket]);
  });
});

describe('every mode', () => {
  const modes: [string, ListenOptions, RoutingStrategy['reads'], 'http' | 'close'][] = [
    ['ip', {}, 'nothing', 'close'],
    ['customNoParsing', { generatePrehashArrayNoParsing: () => 'k' }, 'nothing', 'close'],
    ['proxyProtocol', { proxyProtocol: true, trustedProxies: ['127.0.0.1'] }, 'proxyHeader', 'close'],
    ['proxyHeader', { proxyHeader: 'x-real-ip' }, 'httpHead', 'http'],
    ['socketIoSessions', { socketIoSessions: true }, 'httpHead', 'http'],
    ['custom', { generatePrehashArray: () => 'k' }, 'httpHead', 'http'],
  ];

  it.each(modes)('%s: reads what it needs and refuses in its protocol', (_mode, input, reads, answers) => {
    const strategy = strategyOf(input);
    expect(strategy.reads).toBe(reads);
    expect(strategy.isKeyedByPeerAddress).toBe(_mode === 'ip');
    const text = Object.fromEntries(Object.entries(strategy.answers).map(([reason, answer]) => [reason, answer?.toString('latin1').split('\r\n')[0]]));
    expect(text).toEqual(answers === 'close'
      ? {
        badRequest: undefined, headTooLarge: undefined, headTimeout: undefined, overloaded: undefined, invalidProxyHeader: undefined,
        untrustedProxyPeer: undefined, rejected: undefined,
      }
      : {
        badRequest: 'HTTP/1.1 400 Bad Request', headTooLarge: 'HTTP/1.1 431 Request Header Fields Too Large',
        headTimeout: 'HTTP/1.1 408 Request Timeout', overloaded: 'HTTP/1.1 503 Service Unavailable', invalidProxyHeader: undefined,
        untrustedProxyPeer: undefined, rejected: 'HTTP/1.1 503 Service Unavailable',
      });
  });

  it.each(modes)('%s: routes a key named through the API like its connections', (mode, input) => {
    const strategy = strategyOf(input);
    if (mode === 'custom' || mode === 'customNoParsing') {
      expect(strategy.slotOfKey('user-1', SLOTS)).toBe(1);
      expect(strategy.slotOfKey([1, 2, 3], SLOTS)).toBe(2);
      expect(strategy.slotOfKey('alice', SLOTS)).toBe(slotOfKey('alice', SEED, SLOTS));
    } else {
      expect(strategy.slotOfKey('203.0.113.7', SLOTS)).toBe(7);
      expect(strategy.slotOfKey('[2001:db8::17]:443', SLOTS)).toBe(4);
      expect(strategy.slotOfKey('::ffff:192.0.2.200', SLOTS)).toBe(slotOfAddress('192.0.2.200', SEED, SLOTS));
      expect(strategy.slotOfKey('unknown', SLOTS)).toBeUndefined();
      expect(strategy.slotOfKey([1, 2, 3], SLOTS)).toBeUndefined();
    }
  });
});
