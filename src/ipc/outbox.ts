import { ErrorCode, StickyError } from '../errors.js';
import { encodeBatch, type Frame } from './bus-protocol.js';

// Bus frames bound for one peer. Frames queued in the same tick leave as one IPC write, and at most
// one batch is in Node's write queue at a time: the runtime's socket handoffs share the channel, and
// Node writes a handoff only after what is queued before it. So heavy bus traffic waits here, in
// our queue, instead of in front of a handoff in Node's.

/** Frames in one batch at most: keeps a single write (and the handoff behind it) small. */
export const MAX_BATCH = 256;
/**
 * A batch closes once its payloads reach about this many bytes (strings and byte arrays counted; other values as 64).
 */
export const MAX_BATCH_BYTES = 64 * 1024;

/** A cheap size estimate: exact for strings and byte arrays, a flat guess for anything else. */
function sizeOf(frame: Frame): number {
  const data = frame.k === 'e' ? frame.e.stack : frame.k === 'x' ? undefined : frame.d;
  if (typeof data === 'string') return data.length;
  if (ArrayBuffer.isView(data)) return data.byteLength;
  return 64;
}

export type SendChannel = (message: object, callback: (error: Error | null) => void) => void;
/** The error for frames that a closed channel did not carry. */
export type ClosedError = (cause: Error) => StickyError;

const channelClosed: ClosedError = (cause) =>
  new StickyError(ErrorCode.IpcClosed, 'The IPC channel to the other process is closed.', {
    cause, hint: 'The process exited or is exiting; the message was not delivered.',
  });
type Settle = (error: StickyError | undefined) => void;

export class Outbox {
  readonly #send: SendChannel;
  #frames: Frame[] = [];
  #settles: (Settle | undefined)[] = [];
  #isInFlight = false;
  #isScheduled = false;
  /** After a batch failed to serialize: frames still to send one by one, to isolate the bad ones. */
  #singlyLeft = 0;
  #closed: StickyError | undefined;

  readonly #closedError: ClosedError;

  constructor(send: SendChannel, closedError: ClosedError = channelClosed) {
    this.#send = send;
    this.#closedError = closedError;
  }

  get queued(): number {
    return this.#frames.length;
  }

  /** Queues a frame; `settle` learns when it was written (or why it was not). */
  push(frame: Frame, settle?: Settle): void {
    if (this.#closed !== undefined) {
      settle?.(this.#closed);
      return;
    }
    this.#frames.push(frame);
    this.#settles.push(settle);
    if (!this.#isInFlight && !this.#isScheduled) {
      this.#isScheduled = true;
      queueMicrotask(this.#flush);
    }
  }

  /**
   * Takes `frame` back if it is still queued (not yet handed to Node), without settling it; false
   * when it already left.
   */
  withdraw(frame: Frame): boolean {
    const index = this.#frames.indexOf(frame);
    if (index === -1) return false;
    this.#frames.splice(index, 1);
    this.#settles.splice(index, 1);
    return true;
  }

  /** The peer is gone: what is queued fails with `error`, later pushes too. */
  close(error: StickyError): void {
    if (this.#closed !== undefined) return;
    this.#closed = error;
    const settles = this.#settles;
    this.#frames = [];
    this.#settles = [];
    for (const settle of settles) settle?.(error);
  }

  #flush = (): void => {
    this.#isScheduled = false;
    if (this.#isInFlight || this.#frames.length === 0 || this.#closed !== undefined) return;
    let frames: Frame[];
    let settles: (Settle | undefined)[];
    if (this.#singlyLeft > 0) {
      this.#singlyLeft--;
      frames = this.#frames.splice(0, 1);
      settles = this.#settles.splice(0, 1);
    } else {
      const count = this.#batchLength();
      if (count === this.#frames.length) {
        frames = this.#frames;
        settles = this.#settles;
        this.#frames = [];
        this.#settles = [];
      } else {
        frames = this.#frames.splice(0, count);
        settles = this.#settles.splice(0, count);
      }
    }
    this.#write(frames, settles);
  };

  /** How many queued frames the next batch takes: at least one, at most MAX_BATCH, about MAX_BATCH_BYTES. */
  #batchLength(): number {
    const limit = Math.min(this.#frames.length, MAX_BATCH);
    let bytes = 0;
    for (let i = 0; i < limit; i++) {
      bytes += sizeOf(this.#frames[i] as Frame);
      if (bytes >= MAX_BATCH_BYTES) return i + 1;
    }
    return limit;
  }

  #write(frames: Frame[], settles: (Settle | undefined)[]): void {
    this.#isInFlight = true;
    try {
      this.#send(encodeBatch(frames), (error) => this.#onWritten(error, settles));
    } catch (error) {
      // Serialization throws before anything is written (a cycle, a BigInt): find the frames at
      // fault by sending one at a time, so the others still go out.
      this.#isInFlight = false;
      if (frames.length === 1) {
        (settles[0] ?? noop)(invalidPayload(error));
        this.#afterWrite();
        return;
      }
      this.#frames = [...frames, ...this.#frames];
      this.#settles = [...settles, ...this.#settles];
      this.#singlyLeft = frames.length;
      this.#flush();
    }
  }

  #onWritten(error: Error | null, settles: (Settle | undefined)[]): void {
    this.#isInFlight = false;
    if (error !== null) {
      const closed = this.#closedError(error);
      for (const settle of settles) settle?.(closed);
      this.close(closed);
      return;
    }
    for (const settle of settles) settle?.(undefined);
    this.#afterWrite();
  }

  #afterWrite(): void {
    if (this.#frames.length > 0 && !this.#isScheduled) this.#flush();
  }
}

const noop = (): void => undefined;

function invalidPayload(cause: unknown): StickyError {
  return new StickyError(ErrorCode.IpcInvalidPayload, 'The bus payload cannot be serialized for the IPC channel.', {
    cause,
    hint: 'Send plain JSON data: no cycles, BigInts or functions (Dates become strings, Maps and Sets become {}).',
  });
}
