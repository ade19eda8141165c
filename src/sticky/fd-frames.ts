import type { FdHandle } from '../internal/node-internals.js';
import { tcpHandleOfFd } from '../internal/node-internals.js';
import type { FdPassing, FdWatch } from './planes/index.js';

// Open connections in frames over an unnamed Unix stream socket pair (the native part's SCM_RIGHTS),
// used by the hop's handoff channel (primary → worker) and K's move channel (retiring worker →
// successor). A frame: a 4-byte length, then a JSON array of the connections' messages; their
// descriptors travel with the frame's first byte, in the same order, at most MAX_FDS per frame. One
// sendmsg carries a whole frame. Safe on both sides.

/** The most descriptors one frame carries (the kernel's SCM_MAX_FD). */
export const MAX_FDS = 253;

const LENGTH_BYTES = 4;
const READ_BUFFER_BYTES = 256 * 1024;
const NO_FDS = new Int32Array(0);

/** A connection to send: its descriptor and message; `done(true)` once the peer's socket holds its copy. */
export interface FramedFd<T> {
  fd: number;
  message: T;
  done: (isSent: boolean) => void;
}

/** One end of a pair: a handle that owns it, or the bare descriptor and how to close it. */
export type FrameEnd = Pick<FdHandle, 'fd' | 'close'>;

export interface FrameSenderOptions<T> {
  /** The JSON value one connection's message travels as. */
  encode: (message: T) => unknown;
  /**
   * While the pair's buffer is full: watch the end until it is writable (the default), or wait for
   * `flush()` (a sender that already reads this end, for the peer's answers: one poll per descriptor).
   */
  waitsForFlush?: boolean;
  /**
   * A frame's JSON stays within this many bytes (a sequenced-packet pair takes each frame whole, up to
   * its send buffer), except a frame of one connection; unbounded by default.
   */
  maxFrameBytes?: number;
}

/** The sending end: frames go out once the current task ends; while the buffer is full they wait. */
export class FrameSender<T> {
  readonly #native: FdPassing;
  readonly #end: FrameEnd;
  readonly #options: FrameSenderOptions<T>;
  #queue: FramedFd<T>[] = [];
  /** The unsent rest of a frame whose connections are already on their way. */
  #rest: Uint8Array | undefined;
  #watch: FdWatch | undefined;
  #isScheduled = false;
  #isBroken = false;
  #isEnding = false;
  #isFull = false;

  constructor(native: FdPassing, end: FrameEnd, options: FrameSenderOptions<T>) {
    this.#native = native;
    this.#end = end;
    this.#options = options;
  }

  /** The channel broke (the peer is gone, or the kernel refused): nothing more goes over it. */
  get isBroken(): boolean {
    return this.#isBroken;
  }

  /** Connections queued, not yet taken by the socket. */
  get queued(): number {
    return this.#queue.length;
  }

