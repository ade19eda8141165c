import { Socket, type Server, type SocketConstructorOpts } from 'node:net';
import { TAG } from '../../ipc/index.js';
import { adoptSocket } from '../receiver-worker.js';
import type { ConnectionGate, WorkerPlane } from '../data-plane.js';

// The primary hop, the worker's half (the primary's is hop-primary.ts): each connection arrives over
// IPC with the bytes the primary already read, and joins the application's server as if that server
// had accepted it. Nothing to do when the drain begins: the primary stops sending first.

interface ConnectionEnvelope {
  [TAG]?: unknown;
  type?: unknown;
  payload?: { bytes?: unknown; client?: unknown; clientPort?: unknown };
}

export class HopWorker implements WorkerPlane {
  readonly #server: Server;
  readonly #gate: ConnectionGate;

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
    if (!this.#gate.isAccepting) {
      socket.destroy();
      return true;
    }
    const payload = envelope.payload;
    const bytes = payload?.bytes;
    const client = payload?.client;
    const clientPort = payload?.clientPort;
    adoptSocket(this.#server, socket, typeof bytes === 'string' ? bytes : undefined,
      typeof client === 'string' ? client : undefined, typeof clientPort === 'number' ? clientPort : undefined);
    this.#gate.track(socket);
    return true;
  }

  drainBegin(): undefined {
    return undefined;
  }

  leaveSlot(): void {}
}
