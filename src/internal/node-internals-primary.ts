import { Socket, type Server } from 'node:net';
import type { ChildProcess } from 'node:child_process';

// Every private Node API the primary relies on, behind named accessors, each with the Node source it
// depends on. A Node release that changes one breaks this module only, and
// test/integration/node-internals-canary.test.ts says which accessor broke (CI runs Node 20, 22, 24).
// The worker's side is node-internals-worker.ts.

/** The accepted libuv TCP handle (tcp_wrap) as Node hands it to `onconnection` and sends it as 'net.Native'. */
export interface TcpHandle {
  /** The descriptor (libuv's, on Unix; -1 once closed). */
  readonly fd: number;
  close(callback?: () => void): void;
  getpeername(out: { address?: string }): number;
}

/** A listening libuv TCP handle the primary holds without listening on it. */
export interface NativeListenHandle {
  readonly fd: number;
  getsockname(out: object): number;
  close(callback?: () => void): void;
}

/** Node calls `onconnection(status, handle)` for each accept; a status other than 0 is a failed accept (EMFILE). */
export type BareConnectionListener = (status: number, handle: TcpHandle | undefined) => void;

interface StreamHandle extends TcpHandle {
  reading: boolean;
  onread: unknown;
  readStart(): number;
  readStop(): number;
}

/**
 * Called with each read of a bare handle: an ArrayBuffer holding exactly the bytes read, or undefined at
 * the end of the stream or on a read error (`this` is the handle).
 */
export type BareReadListener = (this: TcpHandle, data: ArrayBuffer | undefined) => void;

interface SocketInternals { _handle: StreamHandle | null }
interface ServerInternals { _handle: { onconnection?: unknown; fd?: unknown } | null }
interface ChannelInternals { _handleQueue?: { handle?: unknown }[] | null }

const handleOf = (socket: Socket): StreamHandle | null => (socket as unknown as SocketInternals)._handle;
const ignore = (): void => {};

/**
 * The socket's libuv handle; null once the socket was destroyed or its handle taken.
 * `Socket#_handle`: https://github.com/nodejs/node/blob/v20.x/lib/net.js (function Socket).
 */
export function socketHandle(socket: Socket): TcpHandle | null {
  return handleOf(socket);
}

/**
 * Takes the handle out of a paused socket, as Node's own `send(message, socket)` does for 'net.Socket'
 * (handleConversion in https://github.com/nodejs/node/blob/v20.x/lib/internal/child_process.js), but
 * leaves the socket unclosed: the caller destroys the emptied socket, which then closes no fd.
 */
export function takeSocketHandle(socket: Socket): TcpHandle | null {
  const handle = handleOf(socket);
  if (handle === null) return null;
  handle.onread = ignore;
  (socket as unknown as SocketInternals)._handle = null;
  return handle;
}

/**
 * Stops the libuv reads of a socket. `reading` stays true on purpose: `Socket#_read` restarts reads
 * when it sees `reading === false` (tryReadStart in https://github.com/nodejs/node/blob/v20.x/lib/net.js),
 * and draining the readable buffer afterwards calls `_read`.
 */
export function stopReads(socket: Socket): void {
  handleOf(socket)?.readStop();
}

/** Undoes `stopReads`' flag, so that `resume()` restarts the reads (tryReadStart, lib/net.js). */
export function allowReads(socket: Socket): void {
  const handle = handleOf(socket);
  if (handle !== null) handle.reading = false;
}

/**
 * Replaces a listening server's accept callback: each accepted connection stays the bare handle, with
 * no net.Socket built for it. `handle.onconnection` is set in setupListenHandle and is the function
 * onconnection in https://github.com/nodejs/node/blob/v20.x/lib/net.js. False when the server has no
 * such handle (not listening, or a Node that changed it): it then keeps accepting sockets.
 */
export function acceptBareHandles(server: Server, listener: BareConnectionListener): boolean {
  const handle = (server as unknown as ServerInternals)._handle;
  if (handle === null || typeof handle.onconnection !== 'function') return false;
  handle.onconnection = listener;
  return true;
}

