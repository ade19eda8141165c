import { MAX_FDS } from '../fd-frames.js';
import { FrameSender } from '../fd-frame-sender.js';
import { proxiedClientOf, type TcpHandle } from '../connection.js';
import type { FdPassing, FdWatch } from './reuseport-native.js';
import { openHandoffPair, type GiveEnd } from './handoff-pair-primary.js';
import {
  ACK_BYTES, MAX_FRAME_JSON_BYTES, MAX_NATIVE_BYTES, encodeHandoff, maxHandoffFrameBytes, type Payload,
} from './fd-handoff.js';

export type { GiveEnd } from './handoff-pair-primary.js';

// The hop's native handoff, the primary's half (the worker's is fd-handoff-worker.ts): where the native
// part loads, each worker's link gets an unnamed Unix sequenced-packet socket pair. Node's IPC cannot
// carry such a socket, so the worker's end travels inside a stream pair that can (the bootstrap).
// Connections then go in frames (sticky/fd-frames.ts: one packet for every connection routed to the
// worker in the same tick, no JSON IPC message and no ACK round trip per connection), and the worker
// answers, once per wake-up and before its application sees any of them, how many it took; its first
// answer says it reads the channel at all (until then the link uses IPC).
// The primary keeps its own copy of each connection until that answer, and a copy of the worker's end:
// a packet is read whole by one reader, so what a stalled worker has not read the primary can read back
// and fail over (after `slotWaitTimeout` without an answer), and what a worker that died never read goes
// to the slot's next worker, as on the IPC path.

/** Connections on their way at once, at most; more wait in the link's queue (and fail over there). */
export const MAX_IN_FLIGHT = 2 * MAX_FDS;

/** The shortest wait before reading back what a silent worker left unread (`slotWaitTimeout` may be 0). */
const MIN_TAKE_BACK_MS = 50;
const MAX_READS_PER_WAKE = 64;
const ACK_BUFFER_BYTES = 16 * 1024;

export interface FdHandoffOptions {
  /** Ms without an answer after which what the worker left unread is read back and `expired`. */
  slotWaitTimeout: number;
  /** The connection is still only ours (never sent, or the channel ended before the worker took it). */
  giveBack: (handle: TcpHandle, bytes: string | undefined) => void;
  /** The worker left it unread for `slotWaitTimeout`: read back, it fails over. */
  expired: (handle: TcpHandle, bytes: string | undefined) => void;
  /** The worker took connections (or made room for more): the link may send what waits. */
  progress: () => void;
}


interface InFlight {
  handle: TcpHandle;
  bytes: string | undefined;
}

export class FdHandoffs {
  readonly #native: FdPassing;
  /** Our end of the packet pair (frames out, answers in). */
  readonly #fd: number;
  /** Our copy of the worker's end: what the worker has not read can be read back from it. */
  #theirs: number | undefined;
  readonly #options: FdHandoffOptions;
  readonly #sender: FrameSender<Payload>;
  readonly #watch: FdWatch;
  /** Sent, not yet acknowledged, oldest first, from `#head` on. */
  #inFlight: (InFlight | undefined)[] = [];
  #head = 0;
  /** performance.now() of the last progress: the oldest in flight was sent, or the worker answered. */
  #progressAt = 0;
  #stallTimer: NodeJS.Timeout | undefined;
  readonly #acks = Buffer.allocUnsafe(ACK_BUFFER_BYTES);
  #isHeard = false;
  #isEnded = false;

  /**
   * Opens a channel: `give` passes the worker the bootstrap end with the message (over IPC:
   * `worker.send`) and calls back once sent. Undefined when the pairs cannot be made (the link keeps
   * the IPC path).
   */
  static open(native: FdPassing, give: GiveEnd, options: FdHandoffOptions): FdHandoffs | undefined {
    const pair = openHandoffPair(native, give, maxHandoffFrameBytes());
    return pair === undefined ? undefined : new FdHandoffs(native, pair.own, pair.theirs, options);
  }

