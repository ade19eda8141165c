import { isSendingMessage, type WebSocketLike } from '../internal/ws-internals-worker.js';

// While a WebSocket that is to move waits for its frame boundary (ws-freeze-worker.ts), the messages
// the application sends meanwhile are held here: they travel with it and the successor sends them
// first (ws-thaw-worker.ts), or, if it stays, they are sent where they were meant to be.

/** A message held back while the WebSocket waited for its boundary: its frame's content and options. */
export interface HeldSend {
  /** The payload, base64. */
  data: string;
  binary: boolean;
  fin: boolean;
  compress: boolean;
}

type SendCallback = (error?: Error) => void;
type Send = (data: unknown, options?: unknown, callback?: SendCallback) => void;

/**
 * Holds the application's new messages while the WebSocket waits for its boundary: a sender that keeps
 * getting messages (a timer pushing to every client, on a busy machine) may never be idle otherwise. A
 * message is never split between two processes: one the sender already began goes on there, and so does
 * one the application begins (`fin: false`) while nothing is held; once one message is held, the ones
 * after it are too (they stay in order), and a held message left unfinished holds the boundary back.
 */
export class SendHold {
  readonly held: { send: HeldSend; callback: SendCallback | undefined }[] = [];
  readonly #ws: WebSocketLike;

  constructor(ws: WebSocketLike) {
    this.#ws = ws;
    const original = (ws as unknown as { send: Send }).send;
    const hold: Send = (data, options, callback) => {
      if (typeof options === 'function') return hold(data, {}, options as SendCallback);
      // A Blob (ws >= 8.18) cannot be read at once to be held: it goes to the sender as before.
      const isHoldable = typeof data === 'string' || ArrayBuffer.isView(data) || data instanceof ArrayBuffer;
      const opts = (options ?? {}) as { binary?: boolean; fin?: boolean; compress?: boolean };
      if (!isHoldable || (this.held.length === 0 && (isSendingMessage(ws) || opts.fin === false))) {
        return original.call(ws, data, options, callback);
      }
      const isText = typeof data === 'string';
      const bytes = isText ? Buffer.from(data) : ArrayBuffer.isView(data)
        ? Buffer.from(data.buffer, data.byteOffset, data.byteLength) : Buffer.from(data as ArrayBuffer);
      this.held.push({
        send: {
          data: bytes.toString('base64'), binary: opts.binary ?? !isText, fin: opts.fin ?? true,
          compress: opts.compress ?? true,
        },
        callback,
      });
    };
    Object.defineProperty(ws, 'send', { value: hold, configurable: true, writable: true });
  }

  /** A held message's last fragment is still to come: the WebSocket is not at a message boundary. */
  get isMessageOpen(): boolean {
    return this.held.at(-1)?.send.fin === false;
  }

  /** The application's `send` again (the WebSocket's own). */
  end(): void {
    delete (this.#ws as unknown as Record<string, unknown>).send;
  }

  /** Sends what was held on this WebSocket after all (it stays here). */
  replay(): void {
    const send = (this.#ws as unknown as { send: Send }).send;
    for (const { send: held, callback } of this.held.splice(0)) {
      const { data, ...options } = held;
      send.call(this.#ws, Buffer.from(data, 'base64'), options, callback);
    }
  }

  /** The held messages went with the WebSocket: their callbacks hear that they were handed on. */
  handedOn(): void {
    for (const { callback } of this.held.splice(0)) if (callback !== undefined) process.nextTick(callback);
  }
}
