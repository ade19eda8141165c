import type { Socket } from 'node:net';
import { ErrorCode, StickyError } from '../errors.js';
import { startReading, stopReading, streamHandleOf } from '../internal/node-internals-worker.js';
import {
  connectionSettings, detachWebSocket, frameState, isDetachable, socketOfWebSocket, type WebSocketLike,
} from '../internal/ws-internals-worker.js';
import {
  boundaryVerdict, deflateRefusal, refusalAtDeadline, type BoundaryVerdict, type MoveRefusal,
} from './ws-boundary.js';
import { SendHold, type HeldSend } from './ws-send-hold-worker.js';

// The retiring worker's half of moving a live ws WebSocket to another process: stop it at a frame
// boundary, take the bytes read but not parsed, and give out the bare handle and a plain description.
// The successor's half is ws-thaw-worker.ts.

/** The plain, JSON-safe description of a frozen WebSocket that travels with its handle. */
export interface WebSocketDescription {
  /** Version of this description's format. */
  v: 1;
  /** The negotiated subprotocol ('' for none). */
  protocol: string;
  binaryType: string;
  /** The limit the retiring side's receiver enforced (the successor's server option wins). */
  maxPayload: number;
  /** The application had paused the WebSocket (`ws.pause()`). */
  isPaused: boolean;
  /** The accepted permessage-deflate parameters, when it was negotiated (always without context takeover). */
  deflate?: Record<string, unknown>;
  /** Bytes read from the client and not yet parsed, base64: the successor parses them first. */
  head: string;
  /**
   * Messages the application sent while the WebSocket waited for its boundary, held back so that the
   * boundary came: the successor sends them first, in order, before its own.
   */
  sends?: HeldSend[];
}

/** A WebSocket stopped at a frame boundary, ready to be sent to another process. */
export interface FrozenWebSocket {
  /**
   * The bare libuv handle (`socket._handle`). Send it as is, `child.send(message, handle)`: Node sends
   * it as 'net.Native' and leaves this process's copy open. A net.Socket would be wrapped on arrival
   * in a socket that starts reading at once, and a forwarder would lose what it read.
   */
  readonly handle: object;
  readonly description: WebSocketDescription;
  /**
   * The successor holds the connection (the send's callback reported no error, or it acknowledged):
   * closes this process's copy of the connection (which sends nothing to the client) and ends the
   * old object: `readyState` CLOSED, `'close'` with 1001 (so the WebSocketServer drops it from `clients`).
   * Idempotent; nothing after `restore`.
   */
  release(): void;
  /**
   * The handle could not be sent: the old object serves the connection again from where it stopped
   * (the head is read first). Idempotent; nothing after `release`.
   */
  restore(): void;
}

/** Why the WebSocket was not frozen; it is left as it was, serving (the caller closes it with 1001). */
export interface MoveRefused {
  refused: MoveRefusal;
}

export interface FreezeOptions {
  /**
   * Ms to wait for a frame boundary: a client frame half-read is read on until it completes, a server
   * frame half-written is flushed. Past it the move is refused (`midFrame`, `writePending`).
   */
  timeout: number;
}

/** How often a wait for the server's output to drain looks again (the socket has no event for it). */
const FLUSH_POLL_MS = 5;

function movedError(): StickyError {
  return new StickyError(ErrorCode.WebSocketMoved, 'This WebSocket moved to another process and can no longer send.', {
    hint: 'It emitted `close` (1001) when it moved: stop using it then, or check `readyState` before sending.',
  });
}

function refusalOf(ws: WebSocketLike, socket: Socket | null): MoveRefusal | undefined {
  if (socket === null || streamHandleOf(socket) === null) return 'notSocket';
  if ((socket as Socket & { encrypted?: boolean }).encrypted === true) return 'tls';
  if (!isDetachable(ws)) return 'unsupported';
  return deflateRefusal(connectionSettings(ws).deflate);
}

function verdictOf(ws: WebSocketLike, socket: Socket): BoundaryVerdict {
  const state = frameState(ws);
  const isOpen = state.isOpen && !socket.destroyed && socket.readable && socket.writable;
  return boundaryVerdict({ ...state, isOpen, writePending: socket.writableLength });
}

/** Resolves on the socket's next read, drain or close, or after `waitMs`. */
function progress(socket: Socket, waitMs: number): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      socket.removeListener('data', done).removeListener('drain', done).removeListener('close', done);
      resolve();
    };
    const timer = setTimeout(done, waitMs);
    socket.on('data', done).on('drain', done).on('close', done);
  });
}

function drainReadable(socket: Socket): Buffer[] {
  const chunks: Buffer[] = [];
  for (let chunk = socket.read() as Buffer | null; chunk !== null; chunk = socket.read() as Buffer | null) {
    chunks.push(chunk);
  }
  return chunks;
}

/** At a boundary, synchronously: nothing the application does can slip between the check and this. */
function freezeAt(ws: WebSocketLike, socket: Socket, hold: SendHold): FrozenWebSocket {
  hold.end();
  stopReading(socket);
  const handle = streamHandleOf(socket) as object;
  const settings = connectionSettings(ws);
  const detached = detachWebSocket(ws, movedError);
  socket.pause();
  const head = Buffer.concat([detached.leftover, ...drainReadable(socket)]);
  const sends = hold.held.map((entry) => entry.send);
  const description: WebSocketDescription = {
    v: 1, ...settings, head: head.toString('base64'), ...(sends.length === 0 ? {} : { sends }),
  };
  let isSettled = false;
  return {
    handle,
    description,
    release(): void {
      if (isSettled) return;
      isSettled = true;
      socket.destroy();
      hold.handedOn();
      detached.end(1001, 'moved to another process');
    },
    restore(): void {
      if (isSettled) return;
      isSettled = true;
      detached.reattach();
      if (head.length > 0) socket.unshift(head);
      startReading(socket);
      if (!settings.isPaused) socket.resume();
      hold.replay();
    },
  };
}

/**
 * Stops a live server-side ws WebSocket at a frame boundary in both directions, for another process to
 * go on with it (`thawWebSocket`): the client notices nothing. From then on the old object's `send`
 * fails (`STICKY_ERR_WS_MOVED`, to its callback, else thrown), never silently. Refused, the WebSocket
 * is left serving: TLS in this process, permessage-deflate with context takeover, a frame half-read
 * or half-written at `timeout`, or a WebSocket already closing.
 */
export async function freezeWebSocket(
  ws: WebSocketLike, { timeout }: FreezeOptions,
): Promise<FrozenWebSocket | MoveRefused> {
  const socket = socketOfWebSocket(ws);
  const refusal = refusalOf(ws, socket);
  if (refusal !== undefined || socket === null) return { refused: refusal ?? 'notSocket' };
  const deadline = performance.now() + timeout;
  stopReading(socket);
  const hold = new SendHold(ws);
  for (;;) {
    const found = verdictOf(ws, socket);
    // A held message whose last fragment the application has not sent yet: wait for it.
    const verdict = found === 'boundary' && hold.isMessageOpen ? 'flush' : found;
    if (verdict === 'boundary') return freezeAt(ws, socket, hold);
    const left = deadline - performance.now();
    if (verdict === 'closed' || left <= 0) {
      hold.end();
      startReading(socket);
      hold.replay();
      return { refused: refusalAtDeadline(verdict) };
    }
    // A client frame half-read completes only by reading on; a server frame half-written needs no reads.
    if (verdict === 'readMore') startReading(socket);
    else stopReading(socket);
    await progress(socket, verdict === 'readMore' ? left : Math.min(left, FLUSH_POLL_MS));
  }
}