  private constructor(native: FdPassing, fd: number, theirs: number, options: FdHandoffOptions) {
    this.#native = native;
    this.#fd = fd;
    this.#theirs = theirs;
    this.#options = options;
    this.#sender = new FrameSender<Payload>(native, { fd, close: () => undefined }, {
      encode: encodeHandoff, waitsForFlush: true, maxFrameBytes: MAX_FRAME_JSON_BYTES,
    });
    this.#watch = native.watch(fd, false, this.#readable);
  }

  /** Connections sent or queued here that the worker has not acknowledged. */
  get unacknowledged(): number {
    return this.#inFlight.length - this.#head + this.#sender.queued;
  }

  /** Connections may go over the channel: the worker reads it, and it did not end or break. */
  get isOpen(): boolean {
    return this.#isHeard && !this.#isEnded && !this.#sender.isBroken;
  }

  /** Whether another connection may go now (the channel is open and has fewer than MAX_IN_FLIGHT on it). */
  get hasRoom(): boolean {
    return this.isOpen && this.unacknowledged < MAX_IN_FLIGHT;
  }

  /** When the worker last made progress, or undefined with nothing on its way. */
  get progressAt(): number | undefined {
    return this.unacknowledged === 0 ? undefined : this.#progressAt;
  }

  /** Hot path: the connection goes in the next frame. False: not over this channel (use the IPC path). */
  send(handle: TcpHandle, bytes: string | undefined): boolean {
    if (!this.isOpen || (bytes !== undefined && bytes.length > MAX_NATIVE_BYTES)) return false;
    if (this.unacknowledged === 0) this.#progressAt = performance.now();
    const client = proxiedClientOf(handle);
    const payload: Payload = {};
    if (bytes !== undefined) payload.bytes = bytes;
    if (client !== undefined) {
      payload.client = client.address;
      if (client.port !== undefined) payload.clientPort = client.port;
    }
    this.#stallTimer ??= setTimeout(this.#checkStall, this.#stallMs).unref();
    return this.#sender.push({
      fd: handle.fd, message: payload,
      done: (isSent) => {
        if (isSent) this.#inFlight.push({ handle, bytes });
        else this.#options.giveBack(handle, bytes);
      },
    });
  }

  /** Gives back what waits to be sent; what is on its way stays (the worker may still take it). */
  recall(): void {
    for (const item of this.#sender.takeQueued()) item.done(false);
  }

  /**
   * Sends nothing more; what the worker has not read comes back now, what it read and has not answered
   * for once its end closes (its process exits: a worker that lives on took it).
   */
  close(): void {
    this.recall();
    this.#end(false);
    for (const { handle, bytes } of this.#takeBack()) this.#options.giveBack(handle, bytes);
    // From now on our end reads the end of the channel once the worker's copy closes.
    if (this.#theirs !== undefined) this.#native.close(this.#theirs);
    this.#theirs = undefined;
  }

  get #stallMs(): number {
    return Math.max(this.#options.slotWaitTimeout, MIN_TAKE_BACK_MS);
  }

  /** No answer for `slotWaitTimeout`: what the worker left unread fails over. */
  #checkStall = (): void => {
    this.#stallTimer = undefined;
    if (this.#inFlight.length === this.#head) return;
    const due = this.#progressAt + this.#stallMs - performance.now();
    if (due > 0) {
      this.#stallTimer = setTimeout(this.#checkStall, due).unref();
      return;
    }
    for (const { handle, bytes } of this.#takeBack()) this.#options.expired(handle, bytes);
    if (this.#inFlight.length > this.#head) this.#stallTimer = setTimeout(this.#checkStall, this.#stallMs).unref();
  };

  /**
   * Reads back every frame still unread in the worker's end (each packet is read whole, by one of us):
   * their connections are the last ones in flight, and only ours.
   */
  #takeBack(): InFlight[] {
    const theirs = this.#theirs;
    if (theirs === undefined) return [];
    let count = 0;
    const buffer = Buffer.allocUnsafe(maxHandoffFrameBytes());
    try {
      for (let read = this.#native.receive(theirs, buffer); read !== null && read.bytes > 0;
        read = this.#native.receive(theirs, buffer)) {
        for (const fd of read.fds) if (fd >= 0) this.#native.close(fd);
        count += read.fds.length;
      }
    } catch {
      // Nothing more can be read from it.
    }
    const taken = this.#inFlight.splice(Math.max(this.#head, this.#inFlight.length - count)) as InFlight[];
    if (this.#head === this.#inFlight.length) this.#reset();
    return taken;
  }

  #reset(): void {
    this.#inFlight = [];
    this.#head = 0;
  }

  #readable = (status: number): void => {
    let taken = 0;
    let isEnd = status < 0;
    try {
      // Bounded per wake-up (the poll calls again while more waits): a worker cannot keep the primary here.
      for (let reads = 0; reads < MAX_READS_PER_WAKE && !isEnd; reads++) {
        const read = this.#native.receive(this.#fd, this.#acks);
        if (read === null) break;
        // A worker sends no descriptors here: any it does are closed, never kept.
        for (const fd of read.fds) if (fd >= 0) this.#native.close(fd);
        if (read.bytes === 0) isEnd = true;
        else taken += this.#count(read.bytes);
      }
    } catch {
      // ECONNRESET: the worker's end is gone.
      isEnd = true;
    }
    if (!this.#isHeard && !isEnd) this.#isHeard = true;
    if (taken > 0 || !isEnd) this.#acknowledge(taken);
    if (isEnd) this.#end(true);
  };

  /** The answers in the first `length` bytes read (one packet each): how many connections the worker took. */
  #count(length: number): number {
    let taken = 0;
    for (let offset = 0; offset + ACK_BYTES <= length; offset += ACK_BYTES) taken += this.#acks.readUInt32BE(offset);
    return taken;
  }

  #acknowledge(taken: number): void {
    const count = Math.min(taken, this.#inFlight.length - this.#head);
    for (let i = 0; i < count; i++) {
      // The worker holds its own copy: ours is closed.
      (this.#inFlight[this.#head] as InFlight).handle.close();
      this.#inFlight[this.#head++] = undefined;
    }
    if (this.#head === this.#inFlight.length) this.#reset();
    this.#progressAt = performance.now();
    if (!this.#isEnded) this.#sender.flush();
    this.#options.progress();
  }

  /**
   * The channel ends: nothing more is sent. `isClosedByWorker`: the worker's end is gone, so what it
   * never acknowledged is ours alone and goes back.
   */
  #end(isClosedByWorker: boolean): void {
    if (!this.#isEnded) {
      this.#isEnded = true;
      this.#sender.close();
    }
    if (!isClosedByWorker) return;
    if (this.#stallTimer !== undefined) clearTimeout(this.#stallTimer);
    this.#stallTimer = undefined;
    this.#native.unwatch(this.#watch);
    this.#native.close(this.#fd);
    if (this.#theirs !== undefined) this.#native.close(this.#theirs);
    this.#theirs = undefined;
    const unacknowledged = this.#inFlight.slice(this.#head) as InFlight[];
    this.#reset();
    for (const { handle, bytes } of unacknowledged) this.#options.giveBack(handle, bytes);
    this.#options.progress();
  }
}
