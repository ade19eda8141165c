import { decodeMessage, encodeMessage, type RuntimeMessageMap } from '../ipc/index.js';
import type { FdPassing, FdWatch } from '../sticky/index.js';
import { tcpHandleOfFd, type FdHandle } from '../internal/node-internals.js';

// The move channel: a slot's retiring worker passes the connections a handover moves straight to its
// successor, over an unnamed Unix socket pair the primary made for this handover (one end each), where
// the native part loads. Frames of up to MAX_FDS connections: a 4-byte length, then a JSON array of the
// connections' `sticky:handoverSocket` messages; the connections' descriptors travel with the frame's
// first byte (SCM_RIGHTS), in the same order. One sendmsg moves a whole frame (the same connections
// through the primary cost two acknowledged IPC messages each). Without the native part, or once a
// send fails, connections go through the primary as before.

type SocketMessage = RuntimeMessageMap['sticky:handoverSocket'];

/** The most descriptors one frame carries (the kernel's SCM_MAX_FD). */
export const MAX_FDS = 253;

const LENGTH_BYTES = 4;
const READ_BUFFER_BYTES = 256 * 1024;
const NO_FDS = new Int32Array(0);

/** A connection to move: its descriptor and message; `done(true)` once the successor holds its copy. */
export interface DirectMove {
  fd: number;
  message: SocketMessage;
  done: (isSent: boolean) => void;
}

/** A bare handle received over IPC (pipe_wrap), the end of the move channel. */
type ChannelEnd = FdHandle;

/** The retiring worker's end: sends frames, waits (polls) while the pair's buffer is full. */
export class MoveSender {
  readonly #native: FdPassing;
  readonly #end: ChannelEnd;
  #queue: DirectMove[] = [];
  /** The unsent rest of a frame whose connections are already on their way. */
  #rest: Uint8Array | undefined;
  #watch: FdWatch | undefined;
  #isScheduled = false;
  #isBroken = false;
  #isEnding = false;

  constructor(native: FdPassing, end: ChannelEnd) {
    this.#native = native;
    this.#end = end;
  }

  /** Queues a connection; frames go out once the current task ends. False: the channel broke (use the primary). */
  push(move: DirectMove): boolean {
    if (this.#isBroken || this.#isEnding) return false;
    this.#queue.push(move);
    if (!this.#isScheduled && this.#watch === undefined) {
      this.#isScheduled = true;
      queueMicrotask(() => {
        this.#isScheduled = false;
        this.#flush();
      });
    }
    return true;
  }

  /** Closes the channel once everything queued is sent (the successor reads the end). */
  end(): void {
    this.#isEnding = true;
    if (!this.#isScheduled && this.#watch === undefined) this.#flush();
  }

  #flush(): void {
    try {
      while (this.#rest !== undefined || this.#queue.length > 0) {
        if (!(this.#rest === undefined ? this.#sendFrame() : this.#sendRest())) {
          this.#watch ??= this.#native.watch(this.#end.fd, true, () => this.#writable());
          return;
        }
      }
    } catch {
      this.#break();
      return;
    }
    if (this.#isEnding) this.#close();
  }

  #writable(): void {
    if (this.#watch !== undefined) this.#native.unwatch(this.#watch);
    this.#watch = undefined;
    this.#flush();
  }

  /** Sends the next frame; false when the buffer is full (nothing sent). */
  #sendFrame(): boolean {
    const moves = this.#queue.slice(0, MAX_FDS);
    const json = Buffer.from(JSON.stringify(moves.map((move) => encodeMessage('sticky:handoverSocket', move.message))));
    const frame = Buffer.allocUnsafe(LENGTH_BYTES + json.length);
    frame.writeUInt32BE(json.length, 0);
    json.copy(frame, LENGTH_BYTES);
    const sent = this.#native.send(this.#end.fd, frame, Int32Array.from(moves, (move) => move.fd));
    if (sent < 0) return false;
    this.#queue.splice(0, moves.length);
    if (sent < frame.length) this.#rest = frame.subarray(sent);
    for (const move of moves) move.done(true);
    return true;
  }

  #sendRest(): boolean {
    const rest = this.#rest as Uint8Array;
    const sent = this.#native.send(this.#end.fd, rest, NO_FDS);
    if (sent < 0) return false;
    this.#rest = sent < rest.length ? rest.subarray(sent) : undefined;
    return true;
  }

  /** The successor is gone or the kernel refused: what is queued goes through the primary. */
  #break(): void {
    this.#isBroken = true;
    const queued = this.#queue.splice(0);
    this.#close();
    for (const move of queued) move.done(false);
  }

