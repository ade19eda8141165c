import type { Socket } from 'node:net';
import type { Worker } from 'node:cluster';
import { CONNECTION_WITHOUT_BYTES, encodeMessage } from '../ipc/index.js';
import { detachHandle, isSocket, proxiedClientOf, type Connection, type TcpHandle } from './connection.js';
import { onHandleAcknowledged } from '../internal/node-internals-primary.js';

// Node sends one handle at a time per channel and keeps later ones in `_handleQueue`; on every
// NODE_HANDLE_ACK it replays that whole queue through `_send`, which re-queues all but the first:
// a burst of n handles costs O(n²). A link keeps its own FIFO and gives Node one handle at a time,
// advancing on the ACK, so each handoff is O(1). See bench/RESULTS.md for the measured difference.

/** What a link does with a connection it cannot deliver; the table re-routes it. */
export type Undeliverable = (link: WorkerLink, connection: Connection, bytes: string | undefined) => void;

function handoffMessage(connection: Connection, bytes: string | undefined): object {
  const client = proxiedClientOf(connection);
  if (client === undefined) return bytes === undefined ? CONNECTION_WITHOUT_BYTES : encodeMessage('sticky:connection', { bytes });
  const payload: { bytes?: string; client: string; clientPort?: number } = { client: client.address };
  if (bytes !== undefined) payload.bytes = bytes;
  if (client.port !== undefined) payload.clientPort = client.port;
  return encodeMessage('sticky:connection', payload);
}

export interface WorkerLinkOptions {
  /**
   * Ms a connection may wait in the link for the worker to take it; older ones are handed to
   * `expired` (a worker that stopped acknowledging must not hold its slot's clients without bound).
   */
  slotWaitTimeout: number;
  undeliverable: Undeliverable;
  expired: Undeliverable;
}

export class WorkerLink {
  readonly worker: Worker;
  readonly slot: number;
  #sockets: (Connection | undefined)[] = [];
  #bytes: (string | undefined)[] = [];
  /** performance.now() when each queued connection arrived. */
  #since: number[] = [];
  #head = 0;
  #expiry: NodeJS.Timeout | undefined;
  /** In flight: always a bare handle (see #transmit). */
  #current: TcpHandle | undefined;
  #currentBytes: string | undefined;
  /** performance.now() when `#current` was given to Node. */
  #sentAt = 0;
  #isOpen = true;
  /** Set by finish(): the last message, sent once every queued socket reached the worker. */
  #finalMessage: object | undefined;
  #isFinalSent = false;
  /** Slots whose listening socket the worker was sent (kernel steering): its own, or a failed one's. */
  readonly #acceptedSlots = new Set<number>();
  readonly #options: WorkerLinkOptions;
  readonly #undeliverable: Undeliverable;
  readonly #stopWatchingAcks: () => void;

  constructor(worker: Worker, slot: number, options: WorkerLinkOptions) {
    this.worker = worker;
    this.slot = slot;
    this.#options = options;
    this.#undeliverable = options.undeliverable;
    this.#stopWatchingAcks = onHandleAcknowledged(worker.process, this.#onAcknowledged);
  }

  get isOpen(): boolean {
    return this.#isOpen;
  }

  /** Sockets queued here, not yet given to Node. */
  get queueDepth(): number {
    return this.#sockets.length - this.#head;
  }

  /**
   * The handoff in flight has waited for the worker's acknowledgement longer than `slotWaitTimeout`:
   * the worker made no progress at all (a healthy one acknowledges within milliseconds, and a busy one
   * in a burst of thousands keeps acknowledging).
   */
  isStalled(now: number): boolean {
    return this.#current !== undefined && now - this.#sentAt > this.#options.slotWaitTimeout;
  }

