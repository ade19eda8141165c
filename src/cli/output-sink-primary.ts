import { closeSync, openSync, write, writeSync } from 'node:fs';

// Where the primary writes the workers' output: its own stdout / stderr, or a file opened for
// appending. Each holds at most `limit` bytes not yet written; what does not fit is dropped and
// counted, so a destination that does not keep up (a pipe nobody reads, a slow disk) never stops the
// primary from reading the workers' pipes, and never grows its memory without bound.

export interface Sink {
  /** Queues `text` (whole lines), or drops it when `limit` bytes already wait. */
  write(text: string): void;
  /** Opens a file again by its path (logrotate moved it); nothing for a stream. */
  reopen(): void;
  /** Writes what it can at once and stops. */
  close(): void;
}

/**
 * process.stdout / process.stderr: Node writes to a pipe asynchronously (queued in memory, bounded
 * here by `writableLength`), to a file or terminal synchronously. Not fs.write on fd 1: a pipe whose
 * descriptor is blocking would hold a libuv thread in write(2), and the process could not exit.
 */
export class StreamSink implements Sink {
  readonly #stream: NodeJS.WriteStream;
  readonly #limit: number;
  readonly #onDrop: (lines: number) => void;
  #isClosed = false;

  constructor(
    stream: NodeJS.WriteStream, limit: number, onDrop: (lines: number) => void,
    onError: (error: NodeJS.ErrnoException) => void,
  ) {
    this.#stream = stream;
    this.#limit = limit;
    this.#onDrop = onDrop;
    // EPIPE (the reader went away, `serve … | head`): the output has nowhere to go; the cluster goes on.
    stream.on('error', (error: NodeJS.ErrnoException) => {
      this.#isClosed = true;
      onError(error);
    });
  }

  write(text: string): void {
    if (this.#isClosed) return;
    if (this.#stream.writableLength + text.length > this.#limit) this.#onDrop(countLines(text));
    else this.#stream.write(text);
  }

  reopen(): void {
    // A stream has no path to reopen.
  }

  close(): void {
    this.#isClosed = true;
  }
}

/** A file opened for appending (mode 0640), written with fs.write, one write at a time. */
export class FileSink implements Sink {
  readonly #limit: number;
  readonly #path: string;
  readonly #onDrop: (lines: number) => void;
  readonly #onError: (error: NodeJS.ErrnoException) => void;
  #fd: number;
  #queue: string[] = [];
  #queuedBytes = 0;
  #isWriting = false;
  #isClosed = false;
  /** The descriptor a reopen replaced while a write was in flight on it: closed when that write ends. */
  #retiredFd: number | undefined;

  constructor(
    path: string, limit: number, onDrop: (lines: number) => void, onError: (error: NodeJS.ErrnoException) => void,
  ) {
    this.#limit = limit;
    this.#onDrop = onDrop;
    this.#onError = onError;
    this.#path = path;
    this.#fd = openSync(path, 'a', 0o640);
  }

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

  /** What is queued goes to the new file. */
  reopen(): void {
    if (this.#isClosed) return;
    const previous = this.#fd;
    this.#fd = openSync(this.#path, 'a', 0o640);
    // A write in flight on the old descriptor finishes there first.
    if (this.#isWriting) this.#retiredFd = previous;
    else closeSync(previous);
  }

  /** Writes the queue synchronously (after a write in flight, if any: O_APPEND), then closes. */
  close(): void {
    if (this.#isClosed) return;
    this.#isClosed = true;
    try {
      for (const text of this.#queue) writeSync(this.#fd, text);
    } catch {
      // The disk is full or the file system gone at exit: nothing is left to tell.
    }
    this.#queue = [];
    if (!this.#isWriting) closeSync(this.#fd);
  }

  #next(): void {
    const text = this.#queue.length === 1 ? this.#queue[0] as string : this.#queue.join('');
    this.#queue = [];
    this.#isWriting = true;
    this.#writeOut(this.#fd, Buffer.from(text));
  }

  #writeOut(fd: number, buffer: Buffer): void {
    write(fd, buffer, 0, buffer.length, null, (error, written) => {
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
      if (this.#isClosed) closeSync(this.#fd);
      else if (this.#queue.length > 0) this.#next();
    });
  }
}

function countLines(text: string): number {
  let count = 0;
  for (let at = text.indexOf('\n'); at !== -1; at = text.indexOf('\n', at + 1)) count++;
  return count;
}
