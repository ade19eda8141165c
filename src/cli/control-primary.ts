import { chmodSync, lstatSync, rmSync, type Stats } from 'node:fs';
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
  readonly #name: string | undefined;

  /** `name`: the cluster's `--name`, for the messages. */
  constructor(path: string, primary: StickyPrimary, log: Logger, name?: string) {
    this.#path = path;
    this.#name = name;
    this.#primary = primary;
    this.#log = log.child({ component: 'control' });
    this.#server = createServer((socket) => this.#onConnection(socket));
  }

  /**
   * Listens on the socket path, owner-only. Only a stale socket of this user (nothing answers) is
   * replaced; anything else at the path is left as it is.
   * @throws {StickyError} `STICKY_ERR_LISTEN_FAILED` when something answers at the path, or it holds
   * anything but a stale socket of this user.
   */
  async listen(): Promise<void> {
    await removeStaleSocket(this.#path, this.#name);
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
      throw new StickyError(ErrorCode.ListenFailed, `Could not create the control socket ${this.#path}.`,
        { cause: error, hint: 'See `cause`.' });
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
        if (buffer.length > MAX_REQUEST_BYTES) {
          this.#finish(socket, errorReply(new StickyError(ErrorCode.InvalidOption, 'Control request too long.')));
        }
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
        return {
          stats: primary.stats(), pid: process.pid, uptime: Date.now() - this.#startedAt,
          ...(this.#name === undefined ? {} : { name: this.#name }),
        };
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
    const withReport = report === undefined ? {} : { report };
    return { type: 'error', code: error.code, message: error.message, hint: error.hint, ...withReport };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { type: 'error', code: 'STICKY_ERR_INVALID_STATE', message };
}

/** Removes a stale socket of this user at `path`; throws when anything else is there. */
async function removeStaleSocket(path: string, name: string | undefined): Promise<void> {
  let stat: Stats;
  try {
    stat = lstatSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw refusal(path, `cannot be inspected (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
  if (!stat.isSocket()) throw refusal(path, `is ${kindOf(stat)}, not a socket`);
  const uid = process.getuid?.();
  if (uid !== undefined && stat.uid !== uid) {
    throw refusal(path, `is a socket of uid ${stat.uid}, not of this user (uid ${uid})`);
  }
  const probe = await probeSocket(path);
  if (probe === 'answering' && name !== undefined) {
    throw new StickyError(ErrorCode.ListenFailed,
      `A cluster named ${JSON.stringify(name)} already runs (its control socket ${path} answers).`,
      { hint: 'Stop it first, or choose another `--name`; `sticky-runtime status` lists the running ones.' });
  }
  if (probe === 'answering') {
    throw new StickyError(ErrorCode.ListenFailed,
      `Something already answers at the control socket ${path} (a running cluster?).`,
      { hint: 'Stop it, or give this one another `--control-socket`.' });
  }
  if (probe !== 'ECONNREFUSED') throw refusal(path, `is a socket whose state is unknown (${probe})`);
  rmSync(path);
}

function refusal(path: string, what: string): StickyError {
  return new StickyError(ErrorCode.ListenFailed, `The control socket path ${path} ${what}; it is left as it is.`, {
    hint: 'Give `--control-socket` a path where nothing is, or remove what is there if it is yours to remove.',
  });
}

function kindOf(stat: Stats): string {
  if (stat.isFile()) return 'a regular file';
  if (stat.isDirectory()) return 'a directory';
  if (stat.isSymbolicLink()) return 'a symbolic link';
  if (stat.isFIFO()) return 'a FIFO';
  return 'a device';
}

/** 'answering' when something accepts connections on the socket path, else the connect error's code. */
function probeSocket(path: string): Promise<string> {
  return new Promise((resolve) => {
    const probe = createConnection(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve('answering');
    });
    probe.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}
