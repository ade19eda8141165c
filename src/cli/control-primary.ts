import { chmodSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { ErrorCode, StickyError, isStickyError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { StickyPrimary } from '../primary.js';

// The control socket of a served cluster: `sticky-runtime reload | scale N | status` talk to the
// primary here instead of through signals. A Unix socket, owner-only (0600), never a network port.
// Protocol: one JSON request line; the answer is JSON lines (`progress`…, then `result` or `error`).

/** Longest request line accepted; a status or scale request is a few dozen bytes. */
const MAX_REQUEST_BYTES = 4096;

export interface ControlReply {
  type: 'progress' | 'result' | 'error';
  [key: string]: unknown;
}

export class ControlServer {
  readonly #path: string;
  readonly #primary: StickyPrimary;
  readonly #log: Logger;
  readonly #server: Server;
  readonly #startedAt = Date.now();

  constructor(path: string, primary: StickyPrimary, log: Logger) {
    this.#path = path;
    this.#primary = primary;
    this.#log = log.child({ component: 'control' });
    this.#server = createServer((socket) => this.#onConnection(socket));
  }

  /**
   * Listens on the socket path, owner-only. A stale socket file (no one answers) is replaced.
   * @throws {StickyError} `STICKY_ERR_LISTEN_FAILED` when a running cluster already answers there.
   */
  async listen(): Promise<void> {
    if (await isAnswering(this.#path)) {
      throw new StickyError(ErrorCode.ListenFailed, `A cluster already runs with the control socket ${this.#path}.`, {
        hint: 'Stop it, or give this one another `--control-socket`.',
      });
    }
    rmSync(this.#path, { force: true });
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      // The socket file is created by bind(), inside listen(): with this umask it is born 0600, with no
      // window in which another user could connect.
      const previous = process.umask(0o177);
      try {
        this.#server.listen(this.#path, () => {
          this.#server.removeListener('error', reject);
          resolve();
        });
      } finally {
        process.umask(previous);
      }
    }).catch((error: unknown) => {
      throw new StickyError(ErrorCode.ListenFailed, `Could not create the control socket ${this.#path}.`, { cause: error, hint: 'See `cause`.' });
    });
    chmodSync(this.#path, 0o600);
    this.#log.info({ path: this.#path }, 'control socket listening');
  }

  close(): void {
    // Closing a Unix socket server removes its file.
    if (this.#server.listening) this.#server.close();
  }

  #onConnection(socket: Socket): void {
    let buffer = '';
    socket.setEncoding('utf8');
    // A peer that goes away mid-answer must not crash the primary.
    socket.on('error', () => socket.destroy());
    const onData = (chunk: string): void => {
      buffer += chunk;
      const end = buffer.indexOf('\n');
      if (end === -1) {
        if (buffer.length > MAX_REQUEST_BYTES) this.#finish(socket, errorReply(new StickyError(ErrorCode.InvalidOption, 'Control request too long.')));
        return;
      }
      socket.removeListener('data', onData);
      void this.#handle(socket, buffer.slice(0, end));
    };
    socket.on('data', onData);
  }

  async #handle(socket: Socket, line: string): Promise<void> {
    let request: { command?: unknown; workers?: unknown };
    try {
      request = JSON.parse(line) as typeof request;
    } catch {
      this.#finish(socket, errorReply(new StickyError(ErrorCode.InvalidOption, 'Control request is not JSON.')));
      return;
    }
    try {
      this.#finish(socket, { type: 'result', ...(await this.#run(socket, request)) });
    } catch (error) {
      this.#finish(socket, errorReply(error));
    }
  }

  async #run(socket: Socket, request: { command?: unknown; workers?: unknown }): Promise<Record<string, unknown>> {
    const primary = this.#primary;
    switch (request.command) {
      case 'status':
        return { stats: primary.stats(), pid: process.pid, uptime: Date.now() - this.#startedAt };
      case 'reload': {
        this.#log.info({}, 'reload requested over the control socket');
        const onProgress = (progress: object): void => {
          if (socket.writable) socket.write(`${JSON.stringify({ type: 'progress', ...progress })}\n`);
        };
        primary.on('reloadProgress', onProgress);
        try {
          return { report: await primary.reload() };
        } finally {
          primary.off('reloadProgress', onProgress);
        }
      }
      case 'scale': {
        const from = primary.stats().slots.length;
        this.#log.info({ from, to: request.workers }, 'scale requested over the control socket');
        await primary.scale(request.workers as number);
        return { from, to: request.workers };
      }
      default:
        throw new StickyError(ErrorCode.InvalidOption, `Unknown control command ${JSON.stringify(request.command)}.`, {
          hint: 'Known: status, reload, scale.',
        });
    }
  }

  #finish(socket: Socket, reply: ControlReply): void {
    if (socket.writable) socket.end(`${JSON.stringify(reply)}\n`);
    else socket.destroy();
  }
}

function errorReply(error: unknown): ControlReply {
  if (isStickyError(error)) {
    const report = (error as { report?: unknown }).report;
    return { type: 'error', code: error.code, message: error.message, hint: error.hint, ...(report === undefined ? {} : { report }) };
  }
  return { type: 'error', code: 'STICKY_ERR_INVALID_STATE', message: error instanceof Error ? error.message : String(error) };
}

/** True when something accepts connections on the socket path. */
function isAnswering(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createConnection(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}
