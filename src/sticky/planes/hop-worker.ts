import { Socket, type Server, type SocketConstructorOpts } from 'node:net';
import { TAG } from '../../ipc/index.js';
import { adoptSocket } from '../receiver-worker.js';
import type { ConnectionGate, WorkerPlane } from '../data-plane.js';
import type { FdHandle } from '../../internal/node-internals.js';
import { FdHandoffReceiver } from './fd-handoff-worker.js';
import { loadFdPassing, type FdPassing } from './reuseport-native.js';

// The primary hop, the worker's half (the primary's is hop-primary.ts): each connection arrives with the
// bytes the primary already read, over this worker's handoff channel where the native part loads
// (fd-handoff-worker.ts) or else over IPC, and joins the application's server as if that server had
// accepted it. Nothing to do when the drain begins: the primary stops sending first.

interface ConnectionEnvelope {
  [TAG]?: unknown;
  type?: unknown;
  payload?: { bytes?: unknown; client?: unknown; clientPort?: unknown };
}

/** The packet socket the primary put in the bootstrap pair, or undefined. */
function packetEndIn(native: FdPassing, bootstrap: number): number | undefined {
  try {
    const fd = native.receive(bootstrap, Buffer.alloc(8), true)?.fds[0];
    return fd === undefined || fd < 0 ? undefined : fd;
  } catch {
    return undefined;
  }
}

export class HopWorker implements WorkerPlane {
  readonly #server: Server;
  readonly #gate: ConnectionGate;
  #channel: FdHandoffReceiver | undefined;
  /** Connections that reached this worker unusable over its handoff channel (closed). */
  unusable = 0;

  constructor(server: Server, gate: ConnectionGate) {
    this.#server = server;
    this.#gate = gate;
  }

  /** Hot path: takes a handed-off connection, checked without the full decoder; false for any other message. */
  receive(message: unknown, handle: unknown): boolean {
    const envelope = message as ConnectionEnvelope | null;
    if (handle === undefined || typeof envelope !== 'object' || envelope === null || envelope[TAG] !== 1 ||
        envelope.type !== 'sticky:connection') return false;
    // IP mode sends the bare TCP handle ('net.Native'); wrap it the way Node wraps a sent socket.
    const socket = handle instanceof Socket ? handle
      : new Socket({ handle, readable: true, writable: true } as SocketConstructorOpts);
    const payload = envelope.payload;
    const bytes = payload?.bytes;
    const client = payload?.client;
    const clientPort = payload?.clientPort;
    this.#adopt(socket, typeof bytes === 'string' ? bytes : undefined,
      typeof client === 'string' ? client : undefined, typeof clientPort === 'number' ? clientPort : undefined);
    return true;
  }

  /**
   * `sticky:handoffChannel`: the bootstrap pair that holds this worker's end of its handoff channel.
   * Without the native part here nothing is read, and the primary keeps using IPC.
   */
  useChannel(bootstrap: unknown, maxBytes: number): void {
    const handle = bootstrap as FdHandle | null;
    if (typeof handle !== 'object' || handle === null || typeof handle.fd !== 'number') return;
    const native = loadFdPassing();
    const fd = native === undefined || handle.fd < 0 || this.#channel !== undefined ? undefined
      : packetEndIn(native, handle.fd);
    handle.close();
    if (native === undefined || fd === undefined) return;
    const end = { fd, close: () => native.close(fd) };
    this.#channel = new FdHandoffReceiver(native, end, maxBytes, (payload, tcp) => {
      const socket = new Socket({ handle: tcp, readable: true, writable: true } as SocketConstructorOpts);
      this.#adopt(socket, payload.bytes, payload.client, payload.clientPort);
    }, () => { this.unusable++; });
  }

  #adopt(socket: Socket, bytes: string | undefined, client: string | undefined, clientPort: number | undefined): void {
    if (!this.#gate.isAccepting) {
      socket.destroy();
      return;
    }
    adoptSocket(this.#server, socket, bytes, client, clientPort);
    this.#gate.track(socket);
  }

  drainBegin(): undefined {
    return undefined;
  }

  leaveSlot(): void {}
}
