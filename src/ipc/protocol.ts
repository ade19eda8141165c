import { decodeFamilies, type MetricFamily, type WorkerFiguresReport } from '../internal/metric-families.js';

// The runtime's own IPC messages, defined once. Every message we send is an envelope
// `{ __sticky: 1, v, type, payload }`; anything without the tag belongs to the application.
// Past 250 lines on purpose: every message's shape and its decoder (what a peer may send) sit here
// together, so a new message cannot get a type without a check.

export const TAG = '__sticky';
export const PROTOCOL_VERSION = 1;
/** The application bus's envelope (see bus-protocol.ts): ours, but read by the bus, not by `decodeMessage`. */
export const BUS_TYPE = 'sticky:bus';

/** Payloads of the runtime's messages, by type. */
export interface RuntimeMessageMap {
  /**
   * primary → worker, with the handed-off socket; `bytes` is base64 of what the primary already read;
   * `client`/`clientPort` the source of the connection's PROXY protocol header.
   */
  'sticky:connection': { bytes?: string; client?: string; clientPort?: number };
  /**
   * primary → worker, with a slot's listening socket (kernel steering): accept on it with this
   * backlog. `slot` is the worker's own, or a failed slot's whose queue it takes over.
   */
  'sticky:listen': { backlog: number; slot: number };
  /** primary → worker: stop accepting on that slot's socket (the slot healed, or its socket's queue is drained). */
  'sticky:unlisten': { slot: number };
  /** worker → primary: the worker's server is attached (or the app called `ready()`). */
  'sticky:ready': Record<string, never>;
  /** worker → primary: shut the whole cluster down. */
  'sticky:masterclose': { waitForConnections: boolean };
  /** primary → worker: stop taking sockets, drain when asked to, run exit hooks, exit. */
  'sticky:close': {
    waitForConnections: boolean;
    timeout: number;
    /**
     * The worker's slot is removed (scale-down, shutdown): no other worker will accept on its socket, so the
     * worker keeps accepting on its slot sockets until `sticky:unlisten` says each queue is empty (at most
     * `timeout` ms).
     */
    isSlotRemoved?: boolean;
  };
  /**
   * worker → primary: the application closed the worker's server (`server.close()`) outside shutdown and
   * retirement; the worker takes no new connection once told `sticky:unrouted`. Replace me in my slot.
   */
  'sticky:serverClose': Record<string, never>;
  /**
   * primary → worker: nothing more is routed to this worker (its queued connections went back to its slot);
   * every connection sent to it before has arrived. The answer to `sticky:serverClose`.
   */
  'sticky:unrouted': Record<string, never>;
  /** Worker → primary: replace me in my slot (past `maxRequests` or `maxMemory`). */
  'sticky:recycle': { reason: 'maxRequests' | 'maxMemory'; requests: number; rss: number };
  /**
   * worker → primary: since its last report, `requests` arrived on `connections` that had been routed
   * by another key (a proxy in front reuses its upstream connections for several clients).
   */
  'sticky:upstreamReuse': { requests: number; connections: number };
  /** worker → primary, every `reportInterval` ms: the worker's own figures (see `WorkerFiguresReport`). */
  'sticky:figures': WorkerFiguresReport;
  /** primary → worker: send your prom-client metrics (a `/metrics` scrape), answered with the same `id`. */
  'sticky:metricsRequest': { id: number };
  /** worker → primary: the answer to `sticky:metricsRequest`. */
  'sticky:metrics': { id: number; families: MetricFamily[] };
  /** primary → worker: the watchdog's heartbeat (`workerTimeout`). */
  'sticky:ping': Record<string, never>;
  /** worker → primary: the answer to a ping, sent from the worker's event loop. */
  'sticky:pong': Record<string, never>;
  /** worker → primary: the application registered `onHandover()`: hand my slot state to my successor. */
  'sticky:handoverOffer': Record<string, never>;
  /**
   * primary → worker, with one end of the slot state channel (a connected Unix socket): `give` is the
   * retiring worker's end (it writes), `take` the successor's (it reads at most `maxBytes`).
   */
  'sticky:handoverChannel': { role: 'give' | 'take'; maxBytes: number };
  /**
   * primary → both workers of a handover, with the handle of its end of the move channel (an unnamed
   * Unix socket pair): the retiring worker passes the connections it moves straight to its successor.
   * Only where the native part loads; else they go through the primary (`sticky:handoverSocket`).
   */
  'sticky:handoverMoves': { role: 'give' | 'take'; maxBytes: number };
  /**
   * primary → worker, with the handle of the worker's end of its handoff channel (an unnamed Unix socket
   * pair): the primary hop passes it connections in frames there (at most `maxBytes` each) and the
   * worker answers how many it took. Only where the native part loads; else `sticky:connection`.
   */
  'sticky:handoffChannel': { maxBytes: number };
  /**
   * primary → the retiring worker, after the last connection routed to it: take no new connection,
   * let the requests in flight finish (at most `timeout` ms), then write the slot state to the channel.
   */
  'sticky:handoverBegin': { timeout: number };
  /** primary → a worker that gets no slot state (first start, crash, nothing offered, a deadline passed). */
  'sticky:startEmpty': { reason: EmptyStartReason };
  /**
   * worker → worker through the primary, during a handover, with a connection's bare handle: a ws
   * WebSocket (`kind: 'ws'`, its frozen `description`) or an idle HTTP keep-alive connection (`'http'`),
   * with the application's per-connection `state` (base64 of v8.serialize bytes) and the bytes read but
   * not parsed (`head`, base64). The primary forwards it, untouched, only from a retiring worker to its
   * successor.
   */
  'sticky:handoverSocket': {
    kind: 'ws' | 'http'; description?: Record<string, unknown>; state?: string; head?: string;
    /** The client a PROXY header reported for the connection. */
    client?: string;
    clientPort?: number;
  };
  /**
   * worker → worker through the primary, during a handover: `count` connections of those the slot
   * state's frame announced did not go (their send failed); the successor stops waiting for them.
   */
  'sticky:handoverUnsent': { count: number };
  /** worker → primary: the slot state was adopted (or not, and why), and `sockets` moved connections; route me now. */
  'sticky:adopted': { isAdopted: boolean; reason?: EmptyStartReason; bytes: number; sockets?: number };
}

