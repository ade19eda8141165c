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
