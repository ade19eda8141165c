import type { Connection } from '../connection.js';
import type { DataPlane } from '../data-plane.js';
import { SlotQueue, type QueueRoutes, type SlotQueueOptions, type SlotQueueStats } from '../slot-queue.js';
import type { SlotTable } from '../slot-table-primary.js';
import type { WorkerLink } from '../worker-link-primary.js';
import { HandoffLink, type HandoffLinkOptions } from './handoff-link-primary.js';

// The primary hop's delivery, once a connection's slot is known: the slot queue over the workers'
// handoff links. A link that cannot deliver (its worker left) gives its connections back to the
// queue; one whose worker stalls gives them back after `slotWaitTimeout`, to fail over.

export class HopDelivery implements DataPlane {
  readonly kind = 'primary';
  readonly #table: SlotTable;
  readonly #slotWaitTimeout: number;
  readonly #queue: SlotQueue<HandoffLink>;
  readonly #fdPassing: HandoffLinkOptions['fdPassing'];

  constructor(table: SlotTable, options: SlotQueueOptions & Pick<HandoffLinkOptions, 'fdPassing'>) {
    this.#table = table;
    this.#slotWaitTimeout = options.slotWaitTimeout;
    this.#fdPassing = options.fdPassing;
    const routes: QueueRoutes<HandoffLink> = {
      get size() { return table.size; },
      get isClosed() { return table.isClosed; },
      target: (slot) => this.#handoffOf(table.route(slot)),
      isFailed: (slot) => table.isFailed(slot),
      liveTarget: (from) => this.#handoffOf(table.liveLink(from)),
    };
    this.#queue = new SlotQueue(routes, options);
  }

  get stats(): SlotQueueStats {
    return this.#queue.stats;
  }

  /** Hot path: the connection goes to the slot's worker, or waits for it. */
  dispatch(slot: number, socket: Connection, bytes: string | undefined): void {
    this.#queue.dispatch(slot, socket, bytes);
  }

  attach(slot: number, link: WorkerLink): void {
    this.#queue.flush(slot, this.#handoffOf(link) as HandoffLink);
  }

  setFailed(slot: number, isFailed: boolean): void {
    if (isFailed) this.#queue.failWaiting(slot);
  }

  refuseGrowth(): undefined {
    return undefined;
  }

  resize(count: number, apply: () => void): void {
    apply();
    this.#queue.resize(count);
  }

  handoffs(slot: number): number {
    return this.#queue.handoffs(slot);
  }

  queueDepth(slot: number): number {
    return this.#queue.depth(slot);
  }

  close(waitForConnections: boolean): Promise<void> {
    this.#queue.close(waitForConnections);
    return Promise.resolve();
  }

  /** The link's handoff queue, made when the hop first needs it. */
  #handoffOf(link: WorkerLink | undefined): HandoffLink | undefined {
    if (link === undefined) return undefined;
    return (link.carrier as HandoffLink | undefined) ?? new HandoffLink(link, {
      slotWaitTimeout: this.#slotWaitTimeout,
      undeliverable: this.#onUndeliverable,
      expired: (from, socket, bytes) => this.#queue.expired(this.#handoffOf(from) as HandoffLink, socket, bytes),
      fdPassing: this.#fdPassing,
    });
  }

  #onUndeliverable = (link: WorkerLink, socket: Connection, bytes: string | undefined): void => {
    this.#table.clearRoute(link);
    this.#queue.dispatch(link.slot, socket, bytes);
  };
}
