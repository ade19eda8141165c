import type { Socket } from 'node:net';
import type { HeadInspector, Refusal } from './head-reader-primary.js';

// What a routing strategy is (routing-strategy-primary.ts makes one per mode): the types alone, so the
// strategies' files import them without importing each other.

/**
 * The answer to each refusal, and when no worker can take a connection (`rejected`); undefined closes
 * without a byte.
 */
export type Answers = Readonly<Record<Refusal | 'rejected', Buffer | undefined>>;

export interface StrategyBase {
  readonly answers: Answers;
  /** The key is the peer's address alone: a connection may stay a bare handle, and the kernel can route it. */
  readonly isKeyedByPeerAddress: boolean;
  /** The slot of a key named through the API (`{ key }` bus targets); undefined when the mode cannot route it. */
  slotOfKey(key: string | readonly number[], slots: number): number | undefined;
}

/** Routes from the socket alone: the primary reads no byte. */
export interface SocketStrategy extends StrategyBase {
  readonly reads: 'nothing';
  /** The slot of a connection; undefined routes it by its socket address. A key function may throw. */
  slotOfSocket(socket: Socket, slots: number): number | undefined;
}

/** Routes from the first bytes, read by the head reader. */
export interface HeadStrategy extends StrategyBase, HeadInspector {
  readonly reads: 'httpHead' | 'proxyHeader';
  /**
   * Whether the mode reads a head from the peer at this address at all; undefined: from every peer.
   * Refused: `untrustedProxyPeer`.
   */
  readonly admitsPeer: ((peerAddress: string) => boolean) | undefined;
}

export type RoutingStrategy = SocketStrategy | HeadStrategy;
