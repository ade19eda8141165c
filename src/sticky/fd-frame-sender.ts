import type { FdPassing, FdWatch } from './planes/index.js';
import { LENGTH_BYTES, MAX_FDS, NO_FDS, type FrameEnd, type FramedFd } from './fd-frames.js';

// The sending end of a frame channel (the format: fd-frames.ts). Safe on both sides.

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
