import type { Socket } from 'node:net';
import type { ResolvedListenOptions, RoutingMode } from '../../options/index.js';
import { HeadVerdict, type HeadState } from './head-reader-primary.js';
import type { Answers, HeadStrategy, RoutingStrategy, StrategyBase } from './strategy.js';

export type { Answers, HeadStrategy, RoutingStrategy, SocketStrategy } from './strategy.js';
import { parseProxyHeader } from './proxy-protocol.js';
import { parseAddressEntry } from './address.js';
import { slotOfAddress, slotOfKey } from './route.js';
import { setProxiedClient } from '../connection.js';
import { isTrustedPeer } from './trust.js';
import {
  HTTP_ANSWERS, createHttpHeadStrategy, slotOfCustomRequest, slotOfForwardedRequest, slotOfSessionRequest,
} from './http-head-strategy-primary.js';

// Each routing mode as one strategy, chosen once when the balancer is built: what the primary reads
// of a connection (nothing, the HTTP head, the PROXY header), how it derives the slot from that, and
// how it refuses a connection. The balancer calls the strategy and never asks which mode it runs.

const CLOSE_ANSWERS: Answers = Object.freeze({
  badRequest: undefined, headTooLarge: undefined, headTimeout: undefined, overloaded: undefined,
  invalidProxyHeader: undefined, untrustedProxyPeer: undefined, rejected: undefined,
});


const STRATEGIES: Readonly<Record<RoutingMode, (options: Readonly<ResolvedListenOptions>) => RoutingStrategy>> = {
  ip: (options) => ({
    reads: 'nothing',
    isKeyedByPeerAddress: true,
    answers: CLOSE_ANSWERS,
    slotOfKey: addressKeys(options.hashSeed),
    slotOfSocket: (socket, slots) => {
      // undefined when the peer is already gone: then nothing routes it.
      const address = socket.remoteAddress;
      return address === undefined ? undefined : slotOfAddress(address, options.hashSeed, slots);
    },
  }),
  customNoParsing: (options) => ({
    reads: 'nothing',
    isKeyedByPeerAddress: false,
    answers: CLOSE_ANSWERS,
    slotOfKey: customKeys(options.hashSeed),
    slotOfSocket: (socket, slots) => slotOfKey(
      (options.generatePrehashArrayNoParsing as (s: Socket) => unknown)(socket), options.hashSeed, slots),
  }),
  proxyProtocol: (options) => createProxyProtocolStrategy(options),
  proxyHeader: (options) =>
    createHttpHeadStrategy(options, addressKeys(options.hashSeed), slotOfForwardedRequest(options)),
  socketIoSessions: (options) =>
    createHttpHeadStrategy(options, addressKeys(options.hashSeed), slotOfSessionRequest(options.hashSeed)),
  custom: (options) => createHttpHeadStrategy(options, customKeys(options.hashSeed), slotOfCustomRequest(options)),
};

/** The strategy of the options' routing mode. */
export function createRoutingStrategy(options: Readonly<ResolvedListenOptions>): RoutingStrategy {
  return STRATEGIES[options.mode](options);
}

/** API keys in the address modes: a client address, written any way a header may carry it. */
function addressKeys(seed: number): StrategyBase['slotOfKey'] {
  return (key, slots) => {
    const address = typeof key === 'string' ? parseAddressEntry(key) : undefined;
    return address === undefined ? undefined : slotOfAddress(address, seed, slots);
  };
}

/** API keys in the custom modes: what the key function returns. */
function customKeys(seed: number): StrategyBase['slotOfKey'] {
  return (key, slots) => slotOfKey(key, seed, slots);
}

/**
 * PROXY protocol v1/v2: the source address in the header; the header itself never reaches the worker.
 * Only a trusted peer may send one: any other is closed before a byte is read. With
 * `socketIoSessions`, the request head after the header is read too and routed by its session id.
 */
export function createProxyProtocolStrategy(
  options: Pick<ResolvedListenOptions, 'maxHeadBytes' | 'hashSeed' | 'trustedProxies'> & { socketIoSessions?: boolean },
): HeadStrategy {
  const { maxHeadBytes, hashSeed: seed, trustedProxies } = options;
  const sessions = options.socketIoSessions === true
    ? createHttpHeadStrategy(options, addressKeys(seed), slotOfSessionRequest(seed)) : undefined;
  return {
    reads: 'proxyHeader',
    isKeyedByPeerAddress: false,
    answers: sessions === undefined ? CLOSE_ANSWERS : HTTP_ANSWERS,
    slotOfKey: addressKeys(seed),
    admitsPeer: (peerAddress) => isTrustedPeer(trustedProxies, peerAddress),
    inspect(buffer: Buffer, head: HeadState, slots: number): HeadVerdict {
      // consumed > 0: the PROXY header was read on an earlier look (a valid one is at least 16 bytes).
      if (head.consumed === 0) {
        const result = parseProxyHeader(buffer, maxHeadBytes);
        if (result.kind === 'incomplete') return HeadVerdict.readMore;
        if (result.kind === 'invalid') return HeadVerdict.invalidProxyHeader;
        // The worker's socket reports the client, not the load balancer (see receiver-worker.ts).
        const client = result.address;
        if (client !== undefined) setProxiedClient(head.connection, { address: client, port: result.port });
        head.slot = client === undefined ? undefined : slotOfAddress(client, seed, slots);
        head.consumed = result.length;
        if (sessions === undefined) return HeadVerdict.route;
      }
      if (sessions === undefined || buffer.length === head.consumed) return HeadVerdict.readMore;
      // The HTTP head's progress (`scanned`) counts from the end of the PROXY header.
      return sessions.inspect(buffer.subarray(head.consumed), head, slots);
    },
  };
}
