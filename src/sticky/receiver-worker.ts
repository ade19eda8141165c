import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Server, Socket } from 'node:net';

// The worker's side of a handoff: the socket joins the application's server as if that server had
// accepted it, with the bytes the primary already read put back in front.

/** The accept-time settings Node's own net.Server applies to each socket it accepts. */
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
}

/**
 * Emits `connection` on `server` with the handed-off socket. The socket is counted in the server's
 * connections (so `server.close(cb)` waits for it) and unpaused only by the server's own listener.
 */
export function adoptSocket(server: Server, socket: Socket, bytes: string | undefined): void {
  // Put the primary's bytes back before anything reads: the socket buffers what the kernel still
  // holds behind them, so the order on the wire is kept.
  if (bytes !== undefined && bytes.length > 0) socket.unshift(Buffer.from(bytes, 'base64'));
  const settings = server as unknown as ServerInternals;
  // As Node does when a listening server accepts: without this an http server's sockets would run
  // with Nagle's algorithm on (+40 ms on split responses) and end on a client's half-close.
  socket.allowHalfOpen = settings.allowHalfOpen;
  if (settings.noDelay === true) socket.setNoDelay(true);
  if (settings.keepAlive === true) socket.setKeepAlive(true, (settings.keepAliveInitialDelay ?? 0) * 1000);
  settings._connections++;
  (socket as unknown as SocketInternals).server = server;
  (socket as unknown as SocketInternals)._server = server;
  server.emit('connection', socket);
}

let privateListens = 0;

function privateAddress(): string {
  const name = `sticky-runtime-${process.pid}-${++privateListens}`;
  if (process.platform === 'win32') return `\\\\?\\pipe\\${name}`;
  // Linux abstract sockets leave no file behind.
  if (process.platform === 'linux') return `\0${name}`;
  return join(tmpdir(), `${name}.sock`);
}

/**
 * Makes the server a listening server without binding the public port: Node starts an HTTP
 * server's headers/request timeout checker only on `listening`, and `server.close(cb)` reports
 * ERR_SERVER_NOT_RUNNING on a server that never listened. It listens on a private local socket
 * (abstract on Linux) that nothing routes to. Resolves at once if the server already listens.
 */
export function listenPrivately(server: Server): Promise<void> {
  if (server.listening) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => reject(error);
    server.once('error', onError);
    server.listen({ path: privateAddress(), exclusive: true }, () => {
      server.removeListener('error', onError);
      resolve();
    });
  });
}