/**
 * Why a worker starts without its slot's state: the slot's first worker, a respawn after a crash or a
 * hang, a predecessor that registered no `onHandover()`, a state past `handoverMaxBytes`, a handover
 * past `handoverTimeout`, `onAdopt()` refused (returned false) or threw, `onHandover()` threw, another
 * handover protocol (a primary or predecessor of another version), the predecessor gone mid-way.
 */
export const EMPTY_START_REASONS = [
  'firstStart', 'crashed', 'noHandover', 'tooLarge', 'timeout', 'refused', 'adoptFailed', 'handoverFailed',
  'protocol', 'predecessorGone',
] as const;
export type EmptyStartReason = (typeof EMPTY_START_REASONS)[number];
const isEmptyStartReason = (value: unknown): value is EmptyStartReason =>
  (EMPTY_START_REASONS as readonly unknown[]).includes(value);

export type RuntimeMessageType = keyof RuntimeMessageMap;

export type RuntimeMessage = {
  [K in RuntimeMessageType]: { readonly type: K; readonly payload: RuntimeMessageMap[K] };
}[RuntimeMessageType];

export interface Envelope<K extends RuntimeMessageType = RuntimeMessageType> {
  readonly [TAG]: 1;
  readonly v: number;
  readonly type: K;
  readonly payload: RuntimeMessageMap[K];
}

export function encodeMessage<K extends RuntimeMessageType>(type: K, payload: RuntimeMessageMap[K]): Envelope<K> {
  return { [TAG]: 1, v: PROTOCOL_VERSION, type, payload };
}

/** The handoff message of IP mode is always the same, so it is built once (Node wraps, never mutates it). */
export const CONNECTION_WITHOUT_BYTES: Envelope<'sticky:connection'> = Object.freeze(
  encodeMessage('sticky:connection', Object.freeze({})),
);

export type DecodeResult =
  | { readonly kind: 'message'; readonly message: RuntimeMessage }
  /** Not ours: application traffic, `null`, strings, numbers, other arrays. Ignore. */
  | { readonly kind: 'foreign' }
  /** A batch of the application bus, of this protocol version: the bus reads it. */
  | { readonly kind: 'bus' }
  /** Ours, but from another protocol version: log at warn and drop. */
  | { readonly kind: 'version'; readonly version: unknown }
  /** Ours, with a type or payload we cannot use. Drop. */
  | { readonly kind: 'malformed' };

