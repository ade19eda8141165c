import type { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';

// Every private API of the `ws` package (8.x) that moving a live WebSocket to another process relies
// on, behind named accessors, each with the ws source it reads (lib/*.js of ws 8.23.0,
// https://github.com/websockets/ws/tree/8.23.0/lib). A ws release that changes one breaks this module
// only, and test/integration/ws-internals-canary.test.ts says which accessor broke. ws is never
// imported here: the WebSocket class comes from the application's WebSocketServer (`options.WebSocket`).
// Longer than most files on purpose: it is the one place ws's private state is read or written, so a
// ws upgrade is checked here and in its canary only.

/** A server-side `ws` WebSocket, as far as this module's callers see it. */
export interface WebSocketLike extends EventEmitter {
  readonly readyState: number;
  pause(): void;
  resume(): void;
}

/** The application's `ws` WebSocketServer (8.x). */
export interface WebSocketServerLike extends EventEmitter {
  readonly options: object;
}

/** websocket.js: WebSocket.OPEN / CLOSING / CLOSED (readyStates). */
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;
/** receiver.js: `const GET_INFO = 0`, the state between two frames. */
const RECEIVER_GET_INFO = 0;
/** sender.js: `const DEFAULT = 0`, neither deflating nor reading a Blob. */
const SENDER_DEFAULT = 0;
/** permessage-deflate.js: `PerMessageDeflate.extensionName`. */
const DEFLATE = 'permessage-deflate';
/** websocket-server.js: `const CLOSED = 2` (`_state`). */
const SERVER_CLOSED = 2;

interface ReceiverInternals {
  _state: number;
  _buffers: Buffer[];
  _bufferedBytes: number;
  /** The opcode of a fragmented message being received, 0 between messages. */
  _fragmented: number;
  _fragments: unknown[];
  _maxPayload: number;
  /** Chunks written to the receiver (a Writable) and not yet parsed. */
  readonly writableLength: number;
  removeAllListeners(): void;
}

interface SenderInternals {
  _state: number;
  _queue: unknown[];
  /** False between the fragments of a message sent with `fin: false`. */
  _firstFragment: boolean;
}

interface DeflateInternals {
  params: Record<string, unknown> | null;
  cleanup(): void;
}

type Listener = (...args: unknown[]) => void;

interface WsInternals extends WebSocketLike {
  _readyState: number;
  _socket: Socket | null;
  _receiver: ReceiverInternals | null;
  _sender: SenderInternals | null;
  _extensions: Record<string, DeflateInternals | undefined>;
  _protocol: string;
  _paused: boolean;
  _closeCode: number;
  _closeFrameSent: boolean;
  _closeFrameReceived: boolean;
  binaryType: string;
  setSocket(socket: Socket, head: Buffer, options: object): void;
}

type DeflateClass = new (options: object, isServer?: boolean, maxPayload?: number) => DeflateInternals;

interface WebSocketClass {
  new (address: null, protocols: undefined, options: object): WsInternals;
  /** index.js: `WebSocket.PerMessageDeflate = PerMessageDeflate`; not set when ws is imported as ESM (wrapper.mjs). */
  PerMessageDeflate?: DeflateClass;
}

interface ServerInternals extends WebSocketServerLike {
  options: {
    WebSocket: WebSocketClass;
    perMessageDeflate?: boolean | object;
    maxPayload?: number;
    allowSynchronousEvents?: boolean;
    skipUTF8Validation?: boolean;
    maxBufferedChunks?: number;
    maxFragments?: number;
  };
  clients?: Set<WebSocketLike>;
  _shouldEmitClose?: boolean;
  _state: number;
}

/**
 * The listeners `WebSocket#setSocket` adds to its socket (websocket.js: socketOnClose, socketOnData,
 * socketOnEnd, socketOnError), found by their function names.
 */
const SOCKET_LISTENERS = [['close', 'socketOnClose'], ['data', 'socketOnData'], ['end', 'socketOnEnd'],
  ['error', 'socketOnError']] as const;

const internalsOf = (ws: WebSocketLike): WsInternals => ws as WsInternals;

/** The socket under a server-side WebSocket (`_socket`, set by setSocket); null before or without one. */
export function socketOfWebSocket(ws: WebSocketLike): Socket | null {
  return internalsOf(ws)._socket ?? null;
}

/** Where the connection's two directions stand at this instant (see sticky/ws-boundary.ts). */
export interface FrameState {
  /** OPEN, no close frame sent or received. */
  isOpen: boolean;
  /** receiver.js: GET_INFO, the next byte starts a frame (at most one byte of its header is buffered). */
  isReceiverAtFrame: boolean;
  /** receiver.js: fragments of a message are held (`_fragmented`), or written chunks wait (`writableLength`). */
  isReceiverInMessage: boolean;
  /** sender.js: deflating, a Blob being read, frames queued, or a message sent with `fin: false` unfinished. */
  isSenderBusy: boolean;
}

export function frameState(ws: WebSocketLike): FrameState {
  const internals = internalsOf(ws);
  const receiver = internals._receiver;
  const sender = internals._sender;
  if (receiver === null || sender === null) {
    return { isOpen: false, isReceiverAtFrame: false, isReceiverInMessage: false, isSenderBusy: false };
  }
  return {
    isOpen: internals._readyState === OPEN && !internals._closeFrameSent && !internals._closeFrameReceived,
    isReceiverAtFrame: receiver._state === RECEIVER_GET_INFO,
    isReceiverInMessage: receiver._fragmented !== 0 || receiver._fragments.length > 0 || receiver.writableLength > 0,
    isSenderBusy: sender._state !== SENDER_DEFAULT || sender._queue.length > 0 || !sender._firstFragment,
  };
}

/** sender.js: a message sent with `fin: false` is unfinished (its next fragments must follow on this sender). */
export function isSendingMessage(ws: WebSocketLike): boolean {
  const sender = internalsOf(ws)._sender;
  return sender !== null && !sender._firstFragment;
}

/** What was negotiated at the upgrade and what the receiver enforces, as plain data. */
export interface ConnectionSettings {
  protocol: string;
  binaryType: string;
  maxPayload: number;
  isPaused: boolean;
  /** The accepted permessage-deflate parameters (`params` of the extension), if it was negotiated. */
  deflate?: Record<string, unknown>;
}

export function connectionSettings(ws: WebSocketLike): ConnectionSettings {
  const internals = internalsOf(ws);
  const params = internals._extensions[DEFLATE]?.params ?? undefined;
  const settings: ConnectionSettings = {
    protocol: internals._protocol,
    binaryType: internals.binaryType,
    maxPayload: internals._receiver?._maxPayload ?? 0,
    isPaused: internals._paused,
  };
  if (params !== undefined && params !== null) settings.deflate = { ...params };
  return settings;
}

/** A WebSocket taken off its socket: `reattach` undoes it, `end` makes it closed for good. */
export interface DetachedWebSocket {
  /** Bytes the receiver had buffered but not parsed (at most a frame header's first byte). */
  leftover: Buffer;
  reattach(): void;
  end(code: number, reason: string): void;
}

const SHADOWED = ['send', 'ping', 'pong', 'close', 'terminate'] as const;
const ignoreError = (): void => undefined;

function socketListeners(socket: Socket): [string, Listener][] | undefined {
  const found: [string, Listener][] = [];
  for (const [event, name] of SOCKET_LISTENERS) {
    const listener = socket.listeners(event).find((candidate) => (candidate as Listener).name === name);
    if (listener === undefined) return undefined;
    found.push([event, listener as Listener]);
  }
  return found;
}

/**
 * True when the WebSocket has everything `detachWebSocket` takes: a socket with ws's four listeners,
 * a receiver and a sender. False for a ws release that changed them (nothing is then touched).
 */
export function isDetachable(ws: WebSocketLike): boolean {
  const internals = internalsOf(ws);
  const socket = internals._socket ?? null;
  return socket !== null && internals._receiver != null && internals._sender != null &&
    Array.isArray(internals._receiver._buffers) && Array.isArray(internals._sender._queue) &&
    socketListeners(socket) !== undefined;
}

function takeLeftover(receiver: ReceiverInternals): Buffer {
  const leftover = Buffer.concat(receiver._buffers);
  receiver._buffers = [];
  receiver._bufferedBytes = 0;
  return leftover;
}

/**
 * Takes the WebSocket off its socket at a frame boundary (receiver in GET_INFO): the socket's ws
 * listeners are removed, the receiver's unparsed bytes taken, the state is CLOSING, and the methods
 * that would write get `moved` (send: its callback's error, or thrown without a callback; ping and pong
 * as ws treats them once closing: only a callback hears of it; close and terminate do nothing: the
 * connection is no longer this object's to close).
 */
export function detachWebSocket(ws: WebSocketLike, moved: () => Error): DetachedWebSocket {
  const internals = internalsOf(ws);
  const socket = internals._socket;
  const receiver = internals._receiver;
  if (socket === null || receiver === null) throw new Error('the WebSocket has no socket');
  const listeners = socketListeners(socket);
  if (listeners === undefined) throw new Error('the socket lacks the listeners of ws');
  for (const [event, listener] of listeners) socket.removeListener(event, listener);
  socket.on('error', ignoreError);
  const leftover = takeLeftover(receiver);
  internals._readyState = CLOSING;
  const lastCallback = (args: unknown[]): Listener | undefined =>
    args.findLast((arg): arg is Listener => typeof arg === 'function');
  const methods: Record<(typeof SHADOWED)[number], (...args: unknown[]) => void> = {
    send: (...args) => {
      const callback = lastCallback(args);
      if (callback === undefined) throw moved();
      process.nextTick(callback, moved());
    },
    ping: (...args) => { const callback = lastCallback(args); if (callback) process.nextTick(callback, moved()); },
    pong: (...args) => { const callback = lastCallback(args); if (callback) process.nextTick(callback, moved()); },
    close: () => undefined,
    terminate: () => undefined,
  };
  for (const name of SHADOWED) Object.defineProperty(ws, name, { value: methods[name], configurable: true });
  return {
    leftover,
    reattach(): void {
      for (const name of SHADOWED) delete (ws as unknown as Record<string, unknown>)[name];
      socket.removeListener('error', ignoreError);
      for (const [event, listener] of listeners) socket.on(event, listener);
      internals._readyState = OPEN;
    },
    end(code: number, reason: string): void {
      internals._readyState = CLOSED;
      internals._closeCode = code;
      internals._extensions[DEFLATE]?.cleanup();
      receiver.removeAllListeners();
      ws.emit('close', code, Buffer.from(reason));
    },
  };
}

/**
 * A server-side WebSocket on `socket`, built as WebSocketServer#completeUpgrade builds one
 * (websocket-server.js): `new options.WebSocket(null, undefined, options)`, the subprotocol in
 * `_protocol`, the accepted PerMessageDeflate in `_extensions` (its `params` as negotiated; its
 * constructor takes `{ ...options, isServer, maxPayload }` since 8.18 and `(options, isServer,
 * maxPayload)` before), then `setSocket(socket, head, {…})` with the server's limits. It joins the
 * server's `clients` as completeUpgrade adds it (and the server's pending `close` waits for it).
 */
export function rebuildWebSocket(
  server: WebSocketServerLike, socket: Socket, head: Buffer, settings: ConnectionSettings,
): WebSocketLike {
  const { options } = server as ServerInternals;
  const ws = new options.WebSocket(null, undefined, options);
  ws._protocol = settings.protocol;
  const maxPayload = options.maxPayload ?? settings.maxPayload;
  if (settings.deflate !== undefined) {
    const configured = typeof options.perMessageDeflate === 'object' ? options.perMessageDeflate : {};
    const Deflate = deflateClassOf(options.WebSocket);
    if (Deflate === undefined) throw new Error('the PerMessageDeflate class of ws was not found');
    const deflate = new Deflate({ ...configured, isServer: true, maxPayload }, true, maxPayload);
    deflate.params = { ...settings.deflate };
    ws._extensions = { [DEFLATE]: deflate };
  }
  ws.binaryType = settings.binaryType;
  ws.setSocket(socket, head, {
    allowSynchronousEvents: options.allowSynchronousEvents,
    maxBufferedChunks: options.maxBufferedChunks,
    maxFragments: options.maxFragments,
    maxPayload,
    skipUTF8Validation: options.skipUTF8Validation,
  });
  trackClient(server as ServerInternals, ws);
  return ws;
}

const deflateClasses = new WeakMap<WebSocketClass, DeflateClass>();

/**
 * The PerMessageDeflate class of the same ws copy as the application's WebSocket class: its static
 * (index.js), else lib/permessage-deflate.js beside the module that exports the class (lib/websocket.js,
 * found in the CommonJS cache, which ESM imports of ws share: wrapper.mjs imports the lib files).
 */
function deflateClassOf(webSocket: WebSocketClass): DeflateClass | undefined {
  if (typeof webSocket.PerMessageDeflate === 'function') return webSocket.PerMessageDeflate;
  const known = deflateClasses.get(webSocket);
  if (known !== undefined) return known;
  const modules = Object.values(createRequire(import.meta.url).cache);
  let candidate: unknown = webSocket;
  for (; typeof candidate === 'function'; candidate = Object.getPrototypeOf(candidate)) {
    const module = modules.find((entry) => entry?.exports === candidate);
    if (module === undefined) continue;
    const found = createRequire(module.filename)('./permessage-deflate.js') as DeflateClass;
    deflateClasses.set(webSocket, found);
    return found;
  }
  return undefined;
}

function trackClient(server: ServerInternals, ws: WebSocketLike): void {
  const clients = server.clients;
  if (clients === undefined) return;
  clients.add(ws);
  ws.on('close', () => {
    clients.delete(ws);
    if (server._shouldEmitClose === true && clients.size === 0) {
      process.nextTick(() => {
        server._state = SERVER_CLOSED;
        server.emit('close');
      });
    }
  });
}
