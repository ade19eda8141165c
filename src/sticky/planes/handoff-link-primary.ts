import type { Socket } from 'node:net';
import { CONNECTION_WITHOUT_BYTES, encodeMessage } from '../../ipc/index.js';
import { detachHandle, isSocket, proxiedClientOf, type Connection, type TcpHandle } from '../connection.js';
import { DeadlineQueue } from '../deadline-queue.js';
import type { LinkCarrier, WorkerLink } from '../worker-link-primary.js';
import { isHandleQueued, onHandleAcknowledged } from '../../internal/node-internals-primary.js';
import { FdHandoffs, type GiveEnd } from './fd-handoff-primary.js';
import type { FdPassing } from './reuseport-native.js';

// The primary hop's part of a worker's link: the handoff queue. Where the native part loads, connections
// go over the link's own socket pair in frames (fd-handoff-primary.ts), at most MAX_IN_FLIGHT at once;
// else, or once that channel ended, over Node's IPC. There Node sends one handle at a time per channel
// and keeps later ones in `_handleQueue`; on every NODE_HANDLE_ACK it replays that whole queue through
// `_send`, which re-queues all but the first: a burst of n handles costs O(n²). This queue gives Node
// one handle at a time, advancing on the ACK, so each handoff is O(1). See bench/RESULTS.md.

/** A connection with the bytes the primary already read of it. */
export interface Handoff {
  socket: Connection;
  bytes: string | undefined;
}

/** What the hop does with a connection a link cannot deliver (or that waited too long): it re-routes it. */
export type Undeliverable = (link: WorkerLink, connection: Connection, bytes: string | undefined) => void;

export interface HandoffLinkOptions {
  /**
   * Ms a connection may wait in the link for the worker to take it; older ones are handed to
   * `expired` (a worker that stopped acknowledging must not hold its slot's clients without bound).
   */
  slotWaitTimeout: number;
  undeliverable: Undeliverable;
  expired: Undeliverable;
  /** Native fd passing; undefined: Node's IPC only. */
  fdPassing?: FdPassing | undefined;
}

function handoffMessage(connection: Connection, bytes: string | undefined): object {
  const client = proxiedClientOf(connection);
  if (client === undefined) {
    return bytes === undefined ? CONNECTION_WITHOUT_BYTES : encodeMessage('sticky:connection', { bytes });
  }
  const payload: { bytes?: string; client: string; clientPort?: number } = { client: client.address };
  if (bytes !== undefined) payload.bytes = bytes;
  if (client.port !== undefined) payload.clientPort = client.port;
  return encodeMessage('sticky:connection', payload);
}

export class HandoffLink implements LinkCarrier {
  readonly link: WorkerLink;
  readonly #queue: DeadlineQueue<Handoff>;
  /** Connections the native channel cannot carry (their bytes read do not fit a frame), behind the one on IPC. */
  readonly #viaIpc: DeadlineQueue<Handoff>;
  /** In flight: always a bare handle (see #transmit). */
  #current: TcpHandle | undefined;
  #currentBytes: string | undefined;
  /** performance.now() when `#current` was given to Node. */
  #sentAt = 0;
  readonly #options: HandoffLinkOptions;
  readonly #stopWatchingAcks: () => void;
  readonly #fd: FdHandoffs | undefined;