  /** Connections routed here that the worker has not acknowledged: queued ones plus the one in flight. */
  get unacknowledged(): number {
    return this.queueDepth + (this.#current === undefined ? 0 : 1);
  }

  send(socket: Connection, bytes: string | undefined): void {
    if (!this.#isOpen || this.#finalMessage !== undefined) {
      this.#undeliverable(this, socket, bytes);
    } else if (this.#current === undefined && this.queueDepth === 0) {
      this.#transmit(socket, bytes);
    } else {
      this.#sockets.push(socket);
      this.#bytes.push(bytes);
      this.#since.push(performance.now());
      if (this.#expiry === undefined) this.#armExpiry();
    }
  }

  #armExpiry(): void {
    const oldest = this.#since[this.#head];
    if (oldest === undefined) return;
    const from = this.#current === undefined ? oldest : Math.max(oldest, this.#sentAt);
    const delay = Math.max(0, from + this.#options.slotWaitTimeout - performance.now());
    this.#expiry = setTimeout(this.#expire, delay);
    this.#expiry.unref();
  }

  /**
   * Connections that waited `slotWaitTimeout` for a worker that made no progress meanwhile go back
   * (they fail over). A worker that keeps acknowledging keeps its queue, however long a burst makes it.
   */
  #expire = (): void => {
    this.#expiry = undefined;
    const now = performance.now();
    const deadline = now - this.#options.slotWaitTimeout;
    if (!this.isStalled(now)) {
      this.#armExpiry();
      return;
    }
    while (this.queueDepth > 0 && (this.#since[this.#head] as number) <= deadline) {
      const [socket, bytes] = this.#shift();
      this.#options.expired(this, socket, bytes);
    }
    this.#armExpiry();
  };

  #shift(): [Connection, string | undefined] {
    const socket = this.#sockets[this.#head] as Connection;
    const bytes = this.#bytes[this.#head];
    this.#sockets[this.#head] = undefined;
    this.#head++;
    if (this.#head === this.#sockets.length) {
      this.#sockets.length = 0;
      this.#bytes.length = 0;
      this.#since.length = 0;
      this.#head = 0;
    }
    return [socket, bytes];
  }

  /**
   * Takes no more sockets and sends `message` (the close request) after the last queued socket has
   * reached the worker, so the worker sees every socket routed to it before it starts to drain.
   */
  finish(message: object): void {
    if (!this.#isOpen) return;
    // A later request (shutdown escalated to not waiting) replaces one not sent yet, or follows it.
    const isWaiting = this.#finalMessage !== undefined && !this.#isFinalSent;
    this.#finalMessage = message;
    if (!isWaiting && this.#current === undefined && this.queueDepth === 0) this.#sendFinal();
  }

  /**
   * The worker takes no more sockets (its application closed its server): those queued here go back
   * to the table for the slot's next worker, and `message` follows the one already in flight, so the
   * worker knows when every socket sent to it has arrived. A later `finish()` sends its message after.
   */
  recall(message: object): void {
    if (!this.#isOpen || this.#finalMessage !== undefined) return;
    this.#finalMessage = message;
    if (this.#expiry !== undefined) clearTimeout(this.#expiry);
    this.#expiry = undefined;
    while (this.queueDepth > 0) {
      const [socket, bytes] = this.#shift();
      this.#undeliverable(this, socket, bytes);
    }
    if (this.#current === undefined) this.#sendFinal();
  }

  #sendFinal(): void {
    const message = this.#finalMessage;
    if (message === undefined || !this.worker.isConnected()) return;
    this.#isFinalSent = true;
    this.worker.send(message, (error: Error | null) => {
      // The worker is already gone; its exit is handled by the supervisor.
      if (error !== null) this.#isOpen = false;
    });
  }

  /**
   * Kernel steering: gives the worker a slot's listening socket (its own, or a failed slot's whose
   * queue it takes over), on which it accepts itself from now on. Once per slot; the primary keeps its
   * own copy, so the socket outlives the worker.
   */
  acceptOn(handle: object, backlog: number, slot = this.slot): void {
    if (this.#acceptedSlots.has(slot) || !this.#isOpen || !this.worker.isConnected()) return;
    this.#acceptedSlots.add(slot);
    // 'net.Native': Node never closes a bare handle it sent, so the primary's copy stays open.
    this.worker.send(encodeMessage('sticky:listen', { backlog, slot }), handle as Socket, this.#onControlSent);
  }

  /** Kernel steering: the worker was given the slot's socket, was not told to stop, and can still be told. */
  acceptsOn(slot: number): boolean {
    return this.#acceptedSlots.has(slot) && this.#isOpen && this.worker.isConnected();
  }

  /** Kernel steering: the worker stops accepting on a slot's socket (that slot healed, or its socket goes away). */
  stopAcceptingFor(slot: number): void {
    if (!this.#acceptedSlots.delete(slot) || !this.#isOpen || !this.worker.isConnected()) return;
    this.worker.send(encodeMessage('sticky:unlisten', { slot }), this.#onControlSent);
  }

  #onControlSent = (error: Error | null): void => {
    // The worker is already gone: its exit is handled by the supervisor, and the socket's queue
    // waits for the slot's next worker.
    if (error !== null) this.#isOpen = false;
  };

  /** Stops using the worker; every connection not yet given to Node goes back to the table. */
  close(): void {
    if (!this.#isOpen) return;
    this.#isOpen = false;
    this.#stopWatchingAcks();
    if (this.#expiry !== undefined) clearTimeout(this.#expiry);
    this.#expiry = undefined;
    const current = this.#current;
    // Never sent, or sent but not acknowledged. Node's ACK goes out before the worker's code ever sees
    // a handle, so without it the worker never took the connection: once the channel is gone, the fd
    // it may have had in its socket buffer is gone too, and ours is the connection. It goes to another
    // worker (the slot's replacement) instead of being closed.
    if (current !== undefined) this.#undeliverable(this, current, this.#currentBytes);
    this.#current = undefined;
    const sockets = this.#sockets;
    const bytes = this.#bytes;
    const head = this.#head;
    this.#sockets = [];
    this.#bytes = [];
    this.#since = [];
    this.#head = 0;
    for (let i = head; i < sockets.length; i++) this.#undeliverable(this, sockets[i] as Connection, bytes[i]);
  }

  #transmit(socket: Connection, bytes: string | undefined): void {
    // Always a bare handle on the wire: ours until the ACK, so a worker dying first cannot take it along.
    const handle = isSocket(socket) ? detachHandle(socket) : socket;
    // A socket the client closed while it waited has no handle left to send, and Node would send the
    // message alone and never ACK it; skip it.
    if (handle === null) {
      this.#next();
      return;
    }
    this.#current = handle;
    this.#currentBytes = bytes;
    this.#sentAt = performance.now();
    const message = handoffMessage(handle, bytes);
    try {
      // A bare TCP handle travels as Node's 'net.Native'; the worker wraps it in a Socket.
      this.worker.send(message, handle as unknown as Socket, this.#onSent);
    } catch {
      // send() throws only for programming errors (bad handle type); treat like a closed channel.
      this.#onSent(new Error('send failed'));
    }
  }

  #onSent = (error: Error | null): void => {
    if (error === null) return;
    // The bare handle is still ours whatever the failure (Node tracks and closes only sockets):
    // close() re-routes it.
    this.close();
  };

  #onAcknowledged = (): void => {
    // Node leaves a bare handle ('net.Native') to its sender: after the ACK the worker has its own fd,
    // ours is closed. After a NACK (the worker could not take the fd: it ran out of them) Node
    // retransmits nothing of a bare handle; it is closed rather than sent into the same trouble.
    this.#current?.close();
    this.#next();
  };

  #next(): void {
    this.#current = undefined;
    this.#currentBytes = undefined;
    if (!this.#isOpen) return;
    if (this.queueDepth === 0) {
      this.#sendFinal();
      return;
    }
    const [socket, bytes] = this.#shift();
    this.#transmit(socket, bytes);
  }
}
