import type { Socket } from 'node:net';
import { stopReads } from '../internal/node-internals-primary.js';

// Reads the first bytes of a connection in the primary (header, PROXY and parsed custom modes) until
// a parser says it has enough, then stops the socket's reads so that no later byte is consumed here:
// those stay in the kernel and the worker reads them itself.

export type HeadVerdict =
  /** Keep reading. */
  | 0
  /** Enough: stop reading and hand everything read so far to `onHead`. */
  | 1
  /** Not acceptable: stop reading and pass the socket to `onReject`. */
  | 2;

export interface HeadReaderEvents {
  /** Decides after every chunk. `buffer` holds everything read so far. */
  inspect(buffer: Buffer, socket: Socket): HeadVerdict;
  /** Called once reads are stopped; `buffer` is every byte read. */
  onHead(buffer: Buffer, socket: Socket): void;
  /** The inspector refused the bytes. */
  onReject(socket: Socket): void;
  /** Too many bytes without a verdict. */
  onTooLarge(socket: Socket): void;
  /** The client went away or errored before a verdict. */
  onAbort(socket: Socket): void;
}

// Errors of a socket still in the primary (ECONNRESET while reading a head) end in 'close'.
const ignoreError = (): void => {};

class PendingHead {
  chunks: Buffer[] = [];
  length = 0;
  readonly since: number;
  readonly socket: Socket;
  readonly #reader: HeadReader;

  constructor(socket: Socket, reader: HeadReader, now: number) {
    this.socket = socket;
    this.since = now;
    this.#reader = reader;
  }

  onData = (chunk: Buffer): void => {
    this.chunks.push(chunk);
    this.length += chunk.length;
    const buffer = this.chunks.length === 1 ? chunk : Buffer.concat(this.chunks, this.length);
    this.chunks.length = 0;
    this.chunks.push(buffer);
    this.#reader.inspect(this, buffer);
  };

  onEnd = (): void => this.#reader.abort(this);
}

export class HeadReader {
  readonly #events: HeadReaderEvents;
  readonly #maxBytes: number;
  readonly #pending = new Map<Socket, PendingHead>();

  constructor(events: HeadReaderEvents, maxBytes: number) {
    this.#events = events;
    this.#maxBytes = maxBytes;
  }

  get size(): number {
    return this.#pending.size;
  }

  start(socket: Socket, now: number): void {
    const pending = new PendingHead(socket, this, now);
    this.#pending.set(socket, pending);
    // Stays attached after the head: a socket that waits for its worker must not crash the primary.
    socket.on('error', ignoreError);
    socket.on('data', pending.onData);
    socket.on('end', pending.onEnd);
    socket.on('close', pending.onEnd);
    socket.resume();
  }

  /** Sockets whose head started before `deadline`. */
  *olderThan(deadline: number): Generator<Socket> {
    for (const pending of this.#pending.values()) if (pending.since <= deadline) yield pending.socket;
  }

  /** Forgets a socket (the caller answers it). */
  release(socket: Socket): void {
    const pending = this.#pending.get(socket);
    if (pending !== undefined) this.#detach(pending);
  }

  /** Every socket still reading its head, its reads stopped, with the bytes read so far. */
  drain(): { socket: Socket; buffer: Buffer }[] {
    const pending = [...this.#pending.values()];
    for (const entry of pending) {
      stopReads(entry.socket);
      this.#detach(entry);
    }
    return pending.map((entry) => ({ socket: entry.socket, buffer: entry.chunks[0] ?? Buffer.alloc(0) }));
  }

  inspect(pending: PendingHead, buffer: Buffer): void {
    const verdict = this.#events.inspect(buffer, pending.socket);
    if (verdict === 2) {
      this.#detach(pending);
      this.#events.onReject(pending.socket);
    } else if (verdict === 1) {
      stopReads(pending.socket);
      this.#detach(pending);
      // Anything Node buffered but did not emit yet belongs to the request too.
      let more: Buffer | null;
      const parts = [buffer];
      while ((more = pending.socket.read() as Buffer | null) !== null) parts.push(more);
      this.#events.onHead(parts.length === 1 ? buffer : Buffer.concat(parts), pending.socket);
    } else if (buffer.length > this.#maxBytes) {
      this.#detach(pending);
      this.#events.onTooLarge(pending.socket);
    }
  }

  abort(pending: PendingHead): void {
    if (this.#pending.get(pending.socket) !== pending) return;
    this.#detach(pending);
    this.#events.onAbort(pending.socket);
  }

  #detach(pending: PendingHead): void {
    this.#pending.delete(pending.socket);
    const { socket } = pending;
    socket.removeListener('data', pending.onData);
    socket.removeListener('end', pending.onEnd);
    socket.removeListener('close', pending.onEnd);
    socket.pause();
  }
}
