import type { Worker } from 'node:cluster';

// The primary's link to one worker of one slot, as the slot table routes it: which worker, whether it
// still takes anything, and the last message (the close request, or `sticky:unrouted`) sent once what
// the data plane still carries over the link has reached the worker. What a plane carries is its own
// part of the link (`LinkCarrier`): the hop's handoff queue (planes/handoff-link-primary.ts), the
// kernel plane's slot sockets (planes/kernel-primary.ts). A link made before the primary listened gets
// its carrier when the chosen plane first needs it.

/** A data plane's part of one worker's link. */
export interface LinkCarrier {
  /** Connections routed over the link that the worker has not acknowledged. */
  readonly unacknowledged: number;
  /** The worker takes no more: what waits here (not what is in flight) goes back to the table. */
  recall(): void;
  /** The link is closed: everything not acknowledged goes back to the table. */
  close(): void;
}

export class WorkerLink {
  readonly worker: Worker;
  readonly slot: number;
  #isOpen = true;
  /** Set by finish() or recall(): the last message, sent once the carrier holds nothing more. */
  #finalMessage: object | undefined;
  #isFinalSent = false;
  /** The last message as sent: the carrier reports an empty queue after each acknowledgement. */
  #sentFinal: object | undefined;
  #carrier: LinkCarrier | undefined;

  constructor(worker: Worker, slot: number) {
    this.worker = worker;
    this.slot = slot;
  }

  get isOpen(): boolean {
    return this.#isOpen;
  }

  /** A last message is set: the link takes nothing more. */
  get isFinishing(): boolean {
    return this.#finalMessage !== undefined;
  }

  /** The plane's part of this link, once the plane gave it one. */
  get carrier(): LinkCarrier | undefined {
    return this.#carrier;
  }

  /** Connections routed here that the worker has not acknowledged. */
  get unacknowledged(): number {
    return this.#carrier?.unacknowledged ?? 0;
  }

  /** Gives the link its plane's carrier (once; the plane is chosen once). */
  carry<C extends LinkCarrier>(carrier: C): C {
    this.#carrier ??= carrier;
    return carrier;
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
    if (!isWaiting && this.unacknowledged === 0) this.sendFinal();
  }

  /**
   * The worker takes no more sockets (its application closed its server): those queued go back to the
   * table for the slot's next worker, and `message` follows the one already in flight, so the worker
   * knows when every socket sent to it has arrived. A later `finish()` sends its message after.
   */
  recall(message: object): void {
    if (!this.#isOpen || this.#finalMessage !== undefined) return;
    this.#finalMessage = message;
    this.#carrier?.recall();
    if (this.unacknowledged === 0) this.sendFinal();
  }

  /** The carrier has nothing left on its way: the last message, if any, goes now (each one once). */
  sendFinal(): void {
    const message = this.#finalMessage;
    if (message === undefined || message === this.#sentFinal || !this.worker.isConnected()) return;
    this.#isFinalSent = true;
    this.#sentFinal = message;
    this.worker.send(message, this.markGone);
  }

  /** A send failed: the worker is already gone (its exit is handled by the supervisor). */
  markGone = (error: Error | null): void => {
    if (error !== null) this.#isOpen = false;
  };

  /** Stops using the worker; every connection not yet given to Node goes back to the table. */
  close(): void {
    if (!this.#isOpen) return;
    this.#isOpen = false;
    this.#carrier?.close();
  }
}
