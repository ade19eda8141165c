import { createServer, type Server, type Socket } from 'node:net';
import type { RuntimeMessage } from '../../ipc/index.js';
import { listenOnHandle } from '../../internal/node-internals-worker.js';
import { adoptSocket } from '../receiver-worker.js';
import type { ConnectionGate, DrainRequest, WorkerPlane } from '../data-plane.js';

// Kernel steering, the worker's half (the primary's is kernel-primary.ts): the worker accepts on its
// slot's socket, which the primary holds and sent over (and, while another slot is failed, on that
// slot's socket too, to serve what waited in its queue); each connection joins the application's
// server exactly as a handed-off one does.

export class KernelWorker implements WorkerPlane {
  readonly #server: Server;
  readonly #gate: ConnectionGate;
  readonly #acceptors = new Map<number, Server>();
  /** While a removed slot's drain waits for `sticky:unlisten`: ends that wait. */
  #whenUnlistened: (() => void) | undefined;

  constructor(server: Server, gate: ConnectionGate) {
    this.#server = server;
    this.#gate = gate;
  }

  /** Takes `sticky:listen` and `sticky:unlisten`; false for any other message. */
  receive(message: RuntimeMessage, handle: unknown): boolean {
    if (message.type === 'sticky:listen') this.#acceptOn(handle, message.payload.backlog, message.payload.slot);
    else if (message.type === 'sticky:unlisten') this.#stopAcceptingFor(message.payload.slot);
    else return false;
    return true;
  }

  /**
   * A draining worker stops taking connections: each socket's queue stays for the slot's next worker
   * (the primary holds the sockets open). When the slot itself goes away (scale-down, shutdown), no
   * other worker accepts on its socket and closing the last copy would reset what the kernel still
   * queued there: the primary makes the socket refuse new handshakes and tells the worker
   * (`sticky:unlisten`) once its queue is empty; the drain waits until then.
   */
  drainBegin(request: DrainRequest): Promise<void> | undefined {
    if (request.isSlotRemoved !== true || this.#acceptors.size === 0 || !request.waitForConnections) {
      this.#closeAll();
      return undefined;
    }
    return new Promise((resolve) => {
      // Bounded: past the drain's timeout the worker stops accepting whatever the primary said.
      const timer = setTimeout(() => this.#whenUnlistened?.(), request.timeout);
      this.#whenUnlistened = () => {
        this.#whenUnlistened = undefined;
        clearTimeout(timer);
        this.#closeAll();
        resolve();
      };
    });
  }

  /** The worker leaves its slot: the slot's clients wait in its socket's queue for the successor. */
  leaveSlot(): void {
    this.#closeAll();
  }

  #onAccepted = (socket: Socket): void => {
    if (!this.#gate.isAccepting) {
      socket.destroy();
      return;
    }
    adoptSocket(this.#server, socket, undefined);
    this.#gate.track(socket);
  };

  #acceptOn(handle: unknown, backlog: number, slot: number): void {
    if (this.#acceptors.has(slot) || this.#gate.isLeaving) return;
    if (typeof handle !== 'object' || handle === null) return;
    const acceptor = createServer(this.#onAccepted);
    this.#acceptors.set(slot, acceptor);
    listenOnHandle(acceptor, handle, backlog).catch((error: unknown) => {
      // Its clients keep waiting in the slot's queue; leaving makes the primary start a replacement.
      this.#gate.fail(error, 'worker could not accept on a slot socket', { slot });
    });
  }

  #stopAcceptingFor(slot: number): void {
    this.#acceptors.get(slot)?.close();
    this.#acceptors.delete(slot);
    if (this.#acceptors.size === 0) this.#whenUnlistened?.();
  }

  #closeAll(): void {
    for (const acceptor of this.#acceptors.values()) acceptor.close();
    this.#acceptors.clear();
  }
}
