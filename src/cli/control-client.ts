import { createConnection } from 'node:net';
import { ErrorCode, StickyError } from '../errors.js';
import type { ControlReply } from './control-primary.js';

/**
 * Sends one request to a running cluster's control socket; calls `onProgress` for each progress
 * line and resolves with the final reply (`result` or `error`).
 * @throws {StickyError} `STICKY_ERR_CONTROL_UNAVAILABLE` when nothing answers at `path`.
 */
export function sendControl(path: string, request: object, onProgress: (progress: ControlReply) => void, timeout: number): Promise<ControlReply> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    let buffer = '';
    let final: ControlReply | undefined;
    socket.setEncoding('utf8');
    socket.setTimeout(timeout, () => socket.destroy(new StickyError(ErrorCode.ControlUnavailable, `No answer at ${path} within ${timeout} ms.`, {
      hint: 'The cluster may be busy or stuck; check its logs.',
    })));
    socket.once('connect', () => socket.write(`${JSON.stringify(request)}\n`));
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      let end: number;
      while ((end = buffer.indexOf('\n')) !== -1) {
        const reply = JSON.parse(buffer.slice(0, end)) as ControlReply;
        buffer = buffer.slice(end + 1);
        if (reply.type === 'progress') onProgress(reply);
        else final = reply;
      }
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      if (error instanceof StickyError) {
        reject(error);
        return;
      }
      reject(new StickyError(ErrorCode.ControlUnavailable, `No sticky-runtime cluster answers at ${path} (${error.code ?? error.message}).`, {
        hint: 'Start one with `sticky-runtime serve`, or pass the `--control-socket` it uses.',
        cause: error,
      }));
    });
    socket.once('close', () => {
      if (final !== undefined) resolve(final);
      else reject(new StickyError(ErrorCode.ControlUnavailable, `The cluster at ${path} closed the control connection without an answer.`, {
        hint: 'It may be shutting down; check its logs.',
      }));
    });
  });
}
