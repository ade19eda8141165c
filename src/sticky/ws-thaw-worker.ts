import { Socket, type Server, type SocketConstructorOpts } from 'node:net';
import { ErrorCode, StickyError } from '../errors.js';
import { joinServer } from '../internal/node-internals-worker.js';
import { rebuildWebSocket, type WebSocketLike, type WebSocketServerLike } from '../internal/ws-internals-worker.js';
import type { WebSocketDescription } from './ws-freeze-worker.js';
import type { HeldSend } from './ws-send-hold-worker.js';

// The successor's half of moving a live ws WebSocket: the bare handle and its description become a
// WebSocket of the application's WebSocketServer, reading on from the frame boundary it was frozen at.

export interface ThawOptions {
  /**
   * The application's ws WebSocketServer: its options build the WebSocket (the `WebSocket` class,
   * `maxPayload`, `perMessageDeflate` settings, UTF-8 validation), and the WebSocket joins its `clients`.
   */
  server: WebSocketServerLike;
  /** The HTTP server the connection counts in, as if it had accepted it (`close(cb)` waits for it). */
  httpServer?: Server;
}

function invalid(what: string, cause?: unknown): StickyError {
  return new StickyError(ErrorCode.WebSocketHandover, `A moved WebSocket could not be rebuilt: ${what}.`, {
    hint: 'Both processes must run the same sticky-runtime and ws; the handle must travel with its description.',
    ...(cause === undefined ? {} : { cause }),
  });
}

function isHeldSend(value: unknown): value is HeldSend {
  const send = value as Partial<HeldSend> | null;
  return typeof send === 'object' && send !== null && typeof send.data === 'string' &&
    typeof send.binary === 'boolean' && typeof send.fin === 'boolean' && typeof send.compress === 'boolean';
}

function checkDescription(value: WebSocketDescription): void {
  if (typeof value !== 'object' || value === null || value.v !== 1) throw invalid('unknown description format');
  if (typeof value.head !== 'string' || typeof value.protocol !== 'string' || typeof value.binaryType !== 'string' ||
      typeof value.maxPayload !== 'number' || (value.deflate !== undefined && typeof value.deflate !== 'object') ||
      (value.sends !== undefined && !(Array.isArray(value.sends) && value.sends.every(isHeldSend)))) {
    throw invalid('malformed description');
  }
}

/**
 * Rebuilds a WebSocket frozen in another process (`freezeWebSocket`) on its bare handle, as the
 * WebSocketServer builds one at an upgrade. It is returned **paused**: install the application's
 * listeners (and its per-connection state), then `ws.resume()` (unless `description.isPaused`); no
 * message is emitted before. It is not announced with `'connection'` (see docs: the upgrade request
 * is gone and a connection handler would greet a client that is mid-conversation).
 * @throws StickyError `STICKY_ERR_WS_HANDOVER` for a description this version cannot read, no handle, or a
 * ws that cannot rebuild it (the connection is then closed).
 */
export function thawWebSocket(handle: object, description: WebSocketDescription, options: ThawOptions): WebSocketLike {
  checkDescription(description);
  if (typeof handle !== 'object' || handle === null || handle instanceof Socket) throw invalid('no bare handle');
  // As Node wraps a received 'net.Native' handle; it starts reading on the next turn, after the head.
  const socket = new Socket({ handle, readable: true, writable: true } as SocketConstructorOpts);
  if (options.httpServer !== undefined) joinServer(options.httpServer, socket);
  const { head, v: _v, sends = [], ...settings } = description;
  try {
    const ws = rebuildWebSocket(options.server, socket, Buffer.from(head, 'base64'), settings);
    ws.pause();
    // Held back by the predecessor while it waited for the boundary: they go before anything sent here.
    for (const { data, ...sendOptions } of sends) {
      (ws as unknown as { send(data: Buffer, options: object): void }).send(Buffer.from(data, 'base64'), sendOptions);
    }
    return ws;
  } catch (error) {
    socket.destroy();
    throw invalid('ws could not rebuild it', error);
  }
}
