import { lstatSync, realpathSync, statSync, type Stats } from 'node:fs';
import { createConnection } from 'node:net';
import { dirname } from 'node:path';
import { ErrorCode, StickyError } from '../errors.js';
import type { ControlReply } from './control-primary.js';
import { untrustedReason } from './socket-trust.js';

/** Longest answer kept: a status of 1024 slots is a few hundred KB. */
const MAX_ANSWER_BYTES = 8 * 1024 * 1024;
const REPLY_TYPES: ReadonlySet<unknown> = new Set(['progress', 'result', 'error']);

/**
 * Sends one request to a running cluster's control socket; calls `onProgress` for each progress
 * line and resolves with the final reply (`result` or `error`).
 * @throws {StickyError} `STICKY_ERR_CONTROL_UNTRUSTED` when the path is not this user's socket in a
 * directory only this user or root can change; `STICKY_ERR_CONTROL_UNAVAILABLE` when nothing
 * answers at `path`, or what answers does not speak the control protocol.
 */
export function sendControl(
  path: string, request: object, onProgress: (progress: ControlReply) => void, timeout: number,
): Promise<ControlReply> {
  return new Promise((resolve, reject) => {
    try {
      assertTrusted(path);
    } catch (error) {
      reject(error);
      return;
    }
    const socket = createConnection(path);
    let buffer = '';
    let final: ControlReply | undefined;
    socket.setEncoding('utf8');
    socket.setTimeout(timeout, () => socket.destroy(
      new StickyError(ErrorCode.ControlUnavailable, `No answer at ${path} within ${timeout} ms.`, {
        hint: 'The cluster may be busy or stuck; check its logs.',
      }),
    ));
    socket.once('connect', () => socket.write(`${JSON.stringify(request)}\n`));
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      let end: number;
      while ((end = buffer.indexOf('\n')) !== -1) {
        const reply = parseReply(buffer.slice(0, end));
        buffer = buffer.slice(end + 1);
        if (reply === undefined) {
          socket.destroy(notProtocol(path, 'a line that is not a control reply (JSON with a `type`)'));
          return;
        }
        if (reply.type === 'progress') onProgress(reply);
        else final = reply;
      }
      if (buffer.length > MAX_ANSWER_BYTES) {
        socket.destroy(notProtocol(path, `more than ${MAX_ANSWER_BYTES} bytes without a line end`));
      }
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      if (error instanceof StickyError) {
        reject(error);
        return;
      }
      reject(noCluster(path, error.code ?? error.message, error));
    });
    socket.once('close', () => {
      if (final !== undefined) resolve(final);
      else {
        reject(new StickyError(ErrorCode.ControlUnavailable,
          `The cluster at ${path} closed the control connection without an answer.`,
          { hint: 'It may be shutting down; check its logs.' }));
      }
    });
  });
}

function parseReply(line: string): ControlReply | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  const isReply = value !== null && typeof value === 'object' && !Array.isArray(value)
    && REPLY_TYPES.has((value as ControlReply).type);
  return isReply ? value as ControlReply : undefined;
}

function notProtocol(path: string, what: string): StickyError {
  return new StickyError(ErrorCode.ControlUnavailable,
    `What listens at ${path} is no sticky-runtime cluster: it answered ${what}.`,
    { hint: 'Check the `--control-socket` path.' });
}

function noCluster(path: string, reason: string, cause: unknown): StickyError {
  return new StickyError(ErrorCode.ControlUnavailable, `No sticky-runtime cluster answers at ${path} (${reason}).`, {
    hint: 'Start one with `sticky-runtime serve`, or pass the `--control-socket` it uses.',
    cause,
  });
}

/** Throws unless `path` is this user's socket in a directory no other user can change. */
function assertTrusted(path: string): void {
  const uid = process.getuid?.();
  // No uids (Windows): no Unix socket files either.
  if (uid === undefined) return;
  let socket: Stats;
  let directory: Stats;
  try {
    socket = lstatSync(path);
    directory = statSync(realpathSync(dirname(path)));
  } catch (error) {
    throw noCluster(path, (error as NodeJS.ErrnoException).code ?? String(error), error);
  }
  const reason = untrustedReason(socket, directory, uid);
  if (reason !== undefined) {
    throw new StickyError(ErrorCode.ControlUntrusted, `Refusing to use the control socket ${path}: ${reason}.`, {
      hint: 'Run the command as the user that runs `sticky-runtime serve`, with a `--control-socket`'
        + ' in a directory only that user can write to.',
    });
  }
}
