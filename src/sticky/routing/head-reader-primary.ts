import type { Socket } from 'node:net';
import { stopReads } from '../../internal/node-internals-primary.js';
import { closeConnection } from '../connection.js';

// Reads the first bytes of a connection in the primary (header, PROXY and parsed custom modes) until
// its strategy says it has enough, then stops the socket's reads so that no later byte is consumed
// here: those stay in the kernel and the worker reads them itself. Each chunk is looked at once: the
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
  readonly socket: Socket;
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
  onHead(socket: Socket, slot: number | undefined, bytes: string | undefined): void;
  /** The connection is refused; the reader let go of it. */
  onRefuse(socket: Socket, refusal: Refusal): void;
}

export interface HeadLimits {
  maxHeadBytes: number;
  headTimeout: number;
  maxPendingHeads: number;
}

// Errors of a socket still in the primary (ECONNRESET while reading a head) end in 'close'.
const ignoreError = (): void => {};

class PendingHead implements HeadState {
  /** Everything read so far, in one buffer. */
  buffer: Buffer | undefined = undefined;
  scanned = 0;
  isFirstLineChecked = false;
  slot: number | undefined = undefined;
  consumed = 0;
  readonly since: number;
  readonly socket: Socket;
  readonly #reader: HeadReader;

  constructor(socket: Socket, reader: HeadReader, now: number) {
    this.socket = socket;
    this.since = now;
    this.#reader = reader;
  }

  onData = (chunk: Buffer): void => {
    const buffer = this.buffer === undefined ? chunk : Buffer.concat([this.buffer, chunk]);
    this.buffer = buffer;
    this.#reader.inspect(this, buffer);
  };

  onEnd = (): void => this.#reader.abort(this);
}

export class HeadReader {
  readonly #inspector: HeadInspector;
  readonly #slots: { readonly size: number };
  readonly #events: HeadReaderEvents;
  readonly #limits: HeadLimits;
  readonly #pending = new Map<Socket, PendingHead>();
  #sweep: NodeJS.Timeout | undefined;

  constructor(
    inspector: HeadInspector, slots: { readonly size: number }, events: HeadReaderEvents, limits: HeadLimits,
  ) {
    this.#inspector = inspector;
    this.#slots = slots;
    this.#events = events;
    this.#limits = limits;
  }

  get size(): number {
    return this.#pending.size;
  }

  /** Reads the head of a paused socket, or refuses it at once when too many heads are being read. */
  start(socket: Socket, now: number): void {
    if (this.#pending.size >= this.#limits.maxPendingHeads) {
      this.#events.onRefuse(socket, HeadVerdict.overloaded);
      return;
    }
    const pending = new PendingHead(socket, this, now);
    this.#pending.set(socket, pending);
    // Stays attached after the head: a socket that waits for its worker must not crash the primary.
    socket.on('error', ignoreError);
    socket.on('data', pending.onData);
    socket.on('end', pending.onEnd);
    socket.on('close', pending.onEnd);
    socket.resume();
    if (this.#sweep === undefined) this.#startSweep();
  }

  /** Refuses every head started `headTimeout` or longer before `now`. */
  expire(now: number): void {
    const deadline = now - this.#limits.headTimeout;
    // (Deleting the entry being visited is safe in a Map iteration.)
    for (const pending of this.#pending.values()) {
      if (pending.since > deadline) continue;
      this.#detach(pending);
      this.#events.onRefuse(pending.socket, HeadVerdict.headTimeout);
    }
  }

  /** Stops reading: every socket still reading its head, its reads stopped, with the bytes read so far. */
  drain(): { socket: Socket; buffer: Buffer }[] {
    this.#stopSweep();
    const pending = [...this.#pending.values()];
    for (const entry of pending) {
      stopReads(entry.socket);
      this.#detach(entry);
    }
    return pending.map((entry) => ({ socket: entry.socket, buffer: entry.buffer ?? Buffer.alloc(0) }));
  }

  inspect(pending: PendingHead, buffer: Buffer): void {
    const verdict = this.#inspector.inspect(buffer, pending, this.#slots.size);
    if (verdict === HeadVerdict.route) {
      stopReads(pending.socket);
      this.#detach(pending);
      // Anything Node buffered but did not emit yet belongs to the request too.
      // (Usually nothing: no array is built for the common case.)
      let all = buffer;
      let more: Buffer | null;
      while ((more = pending.socket.read() as Buffer | null) !== null) all = Buffer.concat([all, more]);
      const bytes = all.length > pending.consumed ? all.toString('base64', pending.consumed) : undefined;
      this.#events.onHead(pending.socket, pending.slot, bytes);
    } else if (verdict !== HeadVerdict.readMore) {
      this.#detach(pending);
      this.#events.onRefuse(pending.socket, verdict);
    } else if (buffer.length > this.#limits.maxHeadBytes) {
      this.#detach(pending);
      this.#events.onRefuse(pending.socket, HeadVerdict.headTooLarge);
    }
  }

  abort(pending: PendingHead): void {
    if (this.#pending.get(pending.socket) !== pending) return;
    this.#detach(pending);
    closeConnection(pending.socket);
  }

  #detach(pending: PendingHead): void {
    this.#pending.delete(pending.socket);
    const { socket } = pending;
    socket.removeListener('data', pending.onData);
    socket.removeListener('end', pending.onEnd);
    socket.removeListener('close', pending.onEnd);
    socket.pause();
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
