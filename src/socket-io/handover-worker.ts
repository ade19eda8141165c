import { settlesWithin } from '../internal/deadline.js';
import { invalidOption } from '../options/index.js';
import { onAdopt, onHandover, type HandoverOptions } from '../lifecycle/index.js';
import { StickyClusterAdapter, keepPendingState } from './adapter-worker.js';
import type { SessionLogState } from './session-log.js';

// Socket.IO sessions across a planned replacement of the slot's worker. The retiring worker closes its
// clients' connections (Socket.IO keeps each one's session: the reason is recoverable), then hands every
// namespace's sessions and packet log to its successor through the slot state handover; the clients
// reconnect, wait in the slot's queue while the successor adopts the state, and are restored there
// (`socket.recovered`). Engine.IO connections themselves do not move.

/** What the helpers use of a Socket.IO `Server`. */
export interface SocketIoServerLike {
  readonly _nsps: ReadonlyMap<string, {
    readonly adapter: object;
    readonly sockets: ReadonlyMap<string, { readonly conn: EngineSocketLike }>;
  }>;
}

/** What the helpers use of an Engine.IO connection. */
export interface EngineSocketLike {
  readonly readyState: string;
  close(): unknown;
  once(event: 'close', listener: () => void): unknown;
}

/** Sessions and packet logs of a worker's Socket.IO namespaces, as they travel to the slot's next worker. */
export interface SocketIoSessions {
  readonly format: 'sticky-runtime/socket.io';
  readonly version: 1;
  readonly namespaces: readonly { readonly name: string; readonly state: SessionLogState }[];
}

/** Ms the retiring worker gives its clients' connections to close before it takes the state as it is. */
const CLOSE_TIMEOUT = 2_000;

/**
 * In the retiring worker, inside your own `onHandover()` hook: closes every Socket.IO connection of
 * this worker (each client keeps its session and reconnects to the slot's next worker) and returns the
 * sessions and missed-packet logs to hand over. Use `handOverSessions(io)` when the slot carries
 * nothing else.
 */
export async function takeSessions(io: SocketIoServerLike): Promise<SocketIoSessions> {
  const connections = new Set<EngineSocketLike>();
  for (const namespace of io._nsps.values()) {
    for (const socket of namespace.sockets.values()) connections.add(socket.conn);
  }
  const closed: Promise<void>[] = [];
  for (const connection of connections) {
    if (connection.readyState === 'closed') continue;
    closed.push(new Promise((resolve) => connection.once('close', resolve)));
    connection.close();
  }
  // A connection still flushing at the deadline is left out: its client starts a new session.
  if (closed.length > 0) await settlesWithin(Promise.all(closed), CLOSE_TIMEOUT);
  const namespaces: { name: string; state: SessionLogState }[] = [];
  for (const [name, namespace] of io._nsps) {
    if (!(namespace.adapter instanceof StickyClusterAdapter)) continue;
    const state = namespace.adapter.takeState();
    if (state !== undefined) namespaces.push({ name, state });
  }
  return { format: 'sticky-runtime/socket.io', version: 1, namespaces };
}

/**
 * In the successor, inside your own `onAdopt()` hook: gives each namespace its predecessor's sessions
 * and packet log (a namespace made later takes them when it is created). Returns false, adopting
 * nothing, for a state that `takeSessions()` did not make.
 */
export function adoptSessions(io: SocketIoServerLike, state: unknown): boolean {
  if (!isSessions(state)) return false;
  for (const { name, state: log } of state.namespaces) {
    const adapter = io._nsps.get(name)?.adapter;
    if (adapter instanceof StickyClusterAdapter) adapter.adoptState(log);
    else if (adapter === undefined) keepPendingState(io, name, log);
  }
  return true;
}

/**
 * Hands this worker's Socket.IO sessions to the slot's next worker on every planned replacement
 * (rolling restart, recycling, the CLI's reload): registers `onHandover()` and `onAdopt()` for `io`.
 * Clients reconnect once and find their id, rooms, `data` and the packets they missed. A crash hands
 * nothing over: its clients start new sessions. Call it once per worker, before the worker is ready.
 * @throws {StickyError} `STICKY_ERR_INVALID_OPTION` when `io` does not use `createAdapter()` with
 * `connectionStateRecovery`; `STICKY_ERR_INVALID_STATE` when `onHandover()` is already registered
 * (then call `takeSessions()` and `adoptSessions()` from your own hooks).
 */
export function handOverSessions(io: SocketIoServerLike, options: HandoverOptions = {}): void {
  const adapter = io._nsps.get('/')?.adapter;
  if (!(adapter instanceof StickyClusterAdapter) || !adapter.isRecovering) {
    throw invalidOption('io', 'a Socket.IO server with `adapter: createAdapter()` and `connectionStateRecovery`', io,
      'Sessions exist only where `connectionStateRecovery` is on, and only this package\'s adapter hands them over.');
  }
  onHandover(() => takeSessions(io), options);
  onAdopt((state) => (adoptSessions(io, state) ? undefined : false));
}

function isSessions(value: unknown): value is SocketIoSessions {
  if (value === null || typeof value !== 'object') return false;
  const state = value as Partial<SocketIoSessions>;
  return state.format === 'sticky-runtime/socket.io' && state.version === 1 && Array.isArray(state.namespaces)
    && state.namespaces.every((entry) => typeof entry.name === 'string'
      && Array.isArray(entry.state?.sessions) && Array.isArray(entry.state.packets));
}
