import type { FdHandle } from '../internal/node-internals.js';
import { tcpHandleOfFd } from '../internal/node-internals.js';
import type { FdPassing, FdWatch } from './planes/index.js';
import { LENGTH_BYTES, type FrameEnd } from './fd-frames.js';

// The receiving end of a frame channel (the format: fd-frames.ts). Safe on both sides.

const READ_BUFFER_BYTES = 256 * 1024;

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
