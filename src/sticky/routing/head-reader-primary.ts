import { readBareHandle, stopBareReads, type TcpHandle } from '../../internal/node-internals-primary.js';
import { closeConnection, type Connection } from '../connection.js';

// Reads the first bytes of a connection in the primary (header, PROXY and parsed custom modes) on the
// bare handle libuv accepted: no net.Socket and no stream state per connection, libuv's own reads
// into the handle's `onread`. It reads until the strategy says it has enough, then stops the handle's
// reads so that no later byte is consumed here: those stay in the kernel and the worker reads them
// itself. In the common case the whole head comes in one read. Each chunk is looked at once: the
// strategy resumes where it stopped and, when the head is complete, parses it and derives the slot
// in the same call.

/** What becomes of a connection reading its head. The refusals name the balancer's counters. */
export const HeadVerdict = {
  /** Not enough bytes yet: keep reading (up to `maxHeadBytes`). */
  readMore: 'readMore',
  /** Complete: the strategy set `slot` and `consumed`; reads stop and the connection is routed. */
  route: 'route',
  /** Malformed or not HTTP (400). */
  badRequest: 'badRequest',
  /** Larger than `maxHeadBytes` (431, or closed in PROXY mode). */
  headTooLarge: 'headTooLarge',
  /** Not complete within `headTimeout` (408, or closed in PROXY mode); given by the reader itself. */
  headTimeout: 'headTimeout',
  /** `maxPendingHeads` heads are already being read (503, or closed); given by the reader itself. */
  overloaded: 'overloaded',
  /** Not a valid PROXY protocol header (closed). */
  invalidProxyHeader: 'invalidProxyHeader',
  /** PROXY mode: the peer is not in `trustedProxies` (closed before a byte is read); given by the balancer. */
  untrustedProxyPeer: 'untrustedProxyPeer',
} as const;
export type HeadVerdict = (typeof HeadVerdict)[keyof typeof HeadVerdict];
export type Refusal = Exclude<HeadVerdict, 'readMore' | 'route'>;

/** One connection's head as its strategy sees it; the strategy keeps its progress here. */
export interface HeadState {
  /**
   * The accepted connection: its bare handle, or the net.Socket a key function asked for (made around
   * the handle by the strategy, which then stores it here).
   */
  connection: Connection;
  /** The socket peer's address and port (the load balancer's, behind one). */
  readonly peerAddress: string;
  readonly peerPort: number;
  /** Bytes already searched for the end of the head, so that the next look starts there. */
  scanned: number;
  /** The first line was complete and acceptable: it is not checked again. */
  isFirstLineChecked: boolean;
  /** With `route`: the slot, or undefined to route by the socket address. */
  slot: number | undefined;
  /** With `route`: leading bytes the primary consumed (a PROXY header); the worker gets the rest. */
  consumed: number;
}

/** The part of a routing strategy that reads heads. */
export interface HeadInspector {
  /** Decides on everything read so far (`buffer`); `slots` is the current slot count. */
  inspect(buffer: Buffer, head: HeadState, slots: number): HeadVerdict;
}

export interface HeadReaderEvents {
  /** Reads are stopped; `bytes` (base64) is what the worker must see first, if anything. */
  onHead(connection: Connection, peerAddress: string, slot: number | undefined, bytes: string | undefined): void;
  /** The connection is refused (its reads stopped); the reader let go of it. */
  onRefuse(connection: Connection, refusal: Refusal): void;
}

export interface HeadLimits {
  maxHeadBytes: number;
  headTimeout: number;
  maxPendingHeads: number;
}

/** A head still being read. */
export interface DrainedHead {
  connection: Connection;
  peerAddress: string;
  buffer: Buffer;
}

class PendingHead implements HeadState {
  /** Everything read so far, in one buffer. */
  buffer: Buffer | undefined = undefined;
  scanned = 0;
  isFirstLineChecked = false;
  slot: number | undefined = undefined;
  consumed = 0;
  connection: Connection;
  readonly handle: TcpHandle;
  readonly peerAddress: string;
  readonly peerPort: number;
  readonly since: number;

  constructor(handle: TcpHandle, peerAddress: string, peerPort: number, now: number) {
    this.handle = handle;
    this.connection = handle;
    this.peerAddress = peerAddress;
    this.peerPort = peerPort;
    this.since = now;
  }
}

