import type { Socket } from 'node:net';
import { allowReads, socketOfHandle } from '../../internal/node-internals-primary.js';
import { isSocket, type Connection } from '../connection.js';

// Answers the primary gives to bad clients in the modes that read bytes. Each response closes the
// connection; the socket keeps reading (and discarding) for a moment so the kernel does not reset
// the connection over unread bytes before the client has read the answer. A bare handle (the head
// reader reads on those) gets a net.Socket for it: refusals are rare, and a socket writes and lingers.

function response(status: string): Buffer {
  return Buffer.from(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`, 'latin1');
}

export const RESPONSES = {
  badRequest: response('400 Bad Request'),
  requestTimeout: response('408 Request Timeout'),
  headersTooLarge: response('431 Request Header Fields Too Large'),
  unavailable: response('503 Service Unavailable'),
} as const;

const LINGER_MS = 2_000;
const discard = (): void => {};
const destroy = function (this: Socket): void {
  this.destroy();
};

export function answerAndClose(connection: Connection, answer: Buffer): void {
  const socket = isSocket(connection) ? connection : socketOfHandle(connection);
  if (socket.destroyed) return;
  // The head reader stops the handle's reads but leaves `reading` set; clear it so that resume()
  // restarts them, the discard below sees the client's bytes and its close frees the fd.
  allowReads(socket);
  socket.on('error', discard);
  socket.on('data', discard);
  socket.setTimeout(LINGER_MS, destroy);
  socket.end(answer);
  socket.resume();
}