/**
 * Reads a bare accepted handle with no net.Socket around it: `listener` gets each chunk libuv reads.
 * The handle calls its `onread` (an internal field set through the accessor StreamBase::AddMethods
 * installs) with the default listener's arguments: EmitToJSStreamListener::OnStreamRead in
 * https://github.com/nodejs/node/blob/v20.x/src/stream_base.cc reallocates the read buffer to the
 * bytes read and passes it whole (offset 0), and passes no buffer when nread < 0 (EOF, ECONNRESET).
 * False when the reads could not start (the peer is gone).
 */
export function readBareHandle(handle: TcpHandle, listener: BareReadListener): boolean {
  const stream = handle as StreamHandle;
  stream.onread = listener;
  return stream.readStart() === 0;
}

/** Stops a bare handle's reads (LibuvStreamWrap::ReadStop): later bytes stay in the kernel. */
export function stopBareReads(handle: TcpHandle): void {
  (handle as StreamHandle).readStop();
}

/**
 * A paused net.Socket around a bare handle (which it owns from now on), as net.Server's onconnection
 * makes one with `pauseOnConnect`: `new Socket({ handle, pauseOnCreate: true })`, the constructor's
 * options.handle and options.pauseOnCreate in https://github.com/nodejs/node/blob/v20.x/lib/net.js.
 */
export function socketOfHandle(handle: TcpHandle): Socket {
  return new Socket({ handle, pauseOnCreate: true } as ConstructorParameters<typeof Socket>[0]);
}

/**
 * The fd of a listening server's socket; undefined when it does not listen (or on Windows). net.Server
 * keeps its TCP handle in `_handle`, whose `fd` accessor is LibuvStreamWrap's GetFD
 * (https://github.com/nodejs/node/blob/v20.x/src/stream_wrap.cc).
 */
export function listeningFd(server: Server): number | undefined {
  const fd = (server as unknown as ServerInternals)._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/**
 * Wraps a listening fd (owned from now on by the returned handle) without listening or reading.
 * `new net.Socket({ fd })` wraps it in a libuv TCP handle (createHandle + `handle.open(fd)` in
 * https://github.com/nodejs/node/blob/v20.x/lib/net.js) and, with `readable: false`, never reads.
 * Its handle is sent by `worker.send(message, handle)` as 'net.Native', which Node never closes on
 * send (handleConversion in lib/internal/child_process.js).
 */
export function holdListeningFd(fd: number): NativeListenHandle {
  const socket = new Socket({ fd, readable: false, writable: false });
  const handle = (socket as unknown as { _handle: NativeListenHandle | null })._handle;
  if (handle === null || typeof handle.getsockname !== 'function') {
    throw new Error('net.Socket({ fd }) did not produce a TCP handle: this Node version changed its internals');
  }
  return handle;
}

/**
 * A handle is in flight on the channel: Node holds every later message, unserialized, in
 * `_handleQueue` until the receiver's NODE_HANDLE_ACK, and serializes it then (target._send in
 * setupChannel, https://github.com/nodejs/node/blob/v20.x/lib/internal/child_process.js).
 */
export function hasHandleInFlight(child: ChildProcess): boolean {
  const queue = (child as unknown as ChannelInternals)._handleQueue;
  return queue !== undefined && queue !== null;
}

/**
 * `handle` was given to `send()` but waits, unsent, behind another handle in flight: Node keeps such
 * messages in `_handleQueue` as `{ message, handle, options, callback }` until the ACK of the one in
 * flight (target._send in setupChannel, https://github.com/nodejs/node/blob/v20.x/lib/internal/child_process.js).
 */
export function isHandleQueued(child: ChildProcess, handle: unknown): boolean {
  const queue = (child as unknown as ChannelInternals)._handleQueue;
  return queue !== undefined && queue !== null && queue.some((queued) => queued.handle === handle);
}

/**
 * Calls `listener` each time the receiver acknowledges (NODE_HANDLE_ACK) or refuses (NODE_HANDLE_NACK)
 * a handle sent on the channel. Node's own handler runs first; both arrive as 'internalMessage'
 * (setupChannel in https://github.com/nodejs/node/blob/v20.x/lib/internal/child_process.js).
 * Returns the function that removes the listener.
 */
export function onHandleAcknowledged(child: ChildProcess, listener: () => void): () => void {
  const onInternal = (message: { cmd?: unknown }): void => {
    if (message.cmd === 'NODE_HANDLE_ACK' || message.cmd === 'NODE_HANDLE_NACK') listener();
  };
  child.on('internalMessage', onInternal);
  return () => child.removeListener('internalMessage', onInternal);
}
