import { Socket, type Server } from 'node:net';

// The only place that relies on Node internals for the kernel data plane, so a Node release that
// changes them breaks one module (and test/integration/sticky-kernel-canary.test.ts says so loudly):
//
// - The primary must hold each slot's listening socket without listen()ing it in Node (it would
//   accept too) and send it to a worker. `new net.Socket({ fd })` wraps an fd in a libuv TCP handle
//   (`createHandle` + `handle.open(fd)`, https://github.com/nodejs/node/blob/v20.x/lib/net.js) and,
//   with `readable: false`, never reads from it. Its `_handle` is sent by `worker.send(message,
//   handle)` as 'net.Native', which Node never closes on send
//   (https://github.com/nodejs/node/blob/v20.x/lib/internal/child_process.js, handleConversion).
// - A worker listens on the received handle with `server.listen(handle, backlog)`. In a cluster
//   worker this is exclusive (the worker accepts itself) only from Node 20.13 (nodejs/node#52056,
//   lib/internal/cluster/child.js is not involved); before, it is sent to the primary, which
//   throws. `server.listen({ fd })` in a worker is never exclusive.

/** The libuv TCP handle Node sends over IPC as 'net.Native'. */
export interface NativeListenHandle {
  readonly fd: number;
  getsockname(out: object): number;
  close(callback?: () => void): void;
}

/** Wraps a listening fd (owned from now on by the returned handle) without listening or reading. */
export function holdListeningFd(fd: number): NativeListenHandle {
  const socket = new Socket({ fd, readable: false, writable: false });
  const handle = (socket as unknown as { _handle: NativeListenHandle | null })._handle;
  if (handle === null || typeof handle.getsockname !== 'function') {
    throw new Error('net.Socket({ fd }) did not produce a TCP handle: this Node version changed its internals');
  }
  return handle;
}

/**
 * Makes `server` accept on a listening handle received from the primary. The backlog is passed
 * because Node re-runs listen() on the handle, which would otherwise reset the shared queue to 511.
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
