import type { Worker } from 'node:cluster';
import { encodeMessage, type RuntimeMessageMap } from '../../ipc/index.js';
import { handleOfFd } from '../../internal/node-internals.js';
import { FrameSender, MAX_FDS } from '../fd-frames.js';
import { proxiedClientOf, type TcpHandle } from '../connection.js';
import type { FdPassing, FdWatch } from './reuseport-native.js';

// The hop's native handoff, the primary's half (the worker's is fd-handoff-worker.ts): where the native
// part loads, each worker's link gets an unnamed Unix socket pair; the worker's end goes to it once over
// IPC. Connections then travel in frames (sticky/fd-frames.ts: one sendmsg for every connection routed
// to the worker in the same tick, no JSON IPC message and no ACK round trip per connection), and the
// worker answers, once per wake-up and before its application sees any of them, how many it took.
// The primary keeps its own copy of each connection until that answer: a worker that dies first never
// took it, and the connection goes to the slot's next worker, as on the IPC path.

type Payload = RuntimeMessageMap['sticky:connection'];

/** Connections on their way at once, at most; more wait in the link's queue (and fail over there). */
export const MAX_IN_FLIGHT = 2 * MAX_FDS;

const ACK_BYTES = 4;
const ACK_BUFFER_BYTES = 16 * 1024;

/** The JSON value of one connection in a frame: 0 when the worker needs nothing but the descriptor. */
function encodePayload(payload: Payload): unknown {
  return payload.bytes === undefined && payload.client === undefined ? 0 : payload;
}

/** The frame bound a worker enforces: MAX_FDS connections with their bytes read, base64, and a PROXY client. */
export function maxHandoffFrameBytes(maxHeadBytes: number): number {
  return MAX_FDS * (Math.ceil(maxHeadBytes / 3) * 4 + 128);
}

export interface FdHandoffOptions {
  /** The connection is still only ours (never sent, or the channel ended before the worker took it). */
  giveBack: (handle: TcpHandle, bytes: string | undefined) => void;
  /** The worker took connections (or made room for more): the link may send what waits. */
  progress: () => void;
}

interface InFlight {
  handle: TcpHandle;
  bytes: string | undefined;
}

export class FdHandoffs {
  readonly #native: FdPassing;
  readonly #fd: number;
  readonly #options: FdHandoffOptions;
  readonly #sender: FrameSender<Payload>;
  readonly #watch: FdWatch;
  /** Sent, not yet acknowledged, oldest first, from `#head` on. */
  #inFlight: (InFlight | undefined)[] = [];
  #head = 0;
  /** performance.now() of the last progress: the oldest in flight was sent, or the worker answered. */
  #progressAt = 0;
  readonly #acks = Buffer.allocUnsafe(ACK_BUFFER_BYTES);
  /** Bytes of an answer split between two reads. */
  #partial = Buffer.alloc(0);
  #isEnded = false;

  /**
   * Opens the channel to `worker`: undefined when the pair cannot be made (the link keeps the IPC path).
   * `maxBytes` bounds the frames the worker accepts.
   */
  static open(native: FdPassing, worker: Worker, maxBytes: number, options: FdHandoffOptions): FdHandoffs | undefined {
    let fds: [number, number];
    try {
      fds = native.socketPair();
    } catch {
      return undefined;
    }
    const [own, theirs] = fds;
    const end = handleOfFd(theirs, 'pipe');
    if (end === null) {
      native.close(own);
      return undefined;
    }
    // Sent as a bare handle ('net.Native'), which Node leaves open in the sender: closed once sent, so
    // the pair ends when the worker's process does.
    worker.send(encodeMessage('sticky:handoffChannel', { maxBytes }), end as never, () => end.close());
    return new FdHandoffs(native, own, options);
  }

  private constructor(native: FdPassing, fd: number, options: FdHandoffOptions) {
    this.#native = native;
    this.#fd = fd;
    this.#options = options;
    this.#sender = new FrameSender<Payload>(native, { fd, close: () => undefined }, {
      encode: encodePayload, waitsForFlush: true,
    });
    this.#watch = native.watch(fd, false, this.#readable);
  }

  /** Connections sent or queued here that the worker has not acknowledged. */
  get unacknowledged(): number {
    return this.#inFlight.length - this.#head + this.#sender.queued;
  }

  /** Connections may still go over the channel (it did not end or break). */
  get isOpen(): boolean {
    return !this.#isEnded && !this.#sender.isBroken;
  }

  /** Whether another connection may go now (the channel is open and has fewer than MAX_IN_FLIGHT on it). */
  get hasRoom(): boolean {
    return this.isOpen && this.unacknowledged < MAX_IN_FLIGHT;
  }

  /** When the worker last made progress, or undefined with nothing on its way. */
  get progressAt(): number | undefined {
    return this.unacknowledged === 0 ? undefined : this.#progressAt;
  }

  /** Hot path: the connection goes in the next frame. False: the channel ended (use the IPC path). */
  send(handle: TcpHandle, bytes: string | undefined): boolean {
    if (this.#isEnded) return false;
    if (this.unacknowledged === 0) this.#progressAt = performance.now();
    const client = proxiedClientOf(handle);
    const payload: Payload = {};
    if (bytes !== undefined) payload.bytes = bytes;
    if (client !== undefined) {
      payload.client = client.address;
      if (client.port !== undefined) payload.clientPort = client.port;
    }
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
   * Sends nothing more. What the worker had not taken comes back once its end closes (its process
   * exits): a worker that lives on may still take it.
   */
  close(): void {
    this.recall();
    this.#end(false);
  }

  #readable = (status: number): void => {
    let taken = 0;
    let isEnd = status < 0;
    try {
      for (let read = this.#native.receive(this.#fd, this.#acks); read !== null && !isEnd;
        read = this.#native.receive(this.#fd, this.#acks)) {
        if (read.bytes === 0) isEnd = true;
        else taken += this.#count(read.bytes);
      }
    } catch {
      // ECONNRESET: the worker's end is gone.
      isEnd = true;
    }
    if (taken > 0 || !isEnd) this.#acknowledge(taken);
    if (isEnd) this.#end(true);
  };

  /** The answers in the first `length` bytes read: how many connections the worker took. */
  #count(length: number): number {
    let bytes = this.#acks.subarray(0, length);
    if (this.#partial.length > 0) bytes = Buffer.concat([this.#partial, bytes]);
    let taken = 0;
    let offset = 0;
    for (; offset + ACK_BYTES <= bytes.length; offset += ACK_BYTES) taken += bytes.readUInt32BE(offset);
    this.#partial = Buffer.from(bytes.subarray(offset));
    return taken;
  }

  #acknowledge(taken: number): void {
    const count = Math.min(taken, this.#inFlight.length - this.#head);
    for (let i = 0; i < count; i++) {
      // The worker holds its own copy: ours is closed.
      (this.#inFlight[this.#head] as InFlight).handle.close();
      this.#inFlight[this.#head++] = undefined;
    }
    if (this.#head === this.#inFlight.length) {
      this.#inFlight = [];
      this.#head = 0;
    }
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
    this.#native.unwatch(this.#watch);
    this.#native.close(this.#fd);
    const unacknowledged = this.#inFlight.slice(this.#head) as InFlight[];
    this.#inFlight = [];
    this.#head = 0;
    for (const { handle, bytes } of unacknowledged) this.#options.giveBack(handle, bytes);
    this.#options.progress();
  }
}
