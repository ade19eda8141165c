import type {
  ForeignListenerGoneInfo, ForeignListenerInfo, HandoverInfo, PrimaryEvents, PrimaryStats, ReloadReport, SlotReloadReport, SteeringState,
  UpstreamReuseInfo, WorkerExitInfo, WorkerInfo,
} from '../../dist/index.js';

// What the fixture primaries (test/fixtures/*.mjs) send the test over IPC, by message type: the replies
// to the test's commands (`stats`, `fds`, `reload`, …) and the primary's events they forward as
// `{ type: event, ...payload }`. One map for every fixture; a field only some fixtures send is optional.
// The helpers (`SpawnedCluster.ask/next/first/all`) return these types, so a test reads fields without casts.

/** A slot in the `ready` message: sent after `whenReady()`, so every slot has its worker. */
export type ReadySlot = PrimaryStats['slots'][number] & { workerId: number; pid: number };

/** An error crosses the IPC channel as plain data (its code, or the object's own fields). */
type Forwarded<T> = { [K in keyof T]: T[K] extends Error | undefined ? unknown : T[K] };

/** The primary's events a fixture forwards unchanged (errors aside). */
interface ForwardedEvents {
  workerOnline: WorkerInfo;
  workerReady: WorkerInfo;
  workerExit: WorkerExitInfo;
  workerServerClose: WorkerInfo;
  workerTimeout: Forwarded<PrimaryEvents['workerTimeout']>;
  respawnScheduled: PrimaryEvents['respawnScheduled'];
  slotFailed: Forwarded<PrimaryEvents['slotFailed']>;
  masterclose: PrimaryEvents['masterclose'];
  recycle: PrimaryEvents['recycle'];
  upstreamReuse: UpstreamReuseInfo;
  shutdownStart: PrimaryEvents['shutdownStart'];
  reloadStart: { slots: number };
  reloadProgress: SlotReloadReport & { done: number; total: number };
  reloadEnd: ReloadReport;
  scaled: { from: number; to: number };
  foreignListener: ForeignListenerInfo;
  foreignListenerGone: ForeignListenerGoneInfo;
  handover: HandoverInfo;
}

/** What a call on `closed-primary.mjs` returned: `'ok'` or the error's code, and its message. */
export interface Outcome { code: string; message?: string }
export interface ClosedProbe { state: string; listen: Outcome; reload: Outcome; scale: Outcome; whenReady: Outcome }

/** An error as plain data, every field the test may assert on (bus-app.mjs, hostile-worker.mjs). */
export interface ErrorData {
  name: string;
  code: string;
  message: string;
  stack: string;
  remoteCode?: string;
  remoteName?: string;
  channel?: string;
}

/** A message a worker sent its primary, relayed to the test (`report` events of app.mjs and others). */
export interface Report { event: string; workerId: number; [field: string]: unknown }

/** A bus message `seen` that reached the primary of bus-app.mjs / hostile-worker.mjs, with its sender. */
export interface Seen {
  workerId: number;
  slot: number;
  pid: number;
  payload?: { n?: string } & Record<string, unknown>;
  from?: unknown;
  sender?: unknown;
  held?: unknown;
  done?: string;
  result?: unknown;
}

export interface FixtureMessages extends ForwardedEvents {
  /** shutdown-app.mjs, resilience-app.mjs: the primary is about to block its event loop (blockThenClose, blockPrimary). */
  blocking: Record<string, never>;
  /** resilience-app.mjs: its event loop ran again after a `blockPrimary`. */
  blockPrimary: Record<string, never>;
  /** resilience-app.mjs: a worker's `/pause` ended and the primary read its message. */
  paused: { pid: number; ms: number };
  ready: {
    port: number;
    workers: ReadySlot[];
    metricsPort?: number;
    steering?: SteeringState;
    pid?: number;
    primaryPid?: number;
    /** closed-primary.mjs with RACE=1. */
    listen?: Outcome;
    close?: Outcome;
    state?: string;
  };
  /** `primary.stats()`; shutdown-app.mjs adds how many requests its workers are handling. */
  stats: { stats: PrimaryStats; inHandlers?: number };
  /** Open file descriptors of the primary. */
  fds: { count: number };
  pids: { pids: number[] };
  hogFds: { count: number; code: string };
  releaseFds: Record<string, never>;
  reloaded: { ok: boolean; report?: ReloadReport; code?: string; message?: string };
  scaledTo: { ok: boolean; stats?: PrimaryStats; code?: string; message?: string };
  /** The `closeMaster` callback ran (shutdown-app.mjs adds its error code, call count and time). */
  closed: { error?: string; callbacks?: number; at?: number };
  /** `ShutdownResult`: the pids killed at the deadline, the error's code. */
  shutdownEnd: { killed: number[]; error?: string; at?: number };
  report: Report;
  seen: Seen;
  hello: { workerId: number; slot: number; pid: number; sender?: unknown };
  /** A bus-app.mjs / hostile-worker.mjs command's settled result. */
  result: { id: number } & ({ ok: true; value: unknown } | { ok: false; error: ErrorData });
  ticks: { count: number; dropped: number };
  purge: { count: number };
  probe: { construct: Outcome; busConstruct: Outcome; internals: string[]; listen: Outcome };
  close: { closing: ClosedProbe; closed: ClosedProbe };
  slowStarted: Record<string, never>;
  /** resilience-app.mjs handled a signal (after the runtime's own listener ran). */
  signalled: { signal: string };
  /** examples/bus-tasks.mjs: every task's result, in id order. */
  tasksDone: { tasks: { id: number; primes: number; slot: number; progress: number[] }[] };
  /** kernel-handle-canary.mjs. */
  inherited: { pid: number; isInherited: boolean };
  online: { pid: number };
  exit: { pid: number };
  listenFailed: { error: string };
  /** ws-move-parent.mjs: the serving child was told to freeze its WebSockets. */
  freezing: Record<string, never>;
  /** ws-move-parent.mjs: every WebSocket of the serving child moved to a fresh one (or was refused). */
  moved: WsMoved;
  /** ws-move-parent.mjs: the serving child's WebSockets, those with a client frame half-read, and its sequence errors. */
  wsProbe: { midFrame: number; open: number; errors: number };
}

/** What a move of ws-move-parent.mjs reports. */
export interface WsMoved {
  count: number;
  refused: Record<string, number>;
  /** WebSockets with a client frame half-read when the freeze began. */
  midFrame: number;
  /** Ms the old process took to freeze and send every WebSocket; `totalMs` until the last was adopted. */
  ms: number;
  totalMs: number;
  fromPid: number;
  toPid: number;
  adopted: number;
  lost: number;
  /** The first moved WebSocket's old object after the move. */
  afterMove?: { readyState: number; thrown: string; callback: string | undefined };
}

export type FixtureMessageType = keyof FixtureMessages;

/** The message of `type` as it arrives. */
export type MessageOf<K extends FixtureMessageType> = { type: K } & FixtureMessages[K];

/** Any message a fixture sends. */
export type FixtureMessage = { [K in FixtureMessageType]: MessageOf<K> }[FixtureMessageType];

/** Narrows an IPC message to the fixture message of `type`. */
export const isMessage = <K extends FixtureMessageType>(type: K) => (message: unknown): message is MessageOf<K> =>
  typeof message === 'object' && message !== null && (message as { type?: unknown }).type === type;