const FOREIGN: DecodeResult = Object.freeze({ kind: 'foreign' });
const MALFORMED: DecodeResult = Object.freeze({ kind: 'malformed' });
const BUS: DecodeResult = Object.freeze({ kind: 'bus' });

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const isCount = (value: unknown): value is number => typeof value === 'number' && Number.isInteger(value) && value >= 0;

/**
 * The most requests one upstream-reuse report may carry. A worker reports at most every 10 s (and once
 * more as it exits): a billion is a hundred times what it serves meanwhile at a million requests/s. The
 * bound keeps a worker's report from moving the primary's figures by more than a report can mean.
 */
export const MAX_REPORTED_REQUESTS = 1_000_000_000;

const isReportedCount = (value: unknown): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value <= MAX_REPORTED_REQUESTS;

/**
 * Bounds of a figures report: totals are safe integers; `cpu` at most 100 % of 4096 cores; a lag
 * at most a day; `rss` at most 2^50 bytes (a petabyte).
 */
export const FIGURE_LIMITS = { cpu: 409_600, lagMs: 86_400_000, rss: 2 ** 50 } as const;

const isNumberIn = (value: unknown, max: number): value is number =>
  typeof value === 'number' && value >= 0 && value <= max;
const isTotal = (value: unknown): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;

function decodeFigures(payload: Record<string, unknown>): WorkerFiguresReport | undefined {
  const { accepted, requests, connections, lag, lagMax, cpu, rss } = payload;
  if (!isTotal(accepted) || !isTotal(requests) || !isTotal(connections)) return undefined;
  if (!isTotal(rss) || rss > FIGURE_LIMITS.rss) return undefined;
  if (!isNumberIn(lag, FIGURE_LIMITS.lagMs) || !isNumberIn(lagMax, FIGURE_LIMITS.lagMs)) return undefined;
  if (!isNumberIn(cpu, FIGURE_LIMITS.cpu)) return undefined;
  return { accepted, requests, connections, lag, lagMax, cpu, rss };
}

/** A reported client and port, both optional: `{}` without them, undefined when either is malformed. */
function decodeClient(client: unknown, clientPort: unknown): { client?: string; clientPort?: number } | undefined {
  if (client !== undefined && typeof client !== 'string') return undefined;
  if (clientPort === undefined) return client === undefined ? {} : { client };
  if (typeof clientPort !== 'number' || !Number.isInteger(clientPort) || clientPort < 0 || clientPort > 65_535) {
    return undefined;
  }
  return { ...(client === undefined ? {} : { client }), clientPort };
}

