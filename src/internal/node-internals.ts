import { closeSync } from 'node:fs';
import { Socket } from 'node:net';

// Private Node APIs both sides use (the primary's and a worker's own are in node-internals-primary.ts
// and node-internals-worker.ts), each with the Node source that defines it.

/** A bare libuv stream handle that owns a descriptor, as `handleOfFd` makes it. */
export interface FdHandle {
  readonly fd: number;
  readStart(): number;
  readStop(): number;
  close(): void;
}

interface ShellInternals {
  _handle: FdHandle | null;
}

/** tcp_wrap's `TCP` class and its `TCPConstants.SOCKET` (a connection, not a listener). */
type TcpClass = new (type: number) => FdHandle & { open(fd: number): number };
const TCP_SOCKET = 0;
let tcpClass: TcpClass | undefined;

/**
 * `handleOfFd(fd, 'tcp')` for a descriptor known to be a TCP connection (the native part checked it),
 * without a net.Socket around it: tcp_wrap's own class (lib/net.js `createHandle`: `new TCP(TCPConstants.SOCKET)`,
 * then `open(fd)`), taken from the first handle made the slow way. Null: the descriptor is closed.
 */
export function tcpHandleOfFd(fd: number): FdHandle | null {
  if (tcpClass === undefined) {
    const handle = handleOfFd(fd, 'tcp');
    if (handle !== null) tcpClass = handle.constructor as TcpClass;
    return handle;
  }
  const handle = new tcpClass(TCP_SOCKET);
  if (handle.open(fd) === 0) return handle;
  handle.close();
  closeSync(fd);
  return null;
}

/**
 * Wraps a descriptor received from another process in the bare libuv handle Node makes for it (tcp_wrap
 * for a TCP connection, pipe_wrap for a Unix stream socket: `createHandle` in lib/net.js), as an
 * accepted or IPC-received handle is: the descriptor is the handle's from now on. `kind` is what the
 * descriptor must be; null when it is not (the descriptor is closed).
 */
export function handleOfFd(fd: number, kind: 'tcp' | 'pipe'): FdHandle | null {
  let shell: Socket;
  try {
    shell = new Socket({ fd, readable: false, writable: false });
  } catch {
    // ERR_INVALID_FD_TYPE: a file, a datagram socket... Nothing else holds it.
    closeSync(fd);
    return null;
  }
  const internals = shell as unknown as ShellInternals;
  const handle = internals._handle;
  internals._handle = null;
  shell.destroy();
  if (handle === null) return null;
  // Only tcp_wrap has setNoDelay.
  if (('setNoDelay' in handle) !== (kind === 'tcp')) {
    handle.close();
    return null;
  }
  return handle;
}
