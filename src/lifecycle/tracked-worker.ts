import type { Worker } from 'node:cluster';
import type { StickyError } from '../errors.js';
import type { WorkerLink } from '../sticky/index.js';
import { deferred } from '../internal/deadline.js';

// A worker process as the supervisor tracks it, and the shapes the supervisor reports.

export interface WorkerInfo {
  slot: number;
  workerId: number;
  pid: number;
}

export interface WorkerExitInfo extends WorkerInfo {
  code: number | null;
  signal: string | null;
  /** False for a crash: an exit the runtime did not ask for. */
  expected: boolean;
}

export interface SlotState {
  slot: number;
  workerId: number | undefined;
  pid: number | undefined;
  isReady: boolean;
  isFailed: boolean;
  /** Restarts of this slot's worker so far (crashes and rolling restarts). */
  generation: number;
  /** A respawn (or a failed slot's retry) is scheduled. */
  isRespawnPending: boolean;
  /** Ms since the slot's current worker was forked; `undefined` while it has none. */
  uptime: number | undefined;
}

export interface SupervisorEvents {
  workerOnline: WorkerInfo;
  workerReady: WorkerInfo;
  workerExit: WorkerExitInfo;
  respawnScheduled: { slot: number; delay: number; crashes: number };
  slotFailed: { slot: number; crashes: number; retryIn: number; error: StickyError };
  masterclose: { waitForConnections: boolean; workerId: number };
  /** A worker passed `maxRequests` or `maxMemory`; it is replaced in its slot. */
  recycle: WorkerInfo & { reason: 'maxRequests' | 'maxMemory'; requests: number; rss: number };
  workerTimeout: WorkerTimeoutInfo;
  upstreamReuse: UpstreamReuseInfo;
}

/**
 * A worker saw requests arrive on connections routed by another client's key: a proxy in front shares
 * its upstream connections between clients. Reported at most once per worker every 10 s.
 */
export interface UpstreamReuseInfo extends WorkerInfo {
  /** Requests since the worker's last report that carried a key other than their connection's. */
  requests: number;
  /** Connections among them. */
  connections: number;
  /** What to change in the proxy. */
  hint: string;
}

/** How to make a proxy in front open one upstream connection per client connection or request. */
export const UPSTREAM_REUSE_HINT = 'A proxy in front reuses its connections to this port for several clients, and a connection is routed by its first request only: ' +
  'set `http-reuse never` or `option http-server-close` (HAProxy), remove `keepalive` from the upstream (nginx), or use PROXY protocol (`proxyProtocol: true`).';

export interface WorkerTimeoutInfo extends WorkerInfo {
  /** Ms since the worker last answered the primary. */
  silentFor: number;
  /** `STICKY_ERR_WORKER_TIMEOUT`, saying which slot and worker. */
  error: StickyError;
}

/** Why a new worker did not become ready. */
export type StartFailure = 'exited' | 'forkFailed' | 'readyTimeout' | 'shutdown';

export interface Tracked {
  readonly worker: Worker;
  readonly slot: number;
  readonly link: WorkerLink;
  readonly forkedAt: number;
  isReady: boolean;
  /** Set when the runtime asked this worker to go (shutdown, drain, reload, scale down). */
  isRetiring: boolean;
  startFailure: StartFailure | undefined;
  exitCode: number | null | undefined;
  readyTimer: NodeJS.Timeout | undefined;
  /** performance.now() when the worker last answered (any message); read by the watchdog. */
  lastSeen: number;
  /** The watchdog or a closed channel gave up on it: killed at `killTimer`. */
  killTimer: NodeJS.Timeout | undefined;
  readonly settled: Promise<boolean>;
  settle: (isReady: boolean) => void;
  readonly exited: Promise<void>;
  markExited: () => void;
}

/** A freshly forked worker: not ready, with promises that settle on readiness and on exit. */
export function trackWorker(worker: Worker, slot: number, link: WorkerLink): Tracked {
  const settled = deferred<boolean>();
  const exited = deferred<void>();
  return {
    worker,
    slot,
    link,
    forkedAt: performance.now(),
    isReady: false,
    isRetiring: false,
    startFailure: undefined,
    exitCode: undefined,
    readyTimer: undefined,
    lastSeen: performance.now(),
    killTimer: undefined,
    settled: settled.promise,
    settle: settled.resolve,
    exited: exited.promise,
    markExited: () => exited.resolve(),
  };
}
