import type { Server, Socket } from 'node:net';
import type { ServerResponse } from 'node:http';

// Every private Node API a worker relies on, behind named accessors, each with the Node source it
// depends on. A Node release that changes one breaks this module only, and
// test/integration/node-internals-canary.test.ts says which accessor broke (CI runs Node 20, 22, 24).
// The primary's side is node-internals-primary.ts.

/** What net.Server's constructor stores from its options and applies to each socket it accepts. */
interface ServerInternals {
  _connections: number;
  allowHalfOpen: boolean;
  noDelay?: boolean;
  keepAlive?: boolean;
  /** Seconds, as net.Server stores it. */
  keepAliveInitialDelay?: number;
}

/** What net.Server keeps while it listens: the listening handle, and the name `address()` reports without one. */
interface ListeningInternals {
  _handle: object | null;
  _pipeName?: string;
  _unref?: boolean;
}

interface SocketInternals {
  server: Server | null;
  _server: Server | null;
  _httpMessage?: ServerResponse | null;
}

/**
 * Sets up a socket the server did not accept itself as Node's onconnection does for one it accepts
 * (https://github.com/nodejs/node/blob/v20.x/lib/net.js, function onconnection): the server's
 * half-open, no-delay and keep-alive settings, its connection count (so `server.close(cb)` waits for
 * the socket and `getConnections()` counts it) and `socket.server`. Emits nothing.
 */
export function joinServer(server: Server, socket: Socket): void {
  const settings = server as unknown as ServerInternals;
  socket.allowHalfOpen = settings.allowHalfOpen;
  if (settings.noDelay === true) socket.setNoDelay(true);
  if (settings.keepAlive === true) socket.setKeepAlive(true, (settings.keepAliveInitialDelay ?? 0) * 1000);
  settings._connections++;
  (socket as unknown as SocketInternals).server = server;
  (socket as unknown as SocketInternals)._server = server;
}

/**
 * The response an HTTP server is writing on the socket now; undefined when the socket is idle (or
 * upgraded, or not HTTP). ServerResponse#assignSocket sets `socket._httpMessage` and detachSocket
 * clears it (https://github.com/nodejs/node/blob/v20.x/lib/_http_server.js).
 */
export function responseOf(socket: Socket): ServerResponse | undefined {
  return (socket as unknown as SocketInternals)._httpMessage ?? undefined;
}

/**
 * An HTTP connection of a server (idle between requests or with one in flight), not an upgraded one
 * (a WebSocket) or a plain TCP one: `connectionListenerInternal` sets `socket.parser` and the upgrade
 * path (`onParserExecuteCommon`) frees it to null, in https://github.com/nodejs/node/blob/v20.x/lib/_http_server.js.
 */
export function isHttpConnection(socket: Socket): boolean {
  const parser = (socket as unknown as { parser?: unknown }).parser;
  return typeof parser === 'object' && parser !== null;
}

/** An HTTP server's list of its connections' parsers (a ConnectionsList, src/node_http_parser.cc). */
interface ConnectionsList {
  idle(): { socket?: Socket }[];
}

/**
 * The server's ConnectionsList, `server[kConnections]` (Symbol('http.server.connections'), set up on
 * 'listening' by setupConnectionsTracking in https://github.com/nodejs/node/blob/v20.x/lib/_http_server.js);
 * undefined for a server without one (not HTTP, or a Node that changed it).
 */
function connectionsOf(server: Server): ConnectionsList | undefined {
  const key = Object.getOwnPropertySymbols(server).find((symbol) => symbol.description === 'http.server.connections');
  const list = key === undefined ? undefined : (server as unknown as Record<symbol, unknown>)[key];
  const isList = typeof (list as Partial<ConnectionsList> | undefined)?.idle === 'function';
  return isList ? list as ConnectionsList : undefined;
}

/**
 * Takes the HTTP keep-alive connections among `sockets` that are idle between two requests: no byte
 * of a next request parsed and no response being written. Each stops reading first, then the server's
 * ConnectionsList says which are idle (its `idle()` lists the parsers whose `last_message_start_` is 0,
 * the check `closeIdleConnections` uses); the others read on. What arrives after the stop stays in
 * the kernel, behind the handle. TLS connections are never taken.
 */
export function takeIdleHttpConnections(server: Server, sockets: Iterable<Socket>): Socket[] {
  const list = connectionsOf(server);
  if (list === undefined) return [];
  const stopped: Socket[] = [];
  for (const socket of sockets) {
    const isTls = (socket as Socket & { encrypted?: boolean }).encrypted === true;
    // One that is closing (a `Connection: close` response just ended it) has nothing to move.
    const isClosing = socket.destroyed || socket.writableEnded || !socket.readable;
    if (isClosing || isTls || !isHttpConnection(socket) || responseOf(socket) !== undefined) continue;
    stopReading(socket);
    stopped.push(socket);
  }
  const idle = new Set(list.idle().map((parser) => parser.socket));
  const taken: Socket[] = [];
  for (const socket of stopped) {
    if (idle.has(socket) && responseOf(socket) === undefined) taken.push(socket);
    else startReading(socket);
  }
  return taken;
}

/**
 * `server.closeIdleConnections()` but for the connections in `except` (being moved to another process:
 * destroying one would close it under the move). Without a ConnectionsList, Node's own.
 */