export class HeadReader {
  readonly #inspector: HeadInspector;
  readonly #slots: { readonly size: number };
  readonly #events: HeadReaderEvents;
  readonly #limits: HeadLimits;
  readonly #pending = new Map<TcpHandle, PendingHead>();
  /** The `onread` of every handle being read: one function for all of them. */
  readonly #onRead: (this: TcpHandle, data: ArrayBuffer | undefined) => void;
  #sweep: NodeJS.Timeout | undefined;

  constructor(
    inspector: HeadInspector, slots: { readonly size: number }, events: HeadReaderEvents, limits: HeadLimits,
  ) {
    this.#inspector = inspector;
    this.#slots = slots;
    this.#events = events;
    this.#limits = limits;
    // libuv calls onread with the handle as `this`.
    const read = this.read.bind(this);
    this.#onRead = function onRead(this: TcpHandle, data: ArrayBuffer | undefined): void {
      read(this, data);
    };
  }

  get size(): number {
    return this.#pending.size;
  }

  /**
   * Reads the head of an accepted bare handle (not reading yet) whose peer is `peerAddress`:`peerPort`,
   * or refuses it at once when too many heads are being read.
   */
  start(handle: TcpHandle, peerAddress: string, peerPort: number, now: number): void {
    if (this.#pending.size >= this.#limits.maxPendingHeads) {
      this.#events.onRefuse(handle, HeadVerdict.overloaded);
      return;
    }
    // The peer left between accept and now: nothing to read.
    if (!readBareHandle(handle, this.#onRead)) {
      closeConnection(handle);
      return;
    }
    this.#pending.set(handle, new PendingHead(handle, peerAddress, peerPort, now));
    if (this.#sweep === undefined) this.#startSweep();
  }

  /** Refuses every head started `headTimeout` or longer before `now`. */
  expire(now: number): void {
    const deadline = now - this.#limits.headTimeout;
    // (Deleting the entry being visited is safe in a Map iteration.)
    for (const pending of this.#pending.values()) {
      if (pending.since > deadline) continue;
      this.#detach(pending);
      this.#events.onRefuse(pending.connection, HeadVerdict.headTimeout);
    }
  }

  /** Stops reading: every connection still reading its head, its reads stopped, with the bytes read so far. */
  drain(): DrainedHead[] {
    this.#stopSweep();
    const pending = [...this.#pending.values()];
    for (const entry of pending) this.#detach(entry);
    return pending.map((entry) => ({
      connection: entry.connection, peerAddress: entry.peerAddress, buffer: entry.buffer ?? Buffer.alloc(0),
    }));
  }

  /** One read of `handle` (libuv's callback): the chunk, or undefined at its end or on an error. */
  read(handle: TcpHandle, data: ArrayBuffer | undefined): void {
    const pending = this.#pending.get(handle);
    if (pending === undefined) return;
    if (data === undefined) {
      // The client left (or reset) before its head was complete.
      this.#detach(pending);
      closeConnection(pending.connection);
      return;
    }
    const chunk = Buffer.from(data);
    const buffer = pending.buffer === undefined ? chunk : Buffer.concat([pending.buffer, chunk]);
    pending.buffer = buffer;
    const verdict = this.#inspector.inspect(buffer, pending, this.#slots.size);
    if (verdict === HeadVerdict.route) {
      this.#detach(pending);
      const bytes = buffer.length > pending.consumed ? buffer.toString('base64', pending.consumed) : undefined;
      this.#events.onHead(pending.connection, pending.peerAddress, pending.slot, bytes);
    } else if (verdict !== HeadVerdict.readMore) {
      this.#detach(pending);
      this.#events.onRefuse(pending.connection, verdict);
    } else if (buffer.length > this.#limits.maxHeadBytes) {
      this.#detach(pending);
      this.#events.onRefuse(pending.connection, HeadVerdict.headTooLarge);
    }
  }

  #detach(pending: PendingHead): void {
    this.#pending.delete(pending.handle);
    stopBareReads(pending.handle);
  }

  #startSweep(): void {
    const interval = Math.max(10, Math.min(1000, Math.floor(this.#limits.headTimeout / 4)));
    this.#sweep = setInterval(() => {
      if (this.#pending.size === 0) this.#stopSweep();
      else this.expire(performance.now());
    }, interval);
    // The workers' channels keep the primary alive; this timer alone must not.
    this.#sweep.unref();
  }

  #stopSweep(): void {
    if (this.#sweep !== undefined) clearInterval(this.#sweep);
    this.#sweep = undefined;
  }
}