  constructor(link: WorkerLink, options: HandoffLinkOptions) {
    this.link = link;
    this.#options = options;
    // A worker that keeps acknowledging keeps its queue, however long a burst makes it: an entry is
    // due only once the handoffs in flight, too, have waited `slotWaitTimeout`.
    this.#queue = new DeadlineQueue<Handoff>(options.slotWaitTimeout, this.#onExpired, this.#progressAt);
    this.#viaIpc = new DeadlineQueue<Handoff>(options.slotWaitTimeout, this.#onExpired, this.#progressAt);
    this.#stopWatchingAcks = onHandleAcknowledged(link.worker.process, this.#onAcknowledged);
    const fdPassing = options.fdPassing;
    const give: GiveEnd = (message, end, sent) => link.worker.send(message, end as never, sent);
    this.#fd = fdPassing === undefined ? undefined : FdHandoffs.open(fdPassing, give, {
      slotWaitTimeout: options.slotWaitTimeout, giveBack: this.#giveBack, progress: this.#onProgress,
      expired: (handle, bytes) => this.#options.expired(this.link, handle, bytes),
    });
    link.carry(this);
  }

  get slot(): number {
    return this.link.slot;
  }

  /** Sockets queued here, not yet given to Node. */
  get queueDepth(): number {
    return this.#queue.size + this.#viaIpc.size;
  }

  /**
   * The handoff in flight has waited for the worker's acknowledgement longer than `slotWaitTimeout`:
   * the worker made no progress at all (a healthy one acknowledges within milliseconds, and a busy one
   * in a burst of thousands keeps acknowledging).
   */
  isStalled(now: number): boolean {
    const timeout = this.#options.slotWaitTimeout;
    const fdProgressAt = this.#fd?.progressAt;
    return (this.#current !== undefined && now - this.#sentAt > timeout) ||
      (fdProgressAt !== undefined && now - fdProgressAt > timeout);
  }

  get unacknowledged(): number {
    return this.#queue.size + this.#viaIpc.size + (this.#current === undefined ? 0 : 1) +
      (this.#fd?.unacknowledged ?? 0);
  }

  send(socket: Connection, bytes: string | undefined): void {
    if (!this.link.isOpen || this.link.isFinishing) {
      this.#options.undeliverable(this.link, socket, bytes);
    } else if (this.#queue.size === 0 && this.#isFree()) {
      this.#deliver(socket, bytes);
    } else {
      this.#queue.push({ socket, bytes });
    }
  }

  recall(): void {
    // What waits in the native channel's sender joins the queue (#giveBack), then all of it goes back.
    this.#fd?.recall();
    for (const { socket, bytes } of [...this.#viaIpc.take(), ...this.#queue.take()]) {
      this.#options.undeliverable(this.link, socket, bytes);
    }
  }

  close(): void {
    this.#stopWatchingAcks();
    this.#fd?.close();
    const current = this.#current;
    this.#current = undefined;
    // Never sent, or sent but not acknowledged. Node's ACK goes out before the worker's code ever sees
    // a handle, so without it the worker never took the connection: once the channel is gone, the fd
    // it may have had in its socket buffer is gone too, and ours is the connection. It goes to another
    // worker (the slot's replacement) instead of being closed.
    if (current !== undefined) this.#options.undeliverable(this.link, current, this.#currentBytes);
    this.recall();
  }

  /** A connection may go now: on the native channel while it has room, else when none is in flight on IPC. */
  #isFree(): boolean {
    const fd = this.#fd;
    return fd !== undefined && fd.isOpen ? fd.hasRoom : this.#current === undefined;
  }

  /** When the worker last made progress: an entry waiting here is due `slotWaitTimeout` after it. */
  #progressAt = (): number => {
    if (this.#current !== undefined) return this.#sentAt;
    return this.#fd?.progressAt ?? performance.now();
  };

  /**
   * Sends one connection, natively where the channel is open and the connection fits a frame; else over
   * IPC, now if nothing is in flight there, or behind what is.
   */
  #deliver(socket: Connection, bytes: string | undefined): void {
    const fd = this.#fd;
    if (fd !== undefined && fd.isOpen) {
      const handle = isSocket(socket) ? detachHandle(socket) : socket;
      // A socket the client closed while it waited: nothing to send.
      if (handle === null || fd.send(handle, bytes)) return;
      socket = handle;
    }
    if (this.#current === undefined) this.#transmit(socket, bytes);
    else this.#viaIpc.push({ socket, bytes });
  }

  /** The native channel could not send it, or ended before the worker took it: the IPC path takes over. */
  #giveBack = (handle: TcpHandle, bytes: string | undefined): void => {
    if (!this.link.isOpen) this.#options.undeliverable(this.link, handle, bytes);
    else this.#queue.push({ socket: handle, bytes });
  };

  /** The worker took connections from the native channel, or it ended: what waits goes on. */
  #onProgress = (): void => {
    if (!this.link.isOpen) return;
    while (this.#queue.size > 0 && this.#isFree()) {
      const next = this.#queue.shift() as Handoff;
      this.#deliver(next.socket, next.bytes);
    }
    if (this.unacknowledged === 0) this.link.sendFinal();
  };

  #onExpired = ({ socket, bytes }: Handoff): void => {
    this.#options.expired(this.link, socket, bytes);
  };

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
      this.link.worker.send(message, handle as unknown as Socket, this.#onSent);
    } catch {
      // send() throws only for programming errors (bad handle type); treat like a closed channel.
      this.#onSent(new Error('send failed'));
    }
  }

  #onSent = (error: Error | null): void => {
    if (error === null) return;
    // The bare handle is still ours whatever the failure (Node tracks and closes only sockets):
    // closing the link re-routes it.
    this.link.close();
  };

  #onAcknowledged = (): void => {
    // Another handle sent on this channel (a connection a retiring worker moves to this one) is
    // acknowledged while ours still waits behind it, unsent: not ours.
    if (this.#current !== undefined && isHandleQueued(this.link.worker.process, this.#current)) return;
    // Node leaves a bare handle ('net.Native') to its sender: after the ACK the worker has its own fd,
    // ours is closed. After a NACK (the worker could not take the fd: it ran out of them) Node
    // retransmits nothing of a bare handle; it is closed rather than sent into the same trouble.
    this.#current?.close();
    this.#next();
  };

  #next(): void {
    this.#current = undefined;
    this.#currentBytes = undefined;
    const next = this.link.isOpen ? this.#viaIpc.shift() : undefined;
    if (next !== undefined) this.#transmit(next.socket, next.bytes);
    else this.#onProgress();
  }
}