export function closeIdleHttpConnectionsExcept(server: Server, except: ReadonlySet<Socket>): void {
  const list = connectionsOf(server);
  if (list === undefined) {
    (server as Server & { closeIdleConnections?: () => void }).closeIdleConnections?.();
    return;
  }
  for (const { socket } of list.idle()) {
    if (socket === undefined || except.has(socket) || responseOf(socket) !== undefined) continue;
    socket.destroy();
  }
}

/**
 * Runs the process's listeners of a signal as if it had been received: `process.emit(signal, signal)`
 * is what Node's signal wrap does on delivery (startListeningIfSignal in
 * https://github.com/nodejs/node/blob/v20.x/lib/internal/process/signal.js). No signal is sent.
 */
export function emitSignal(signal: NodeJS.Signals): void {
  process.emit(signal, signal);
}

/**
 * Makes `server` accept on a listening handle received from the primary. In a cluster worker this is
 * exclusive (the worker accepts itself, the primary is not asked) only from Node 20.13
 * (nodejs/node#52056, listenInCluster in https://github.com/nodejs/node/blob/v20.x/lib/net.js); before,
 * it goes to the primary, which throws. `server.listen({ fd })` in a worker is never exclusive. The
 * backlog is passed because Node re-runs listen() on the handle, which would reset the queue to 511.
 */
export function listenOnHandle(server: Server, handle: object, backlog: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => reject(error);
    server.once('error', onError);
    server.listen(handle, backlog, () => {
      server.removeListener('error', onError);
      resolve();
    });
  });
}

/** Longest Node timer delay: the keep-alive timer never fires in practice. */
const KEEP_ALIVE_MS = 2 ** 31 - 1;

/**
 * Stands in for a listening handle in a server that listens on no socket: what net.Server calls on
 * its handle (close, ref, unref). A listening handle keeps the event loop alive until it is closed or
 * unref()ed; a never-firing timer does the same here, so a worker whose server listens stays up as
 * one with a real socket would (e.g. while it stops reading its IPC channel, until the watchdog acts).
 * Without `getsockname`, `address()` reports `_pipeName`.
 */
function standInHandle(isUnref: boolean): { close(): void; ref(): void; unref(): void } {
  const keepAlive = setInterval(() => undefined, KEEP_ALIVE_MS);
  if (isUnref) keepAlive.unref();
  return Object.freeze({
    close: (): void => clearInterval(keepAlive),
    ref: (): void => void keepAlive.ref(),
    unref: (): void => void keepAlive.unref(),
  });
}

/**
 * Makes `server` a listening server that owns no socket, for a server whose connections all come from
 * elsewhere: it emits `listening` (on which an http/https server starts its headersTimeout/requestTimeout
 * checker, setupConnectionsTracking in https://github.com/nodejs/node/blob/v20.x/lib/_http_server.js),
 * `listening` is true, `address()` returns `name`, and `close(cb)` calls back without an error once its
 * connections ended. net.Server (https://github.com/nodejs/node/blob/v20.x/lib/net.js) counts itself as
 * listening while `_handle` is set (the `listening` getter, close, _emitCloseIfDrained, ref, unref);
 * `address()` falls back to `_pipeName` on a handle without `getsockname`. Nothing can connect to it.
 * `listening` is emitted on the next tick, as Node's emitListeningNT does, unless the server closed first.
 */
export function listenWithoutSocket(server: Server, name: string): Promise<void> {
  const internals = server as unknown as ListeningInternals;
  internals._handle = standInHandle(internals._unref === true);
  internals._pipeName = name;
  return new Promise((resolve) => {
    process.nextTick(() => {
      if (server.listening) server.emit('listening');
      resolve();
    });
  });
}

/** A connected socket's libuv stream handle (tcp_wrap or pipe_wrap), as far as moving it needs. */
export interface StreamHandle {
  reading: boolean;
  readStart(): number;
  readStop(): number;
}

interface StreamSocketInternals {
  _handle: StreamHandle | null;
  _read: (size: number) => void;
}

const neverRead = (): void => undefined;

/**
 * The socket's libuv handle, which travels over IPC as a bare handle ('net.Native'); null once the
 * socket was destroyed. `Socket#_handle`: https://github.com/nodejs/node/blob/v20.x/lib/net.js (function Socket).
 */
export function streamHandleOf(socket: Socket): StreamHandle | null {
  return (socket as unknown as StreamSocketInternals)._handle ?? null;
}

/**
 * Stops the socket reading for good, until `startReading`: `socket.pause()` does not stop the handle
 * (bytes keep landing in the stream's buffer), so the handle's reads stop, and `_read` (which restarts
 * them: tryReadStart in lib/net.js, called by every `read()`) does nothing while it is stopped.
 */
export function stopReading(socket: Socket): void {
  const internals = socket as unknown as StreamSocketInternals;
  if (internals._handle !== null) {
    internals._handle.reading = false;
    internals._handle.readStop();
  }
  internals._read = neverRead;
}

/** Undoes `stopReading`: `Socket#_read` is the prototype's again and the handle reads (tryReadStart, lib/net.js). */
export function startReading(socket: Socket): void {
  const internals = socket as unknown as StreamSocketInternals;
  if (Object.hasOwn(internals, '_read')) delete (internals as Partial<StreamSocketInternals>)._read;
  if (internals._handle !== null && !internals._handle.reading) {
    internals._handle.reading = true;
    internals._handle.readStart();
  }
}