  #close(): void {
    if (this.#watch !== undefined) this.#native.unwatch(this.#watch);
    this.#watch = undefined;
    this.#end.close();
  }
}

/** What the successor does with each connection that arrives (a bare TCP handle). */
export type MoveArrival = (message: SocketMessage, handle: FdHandle) => void;

/**
 * A connection that arrived unusable (not a TCP connection, a message that does not decode: closed), or,
 * `isBroken`, a channel that broke (the descriptors that came without their frame are closed).
 */
export type MoveRejection = (reason: string, isBroken: boolean) => void;

/** The successor's end: reads frames as they come, until the predecessor closes its end. */
export class MoveReceiver {
  readonly #native: FdPassing;
  readonly #end: ChannelEnd;
  readonly #arrive: MoveArrival;
  readonly #reject: MoveRejection;
  readonly #maxFrameBytes: number;
  #watch: FdWatch | undefined;
  readonly #buffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
  #pending: Buffer = Buffer.alloc(0);
  readonly #fds: number[] = [];
  /** `arrive` takes each connection; `reject` hears of what arrived unusable. */
  constructor(native: FdPassing, end: ChannelEnd, maxFrameBytes: number, arrive: MoveArrival, reject: MoveRejection) {
    this.#native = native;
    this.#end = end;
    this.#arrive = arrive;
    this.#reject = reject;
    this.#maxFrameBytes = maxFrameBytes;
    this.#watch = native.watch(end.fd, false, (status) => this.#readable(status));
  }

  #readable(status: number): void {
    try {
      if (status < 0) throw new Error('the move channel failed');
      for (let read = this.#receive(); read !== null; read = this.#receive()) {
        if (read === 0) {
          this.close();
          return;
        }
      }
    } catch (error) {
      this.#reject(`the move channel broke (${(error as Error).message}): connections still on it are lost`, true);
      this.close();
    }
  }

  /** Reads once: bytes read (0: the end), or null when nothing waits; hands on every complete frame. */
  #receive(): number | null {
    const read = this.#native.receive(this.#end.fd, this.#buffer);
    if (read === null) return null;
    for (const fd of read.fds) this.#fds.push(fd);
    if (read.bytes === 0) return 0;
    this.#pending = Buffer.concat([this.#pending, this.#buffer.subarray(0, read.bytes)]);
    while (this.#pending.length >= LENGTH_BYTES) {
      const length = this.#pending.readUInt32BE(0);
      if (length > this.#maxFrameBytes) throw new Error('a move frame past its bound');
      if (this.#pending.length < LENGTH_BYTES + length) break;
      const json = this.#pending.subarray(LENGTH_BYTES, LENGTH_BYTES + length).toString('utf8');
      this.#pending = this.#pending.subarray(LENGTH_BYTES + length);
      this.#frame(JSON.parse(json) as unknown);
    }
    return read.bytes;
  }

  #frame(messages: unknown): void {
    if (!Array.isArray(messages) || messages.length > this.#fds.length) {
      throw new Error('a move frame without its connections');
    }
    for (const value of messages) {
      const fd = this.#fds.shift() as number;
      const decoded = decodeMessage(value);
      const handle = fd < 0 ? null : tcpHandleOfFd(fd);
      if (decoded.kind !== 'message' || decoded.message.type !== 'sticky:handoverSocket' || handle === null) {
        handle?.close();
        this.#reject('a moved connection arrived unusable: closed', false);
        continue;
      }
      this.#arrive(decoded.message.payload, handle);
    }
  }

  /** Stops reading; descriptors that came without a complete frame are closed. */
  close(): void {
    if (this.#watch === undefined) return;
    this.#native.unwatch(this.#watch);
    this.#watch = undefined;
    for (const fd of this.#fds.splice(0)) this.#native.close(fd);
    this.#end.close();
  }
}
