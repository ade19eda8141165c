import { Socket } from 'node:net';
import { socketHandle, takeSocketHandle, type TcpHandle } from '../internal/node-internals-primary.js';

export type { TcpHandle } from '../internal/node-internals-primary.js';

// What the primary holds for an accepted connection until a worker takes it: a net.Socket in the
// modes that read bytes or give the socket to a key function, or in IP mode the bare accepted
// TCP handle, which costs no Socket, stream state or listeners per connection (the cheapest thing
// Node can pass over IPC: 'net.Native').

export type Connection = Socket | TcpHandle;

export const isSocket = (connection: Connection): connection is Socket => connection instanceof Socket;

/** The native handle Node will send for the connection; null once Node took a socket's handle, or after destroy. */
export function nativeHandleOf(connection: Connection): TcpHandle | null {
  return isSocket(connection) ? socketHandle(connection) : connection;
}

const ignore = (): void => {};


export function closeConnection(connection: Connection): void {
  if (!isSocket(connection)) {
    // Closing a handle twice is a no-op in Node's HandleWrap.
    connection.close();
    return;
  }
  connection.on('error', ignore);
  connection.destroy();
}

/** The client behind a PROXY protocol header, kept on the primary's connection until the handoff. */
export interface ProxiedClient {
  address: string;
  port: number | undefined;
}

const PROXIED = Symbol('sticky.proxiedClient');

export function setProxiedClient(connection: Connection, client: ProxiedClient): void {
  (connection as Connection & { [PROXIED]?: ProxiedClient })[PROXIED] = client;
}

/** The PROXY client of a socket, or of a handle taken out of one (it travels with the handle). */
export function proxiedClientOf(connection: Connection): ProxiedClient | undefined {
  return (connection as Connection & { [PROXIED]?: ProxiedClient })[PROXIED];
}

/**
 * Takes the native handle out of a paused socket, as Node's own `send(msg, socket)` does, so that it
 * travels as a bare handle that stays the primary's until the worker acknowledges it (Node would close
 * a socket's handle itself when the channel ends first). The emptied socket is destroyed, which
 * closes no fd and releases it from the server's connection count. Null if the client already left.
 */
export function detachHandle(socket: Socket): TcpHandle | null {
  const client = proxiedClientOf(socket);
  const handle = takeSocketHandle(socket);
  if (handle === null) return null;
  if (client !== undefined) (handle as TcpHandle & { [PROXIED]?: ProxiedClient })[PROXIED] = client;
  socket.on('error', ignore);
  socket.destroy();
  return handle;
}
