import type { Socket } from 'node:net';
import type { StickyError } from '../errors.js';
import type { WorkerLink } from './worker-link-primary.js';

// How connections physically reach a slot's worker: the slot's data plane, a pair of files, a primary
// half and a worker half (planes/<plane>-primary.ts, planes/<plane>-worker.ts). The balancer opens one
// when the primary listens (planes/open-plane-primary.ts) and hands it to the slot table, which keeps
// what every plane shares (which link serves each slot, which slots failed) and calls these hooks; no
// other code asks which plane runs.

/** Which plane carries the connections: the kernel's per-slot sockets or the primary hop. */
export type PlaneKind = 'kernel' | 'primary';

/** The primary's half of a data plane, as the slot table drives it. */
export interface DataPlane {
  readonly kind: PlaneKind;
  /** The slot is routed to `link`: its worker is ready to take the slot's connections. */
  attach(slot: number, link: WorkerLink): void;
  /** The slot failed (its clients go to the next live slot, served by `live`) or healed (`live` undefined). */
  setFailed(slot: number, isFailed: boolean, live: WorkerLink | undefined): void;
  /** Why the table cannot grow by a slot now (logged and counted), or undefined. */
  refuseGrowth(): StickyError | undefined;
  /**
   * The table is about to hold `count` slots: `apply` changes the table, at the point the plane needs.
   * Throws, leaving everything as it was, when the plane cannot grow.
   */
  resize(count: number, apply: () => void): void;
  /**
   * Shutdown: no new connection reaches any slot. When waiting for connections, a listening socket
   * first refuses new handshakes while what the kernel queued is still accepted, and what waits in the
   * plane is handed to a live worker (which serves it while it drains); else it is closed. Settles once
   * the primary stopped accepting.
   */
  close(waitForConnections: boolean): Promise<void>;
  /** Connections this plane handed to the slot's workers (0 where the workers accept themselves). */
  handoffs(slot: number): number;
  /** Connections waiting for the slot's worker in this plane. */
  queueDepth(slot: number): number;
}

/** What a worker's shutdown lets a plane's worker half know and do (WorkerShutdown provides it). */
export interface ConnectionGate {
  /** False once the worker must not take new sockets (shutdown without waiting). */
  readonly isAccepting: boolean;
  /** The worker is draining or its application closed its server: it takes no new slot socket. */
  readonly isLeaving: boolean;
  /** Hot path: remember a connection for the drain. */
  track(socket: Socket): void;
  /** The worker cannot serve its slot: logged, and it leaves with exit code 1 (the primary replaces it). */
  fail(error: unknown, message: string, fields?: Record<string, unknown>): void;
}

/** What a drain asks of a worker half: the close request's terms. */
export interface DrainRequest {
  readonly waitForConnections: boolean;
  readonly isSlotRemoved?: boolean;
  /** Ms the drain may take. */
  readonly timeout: number;
}

/** A plane's worker half, as the worker's shutdown drives it: a participant in the drain. */
export interface WorkerPlane {
  /**
   * The drain begins (close request or signal). A promise returned holds the drain back until it
   * settles (bounded by the drain's timeout): the worker still takes connections meanwhile.
   */
  drainBegin(request: DrainRequest): Promise<void> | undefined;
  /**
   * The worker leaves its slot (its application closed its server outside shutdown, or it hands the slot
   * over to its successor): it takes no new connection of its slot.
   */
  leaveSlot(): void;
}
