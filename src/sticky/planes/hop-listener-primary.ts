import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Logger } from '../../logger.js';
import type { TcpHandle } from '../connection.js';
import { AcceptGuard } from './accept-guard-primary.js';
import { acceptBareHandles, listeningFd } from '../../internal/node-internals-primary.js';
import { loadReusePortSockets } from './reuseport-native.js';
import { drainListener } from './listener-drain-primary.js';

// The primary hop's public port (hop-primary.ts routes what it accepts): binding it, taking over its
// accept callback so connections stay bare handles, pausing it while no descriptor is left
// (accept-guard-primary.ts) and listening again where it was, and closing it without resetting a
// connection the kernel completed (listener-drain-primary.ts).

export interface HopListenerOptions {
  readonly backlog: number;
  readonly drainTimeout: number;
  readonly log: Logger;
  /** Connections as net.Sockets, where the bare handle cannot be had (or the mode needs a socket). */
  readonly onSocket: (socket: Socket) => void;
  /** Connections as the bare handles libuv accepted; undefined: the mode needs net.Sockets. */
  readonly onBareHandle: ((status: number, handle: TcpHandle | undefined) => void) | undefined;
  /** A failed accept, or a failed listen after a pause: counted, never fatal to the primary. */
  readonly onError: () => void;
  /** The primary stopped accepting: a listen still binding closes what it bound. */
  readonly isStopped: () => boolean;
  readonly closedWhileBinding: () => Error;
}

export class HopListener {
  readonly #server: Server;
  readonly #options: HopListenerOptions;
  readonly #guard: AcceptGuard;
  /** Where the port listens, to listen there again after a pause. */
  #listenAt: { port: number; host: string | undefined } | undefined;

  constructor(options: HopListenerOptions) {
    this.#options = options;
    // (Until the listening handle's accept callback is taken over, see #open: then this is not called.)
    this.#server = createServer({ pauseOnConnect: true }, options.onSocket);
    this.#guard = new AcceptGuard({
      stop: () => {
        if (this.#server.listening) this.#server.close();
      },
      listen: () => this.#open(this.#listenAt),
    }, options.log);
  }

  get pauses(): number {
    return this.#guard.pauses;
  }

  get isPaused(): boolean {
    return this.#guard.isPaused;
  }

  /** Binds the public port. @throws the bind error (EADDRINUSE…). */
  async listen(port: number, host: string | undefined): Promise<AddressInfo> {
    await this.#open({ port, host });
    // After listen, a server 'error' is a failed accept or a failed listen after a pause for lack
    // of descriptors (see accept-guard-primary.ts).
    this.#server.on('error', this.#options.onError);
    const address = this.#server.address() as AddressInfo;
    this.#listenAt = { port: address.port, host };
    this.#guard.start();
    return address;
  }

  /**
   * Stops accepting. When waiting for connections, the port first refuses new handshakes and keeps
   * accepting (the connections go where they would have) until its accept queue is empty.
   */
  async close(waitForConnections: boolean): Promise<void> {
    this.#guard.stop();
    if (waitForConnections && this.#server.listening) {
      await drainListener(loadReusePortSockets().sockets, listeningFd(this.#server), this.#options.drainTimeout);
    }
    if (this.#server.listening) this.#server.close();
  }

  /** Listens on `at`: first, and again on the port it had after a pause for lack of descriptors. */
  #open(at: { port: number; host: string | undefined } | undefined): Promise<void> {
    if (at === undefined) return Promise.reject(new Error('the primary never listened'));
    const server = this.#server;
    return new Promise((resolve, reject) => {
      const onError = (error: Error): void => reject(error);
      server.once('error', onError);
      server.listen({ port: at.port, host: at.host, backlog: this.#options.backlog }, () => {
        server.removeListener('error', onError);
        // Closed while binding: nobody else would close it.
        if (this.#options.isStopped()) return void server.close(() => reject(this.#options.closedWhileBinding()));
        // Each connection stays the bare TCP handle libuv accepted (no stream state or listeners built
        // in the primary; the head reader reads on the handle itself) and travels to the worker as
        // 'net.Native'.
        const onBareHandle = this.#options.onBareHandle;
        if (onBareHandle !== undefined) acceptBareHandles(server, onBareHandle);
        resolve();
      });
    });
  }
}