  /** Queues a connection. False: the channel broke (send it another way). */
  push(item: FramedFd<T>): boolean {
    if (this.#isBroken || this.#isEnding) return false;
    this.#queue.push(item);
    if (!this.#isScheduled && !this.#isFull) {
      this.#isScheduled = true;
      queueMicrotask(this.#scheduled);
    }
    return true;
  }

  /** Closes the channel once everything queued is sent (the peer reads the end). */
  end(): void {
    this.#isEnding = true;
    if (!this.#isScheduled && !this.#isFull) this.flush();
  }

  /** Takes back what is queued (not yet sent); the channel stays usable. */
  takeQueued(): FramedFd<T>[] {
    return this.#queue.splice(0);
  }

  /** Sends what waits, as far as the buffer takes it. */
  flush(): void {
    this.#isFull = false;
    try {
      while (this.#rest !== undefined || this.#queue.length > 0) {
        if (!(this.#rest === undefined ? this.#sendFrame() : this.#sendRest())) {
          this.#isFull = true;
          if (this.#options.waitsForFlush !== true) {
            this.#watch ??= this.#native.watch(this.#end.fd, true, this.#writable);
          }
          return;
        }
      }
    } catch {
      this.#break();
      return;
    }
    if (this.#isEnding) this.#close();
  }

  /** Stops sending; what is queued is reported unsent. The end is closed. */
  close(): void {
    this.#break();
  }

  #scheduled = (): void => {
    this.#isScheduled = false;
    if (!this.#isFull) this.flush();
  };

  #writable = (): void => {
    if (this.#watch !== undefined) this.#native.unwatch(this.#watch);
    this.#watch = undefined;
    this.flush();
  };

  /** Sends the next frame; false when the buffer is full (nothing sent). */
  #sendFrame(): boolean {
    const items = this.#nextItems();
    const json = Buffer.from(JSON.stringify(items.map((item) => this.#options.encode(item.message))));
    const frame = Buffer.allocUnsafe(LENGTH_BYTES + json.length);
    frame.writeUInt32BE(json.length, 0);
    json.copy(frame, LENGTH_BYTES);
    const fds = new Int32Array(items.length);
    for (let i = 0; i < items.length; i++) fds[i] = (items[i] as FramedFd<T>).fd;
    const sent = this.#native.send(this.#end.fd, frame, fds);
    if (sent < 0) return false;
    const taken = this.#queue.splice(0, items.length);
    if (sent < frame.length) this.#rest = frame.subarray(sent);
    for (const item of taken) item.done(true);
    return true;
  }

  /** The connections of the next frame: at most MAX_FDS, and within `maxFrameBytes` where one is set. */
  #nextItems(): FramedFd<T>[] {
    const count = Math.min(this.#queue.length, MAX_FDS);
    const bound = this.#options.maxFrameBytes;
    if (bound === undefined) return count === this.#queue.length ? this.#queue : this.#queue.slice(0, count);
    let size = 2;
    let taken = 0;
    for (; taken < count; taken++) {
      size += JSON.stringify(this.#options.encode((this.#queue[taken] as FramedFd<T>).message)).length + 1;
      if (taken > 0 && size > bound) break;
    }
    return this.#queue.slice(0, taken);
  }

  #sendRest(): boolean {
    const rest = this.#rest as Uint8Array;
    const sent = this.#native.send(this.#end.fd, rest, NO_FDS);
    if (sent < 0) return false;
    this.#rest = sent < rest.length ? rest.subarray(sent) : undefined;
    return true;
  }

  #break(): void {
    if (this.#isBroken) return;
    this.#isBroken = true;
    const queued = this.#queue.splice(0);
    this.#close();
    for (const item of queued) item.done(false);
  }

  #close(): void {
    if (this.#watch !== undefined) this.#native.unwatch(this.#watch);
    this.#watch = undefined;
    this.#isBroken = true;
    this.#end.close();
  }
}

/** What the receiver does with each connection that arrives (a bare TCP handle). */
export type FrameArrival<T> = (message: T, handle: FdHandle) => void;

/**
 * A connection that arrived unusable (not a TCP connection, a message that does not decode: closed), or,
 * `isBroken`, a channel that broke (the descriptors that came without their frame are closed).
 */
export type FrameRejection = (reason: string, isBroken: boolean) => void;

export interface FrameReceiverOptions<T> {
  /** How reports name one connection and the channel, e.g. 'moved connection', 'move channel'. */
  names: { connection: string; channel: string };
  /** Frames longer than this break the channel (a bound on what a peer makes this side buffer). */
  maxFrameBytes: number;
  /** The message of one connection, or undefined when it is not one. */
  decode: (value: unknown) => T | undefined;
  arrive: FrameArrival<T>;
  reject: FrameRejection;
  /** After each wake-up: how many connections it brought (called before they arrive), and bytes read. */
  woke?: (connections: number) => void;
  /** The peer closed its end (after the last frame). */
  ended?: () => void;
}

interface Arrived<T> {
  message: T | undefined;
  fd: number;
}

/** The receiving end: reads frames as they come, until the peer closes its end. */
export class FrameReceiver<T> {
  readonly #native: FdPassing;
  readonly #end: FrameEnd;
  readonly #options: FrameReceiverOptions<T>;
  #watch: FdWatch | undefined;
  readonly #buffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
  #pending: Buffer = Buffer.alloc(0);
  readonly #fds: number[] = [];
  #arrived: Arrived<T>[] = [];

  constructor(native: FdPassing, end: FrameEnd, options: FrameReceiverOptions<T>) {
    this.#native = native;
    this.#end = end;
    this.#options = options;
    this.#watch = native.watch(end.fd, false, this.#readable);
  }

  get fd(): number {
    return this.#end.fd;
  }

  #readable = (status: number): void => {
    let isEnd = false;
    let broke: Error | undefined;
    try {
      if (status < 0) throw new Error('the channel failed');
      for (let read = this.#receive(); read !== null; read = this.#receive()) {
        if (read === 0) {
          isEnd = true;
          break;
        }
      }
    } catch (error) {
      broke = error as Error;
    }
    const arrived = this.#arrived;
    this.#arrived = [];
    this.#options.woke?.(arrived.length);
    for (const { message, fd } of arrived) this.#hand(message, fd);
    if (broke !== undefined) {
      const { channel } = this.#options.names;
      this.#options.reject(`the ${channel} broke (${broke.message}): connections still on it are lost`, true);
      this.close();
    } else if (isEnd) {
      this.close();
      this.#options.ended?.();
    }
  };

  /** Reads once: bytes read (0: the end), or null when nothing waits; collects every complete frame. */
  #receive(): number | null {
    const read = this.#native.receive(this.#end.fd, this.#buffer);
    if (read === null) return null;
    for (const fd of read.fds) this.#fds.push(fd);
    if (read.bytes === 0) return 0;
    const chunk = this.#buffer.subarray(0, read.bytes);
    this.#pending = this.#pending.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.#pending, chunk]);
    while (this.#pending.length >= LENGTH_BYTES) {
      const length = this.#pending.readUInt32BE(0);
      if (length > this.#options.maxFrameBytes) throw new Error('a frame past its bound');
      if (this.#pending.length < LENGTH_BYTES + length) break;
      const json = this.#pending.subarray(LENGTH_BYTES, LENGTH_BYTES + length).toString('utf8');
      this.#pending = this.#pending.subarray(LENGTH_BYTES + length);
      this.#frame(JSON.parse(json) as unknown);
    }
    return read.bytes;
  }

  #frame(messages: unknown): void {
    if (!Array.isArray(messages) || messages.length > this.#fds.length) {
      throw new Error('a frame without its connections');
    }
    for (const value of messages) {
      this.#arrived.push({ message: this.#options.decode(value), fd: this.#fds.shift() as number });
    }
  }

  #hand(message: T | undefined, fd: number): void {
    const handle = fd < 0 ? null : tcpHandleOfFd(fd);
    if (message === undefined || handle === null) {
      handle?.close();
      this.#options.reject(`a ${this.#options.names.connection} arrived unusable: closed`, false);
      return;
    }
    this.#options.arrive(message, handle);
  }

  /** Stops reading; descriptors that came without a complete frame are closed. */
  close(): void {
    if (this.#watch === undefined) return;
    this.#native.unwatch(this.#watch);
    this.#watch = undefined;
    for (const fd of this.#fds.splice(0)) if (fd >= 0) this.#native.close(fd);
    this.#end.close();
  }
}