function decodePayload(type: unknown, payload: unknown): RuntimeMessage | undefined {
  if (!isRecord(payload)) return undefined;
  switch (type) {
    case 'sticky:connection': {
      const { bytes, client, clientPort } = payload;
      const decoded: RuntimeMessageMap['sticky:connection'] = {};
      if (bytes !== undefined) {
        if (typeof bytes !== 'string') return undefined;
        decoded.bytes = bytes;
      }
      if (client !== undefined) {
        if (typeof client !== 'string') return undefined;
        decoded.client = client;
      }
      if (clientPort !== undefined) {
        const isPort = typeof clientPort === 'number' && Number.isInteger(clientPort)
          && clientPort >= 0 && clientPort <= 65_535;
        if (!isPort) return undefined;
        decoded.clientPort = clientPort;
      }
      return { type, payload: decoded };
    }
    case 'sticky:listen': {
      const { backlog, slot } = payload;
      return isCount(backlog) && backlog > 0 && isCount(slot) ? { type, payload: { backlog, slot } } : undefined;
    }
    case 'sticky:unlisten': {
      const { slot } = payload;
      return isCount(slot) ? { type, payload: { slot } } : undefined;
    }
    case 'sticky:upstreamReuse': {
      // Each connection counted carried at least one of the requests counted.
      const { requests, connections } = payload;
      return isReportedCount(requests) && isReportedCount(connections) && connections <= requests
        ? { type, payload: { requests, connections } } : undefined;
    }
    case 'sticky:figures': {
      const figures = decodeFigures(payload);
      return figures === undefined ? undefined : { type, payload: figures };
    }
    case 'sticky:metricsRequest': {
      const { id } = payload;
      return isTotal(id) ? { type, payload: { id } } : undefined;
    }
    case 'sticky:metrics': {
      const { id } = payload;
      const families = decodeFamilies(payload.families);
      return isTotal(id) && families !== undefined ? { type, payload: { id, families } } : undefined;
    }
    case 'sticky:handoverChannel':
    case 'sticky:handoverMoves': {
      const { role, maxBytes } = payload;
      if ((role !== 'give' && role !== 'take') || !isTotal(maxBytes)) return undefined;
      return { type, payload: { role, maxBytes } };
    }
    case 'sticky:handoffChannel': {
      const { maxBytes } = payload;
      return isTotal(maxBytes) ? { type, payload: { maxBytes } } : undefined;
    }
    case 'sticky:handoverUnsent': {
      const { count } = payload;
      return isTotal(count) && count > 0 ? { type, payload: { count } } : undefined;
    }
    case 'sticky:handoverBegin': {
      const { timeout } = payload;
      return isTotal(timeout) ? { type, payload: { timeout } } : undefined;
    }
    case 'sticky:startEmpty':
      return isEmptyStartReason(payload.reason) ? { type, payload: { reason: payload.reason } } : undefined;
    case 'sticky:adopted': {
      const { isAdopted, reason, bytes, sockets } = payload;
      if (typeof isAdopted !== 'boolean' || !isTotal(bytes)) return undefined;
      if (reason !== undefined && !isEmptyStartReason(reason)) return undefined;
      if (sockets !== undefined && !isTotal(sockets)) return undefined;
      return {
        type,
        payload: {
          isAdopted, bytes, ...(reason === undefined ? {} : { reason }), ...(sockets === undefined ? {} : { sockets }),
        },
      };
    }
    case 'sticky:handoverSocket': {
      const { kind, description, state, head, client, clientPort } = payload;
      if (kind !== 'ws' && kind !== 'http') return undefined;
      const reported = decodeClient(client, clientPort);
      if (reported === undefined) return undefined;
      if (description !== undefined && !isRecord(description)) return undefined;
      const isText = (value: unknown): value is string | undefined => value === undefined || typeof value === 'string';
      if (!isText(state) || !isText(head)) return undefined;
      return {
        type,
        payload: {
          kind, ...(description === undefined ? {} : { description }), ...(state === undefined ? {} : { state }),
          ...(head === undefined ? {} : { head }), ...reported,
        },
      };
    }
    case 'sticky:ready':
    case 'sticky:handoverOffer':
    case 'sticky:serverClose':
    case 'sticky:unrouted':
    case 'sticky:ping':
    case 'sticky:pong':
      return { type, payload: {} };
    case 'sticky:masterclose':
      return { type, payload: { waitForConnections: payload.waitForConnections === true } };
    case 'sticky:close': {
      const { waitForConnections, timeout, isSlotRemoved } = payload;
      if (typeof timeout !== 'number' || !(timeout >= 0)) return undefined;
      const removed = isSlotRemoved === true ? { isSlotRemoved } : {};
      return { type, payload: { waitForConnections: waitForConnections === true, timeout, ...removed } };
    }
    case 'sticky:recycle': {
      const { reason, requests, rss } = payload;
      if ((reason !== 'maxRequests' && reason !== 'maxMemory') || !isCount(requests) || !isCount(rss)) return undefined;
      return { type, payload: { reason, requests, rss } };
    }
    default:
      return undefined;
  }
}

/**
 * Narrows anything that arrived over IPC. Never throws. Also accepts the legacy array form
 * `['sticky:masterclose', waitForConnections]` that sticky-session-custom code sends.
 */
export function decodeMessage(value: unknown): DecodeResult {
  if (Array.isArray(value)) {
    if (value[0] !== 'sticky:masterclose') return FOREIGN;
    return {
      kind: 'message', message: { type: 'sticky:masterclose', payload: { waitForConnections: value[1] === true } },
    };
  }
  if (!isRecord(value) || value[TAG] !== 1) return FOREIGN;
  if (value.v !== PROTOCOL_VERSION) return { kind: 'version', version: value.v };
  if (value.type === BUS_TYPE) return BUS;
  const message = decodePayload(value.type, value.payload);
  return message === undefined ? MALFORMED : { kind: 'message', message };
}
