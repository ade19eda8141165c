import { EventEmitter } from 'node:events';
import type { Worker } from 'node:cluster';
import type { TcpHandle } from '../../src/sticky/connection.js';

// A stand-in for a cluster worker's IPC channel in unit tests of the primary's slot code: records
// what is sent (with the handle), and emits Node's internal handle ACK/NACK on its process as Node does.

export interface SentMessage {
  message: unknown;
  handle: unknown;
  callback: ((error: Error | null) => void) | undefined;
}

export interface FakeHandle extends TcpHandle {
  readonly name: string;
  isClosed: boolean;
}

export class FakeWorker extends EventEmitter {
  readonly id: number;
  readonly process: EventEmitter & { pid: number };
  readonly sent: SentMessage[] = [];
  isChannelOpen = true;

  constructor(id: number) {
    super();
    this.id = id;
    this.process = Object.assign(new EventEmitter(), { pid: 10_000 + id });
  }

  isConnected(): boolean {
    return this.isChannelOpen;
  }

  send(message: unknown, handleOrCallback?: unknown, callback?: (error: Error | null) => void): boolean {
    if (typeof handleOrCallback === 'function') this.sent.push({ message, handle: undefined, callback: handleOrCallback as SentMessage['callback'] });
    else this.sent.push({ message, handle: handleOrCallback, callback });
    return true;
  }

  /** The names of the handles sent so far, in order. */
  handleNames(): string[] {
    return this.sent.filter((entry) => entry.handle !== undefined).map((entry) => (entry.handle as FakeHandle).name);
  }

  /** Messages sent without a handle, by type. */
  controlTypes(): unknown[] {
    return this.sent.filter((entry) => entry.handle === undefined).map((entry) => (entry.message as { type?: unknown }).type);
  }

  ack(): void {
    this.process.emit('internalMessage', { cmd: 'NODE_HANDLE_ACK' });
  }

  nack(): void {
    this.process.emit('internalMessage', { cmd: 'NODE_HANDLE_NACK' });
  }

  asWorker(): Worker {
    // A stand-in for a cluster Worker: only the members the code under test uses exist.
    return this as unknown as Worker;
  }
}

export function fakeHandle(name: string): FakeHandle {
  const handle = {
    name,
    isClosed: false,
    close(): void {
      handle.isClosed = true;
    },
  };
  // Stands in for a Node handle: only `close()` is used.
  return handle as unknown as FakeHandle;
}
