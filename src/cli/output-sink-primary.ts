import { closeSync, openSync, write, writeSync } from 'node:fs';

// Where the primary writes the workers' output: its own stdout / stderr, or a file opened for
// appending. Writes are asynchronous, one at a time, from a queue bounded in bytes; what does not fit
// is dropped and counted, so a destination that does not keep up (a terminal scrolled back, a pipe
// nobody reads, a slow disk) never stops the primary from reading the workers' pipes.

/** Ms before a write that met EAGAIN (a full non-blocking pipe) is tried again. */
const RETRY_MS = 50;

export class OutputSink {
  readonly #limit: number;
  readonly #path: string | undefined;
  readonly #onDrop: (lines: number) => void;
  readonly #onError: (error: NodeJS.ErrnoException) => void;
  #fd: number;
  #queue: string[] = [];
  #queuedBytes = 0;
  #isWriting = false;
  #isClosed = false;
  /** The descriptor a reopen replaced while a write was in flight on it: closed when that write ends. */
  #retiredFd: number | undefined;

  /** `target`: a file descriptor (1, 2) or a path appended to (created with mode 0640). */
  constructor(target: number | string, limit: number, onDrop: (lines: number) => void, onError: (error: NodeJS.ErrnoException) => void) {
    this.#limit = limit;
    this.#onDrop = onDrop;
    this.#onError = onError;
    this.#path = typeof target === 'string' ? target : undefined;
    this.#fd = typeof target === 'string' ? openSync(target, 'a', 0o640) : target;
  }

  /** Queues `text` (whole lines), or drops it when the queue is full. */
  write(text: string): void {
    if (this.#isClosed) return;
    if (this.#queuedBytes + text.length > this.#limit) {
      this.#onDrop(countLines(text));
      return;
    }
    this.#queue.push(text);
    this.#queuedBytes += text.length;
    if (!this.#isWriting) this.#next();
  }

  /** Opens the file again by its path (logrotate moved it); what is queued goes to the new file. */
  reopen(): void {
    if (this.#path === undefined || this.#isClosed) return;
    const previous = this.#fd;
    this.#fd = openSync(this.#path, 'a', 0o640);
    // A write in flight on the old descriptor finishes there first.
    if (this.#isWriting) this.#retiredFd = previous;
    else closeSync(previous);
  }

  /** Writes what is queued now, without waiting on a destination that cannot take it, then stops. */
  close(): void {
    if (this.#isClosed) return;
    this.#isClosed = true;
    try {
      // A file takes the rest at once (after a write in flight, if any: O_APPEND). A full
      // non-blocking pipe answers EAGAIN at once: what it cannot take now is lost.
      if (!this.#isWriting || this.#path !== undefined) for (const text of this.#queue) writeSync(this.#fd, text);
    } catch {
      // The destination is gone or full at exit: nothing is left to tell.
    }
    this.#queue = [];
    if (this.#path !== undefined && !this.#isWriting) closeSync(this.#fd);
  }

  #next(): void {
    const text = this.#queue.length === 1 ? this.#queue[0] as string : this.#queue.join('');
    this.#queue = [];
    this.#isWriting = true;
    this.#writeOut(this.#fd, Buffer.from(text));
  }

  #writeOut(fd: number, buffer: Buffer): void {
    write(fd, buffer, 0, buffer.length, null, (error, written) => {
      if (error?.code === 'EAGAIN' && !this.#isClosed) {
        setTimeout(() => this.#writeOut(fd, buffer), RETRY_MS).unref();
        return;
      }
      if (error !== null) this.#onError(error);
      else if (written < buffer.length) {
        this.#writeOut(fd, buffer.subarray(written));
        return;
      }
      this.#isWriting = false;
      this.#queuedBytes = this.#queue.reduce((sum, text) => sum + text.length, 0);
      if (this.#retiredFd !== undefined) {
        closeSync(this.#retiredFd);
        this.#retiredFd = undefined;
      }
      if (this.#isClosed) {
        if (this.#path !== undefined) closeSync(this.#fd);
      } else if (this.#queue.length > 0) this.#next();
    });
  }
}

function countLines(text: string): number {
  let count = 0;
  for (let at = text.indexOf('\n'); at !== -1; at = text.indexOf('\n', at + 1)) count++;
  return count;
}
