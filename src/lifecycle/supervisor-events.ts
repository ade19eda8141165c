import { ErrorCode, StickyError } from '../errors.js';
import type { MetricFamily, WorkerFiguresReport } from '../internal/metric-families.js';
import type { SlotStateName } from '../slot-state.js';

// What the supervisor reports about its workers and slots.

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

/** One slot as `stats().slots` reports it. */
export interface SlotState {
  slot: number;
  /**
   * What the slot does with its new clients now: `'ready'`, `'starting'`, `'withdrawn'`, `'respawning'`,
   * `'vacant'` or `'failed'` (see `SlotStateName`). The booleans below are the facts it is derived from.
   */
  state: SlotStateName;
  workerId: number | undefined;
  pid: number | undefined;
  /** The slot's current worker reported ready (also while it is `'withdrawn'`). */
  isReady: boolean;
  isFailed: boolean;
  /** Restarts of this slot's worker so far (crashes and rolling restarts). */
  generation: number;
  /** A respawn (or a failed slot's retry) is scheduled. */
  isRespawnPending: boolean;
  /** Ms since the slot's current worker was forked; `undefined` while it has none. */
  uptime: number | undefined;
}

/** A slot's worker is forked again after `delay` ms (`crashes` in the current window). */
export interface RespawnScheduledInfo { slot: number; delay: number; crashes: number }
/** A slot crashed too often: its clients fail over to other slots; it is retried in `retryIn` ms. */
export interface SlotFailedInfo { slot: number; crashes: number; retryIn: number; error: StickyError }
/** A worker asked for the whole cluster to shut down (`requestMasterClose()`). */
export interface MasterCloseInfo { waitForConnections: boolean; workerId: number }
/** A worker passed `maxRequests` or `maxMemory`. */
export interface RecycleInfo extends WorkerInfo { reason: 'maxRequests' | 'maxMemory'; requests: number; rss: number }

export interface SupervisorEvents {
  workerOnline: WorkerInfo;
  workerReady: WorkerInfo;
  workerExit: WorkerExitInfo;
  respawnScheduled: RespawnScheduledInfo;
  slotFailed: SlotFailedInfo;
  masterclose: MasterCloseInfo;
  /** A worker passed `maxRequests` or `maxMemory`; it is replaced in its slot. */
  recycle: RecycleInfo;
  workerTimeout: WorkerTimeoutInfo;
  /**
   * The worker's application closed its server (`server.close()`): nothing is routed to it any more;
   * its slot gets a successor and it is retired once the successor is ready.
   */
  workerServerClose: WorkerInfo;
  upstreamReuse: UpstreamReuseInfo;
  /** A worker's own figures (every `reportInterval` ms). */
  figures: WorkerInfo & { report: WorkerFiguresReport };
  /** A worker's answer to a metrics scrape. */
  workerMetrics: WorkerInfo & { id: number; families: MetricFamily[] };
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
export const UPSTREAM_REUSE_HINT = 'A proxy in front reuses its connections to this port for several clients, '
  + 'and a connection is routed by its first request only: set `http-reuse never` or `option http-server-close` '
  + '(HAProxy), remove `keepalive` from the upstream (nginx), or use PROXY protocol (`proxyProtocol: true`).';

export interface WorkerTimeoutInfo extends WorkerInfo {
  /** Ms since the worker last answered the primary. */
  silentFor: number;
  /** `STICKY_ERR_WORKER_TIMEOUT`, saying which slot and worker. */
  error: StickyError;
}

/** `STICKY_ERR_WORKER_TIMEOUT` for the `workerTimeout` event. */
export function workerTimeoutError(info: WorkerInfo, silentFor: number, workerTimeout: number): StickyError {
  return new StickyError(
    ErrorCode.WorkerTimeout,
    `Worker ${info.workerId} (pid ${info.pid}, slot ${info.slot}) did not answer for ${silentFor} ms `
      + `(\`workerTimeout\`: ${workerTimeout} ms) and is being replaced.`,
    { hint: 'Its event loop was blocked or it stopped reading its IPC channel; see its logs. '
      + 'Raise `workerTimeout` for workers that block on purpose.' },
  );
}

/** `STICKY_ERR_RESPAWN_LIMIT` for the `slotFailed` event. */
export function respawnLimitError(slot: number, crashes: number, restartWindow: number, retryIn: number): StickyError {
  return new StickyError(
    ErrorCode.RespawnLimit,
    `Slot ${slot} crashed ${crashes} times within \`restartWindow\` (${restartWindow} ms); `
      + 'its clients fail over to other slots.',
    { hint: `See the worker's error log. The slot is tried again in ${retryIn} ms (\`failedSlotRetry\`), `
      + 'or on the next reload.' },
  );
}
