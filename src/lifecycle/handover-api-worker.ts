import cluster from 'node:cluster';
import type { EventEmitter } from 'node:events';
import { ErrorCode, StickyError } from '../errors.js';
import type { WebSocketHandover, WebSocketServerOf } from './handover-sockets-worker.js';
import { WorkerHandover, type AdoptedState, type AdoptHook, type HandoverOptions } from './handover-worker.js';

// The application's side of a handover, in a worker: what it registers (the slot state, the
// WebSockets) and what it learns (what it started with). The protocol is handover-worker.ts's.

let handover: WorkerHandover | undefined;

/** This worker process's handover, made on first use. */
export function workerHandover(): WorkerHandover {
  handover ??= new WorkerHandover();
  return handover;
}

/**
 * Registers what this worker's slot carries (its in-memory sessions, caches): on a planned
 * replacement (rolling restart, recycling, the CLI's reload) the hook's value, serialised with
 * `v8.serialize` (Map, Set, Date, Buffer, BigInt round-trip; functions and sockets do not), reaches
 * the slot's next worker before it takes a connection. Once per worker.
 * @throws {StickyError} `STICKY_ERR_WRONG_PROCESS` in the primary, `STICKY_ERR_INVALID_STATE` when
 * called twice.
 * @example
 * const sessions = new Map();
 * onHandover(() => sessions);
 * onAdopt((state) => { for (const [id, session] of state) sessions.set(id, session); });
 */
export function onHandover(hook: () => unknown, options: HandoverOptions = {}): void {
  assertWorker('onHandover');
  workerHandover().offer(hook, options);
}

/**
 * Moves this worker's open ws WebSockets to its slot's successor in a planned replacement, as the same
 * TCP connections: no close frame, no reconnect, no message lost or repeated. Each one stops at a frame
 * boundary; `state(ws)` (optional) gives what the application keeps for it (v8.serialize), and in the
 * successor `adopt(ws, state)` installs the application's listeners before the WebSocket reads on (it
 * gets no `'connection'` event: the upgrade request is gone). The old object emits `close` (1001) once
 * its connection moved; a send on it then fails with `STICKY_ERR_WS_MOVED`. What cannot move (TLS in
 * the worker, permessage-deflate with context takeover, a frame still half-read at the deadline) closes
 * with 1001 as before. Register it in every worker, once.
 * @throws {StickyError} `STICKY_ERR_WRONG_PROCESS` in the primary, `STICKY_ERR_INVALID_STATE` when
 * called twice.
 * @example
 * const wss = new WebSocketServer({ server });
 * wss.on('connection', (ws, req) => serve(ws, { user: userOf(req) }));
 * handOverWebSockets(wss, { state: (ws) => stateOf.get(ws), adopt: (ws, state) => serve(ws, state) });
 */
export function handOverWebSockets<W extends EventEmitter, S = unknown>(
  server: WebSocketServerOf<W>, hooks: WebSocketHandover<W, S>,
): void {
  assertWorker('handOverWebSockets');
  workerHandover().offerWebSockets(server, hooks as unknown as WebSocketHandover<EventEmitter, unknown>);
}

/**
 * Registers a hook that receives the predecessor's slot state before this worker takes a connection;
 * the slot waits for what it returns (within `handoverTimeout`). Returning `false` refuses the state.
 * @throws {StickyError} `STICKY_ERR_WRONG_PROCESS` in the primary.
 */
export function onAdopt<T = unknown>(hook: AdoptHook<T>): void {
  assertWorker('onAdopt');
  workerHandover().addAdoptHook(hook as AdoptHook);
}

/**
 * Settles once this worker knows what it started with: its predecessor's slot state, or nothing and
 * why. It settles after readiness: await it after `ready()`, not before.
 */
export function adoptedState(): Promise<AdoptedState> {
  try {
    assertWorker('adoptedState');
  } catch (error) {
    return Promise.reject(error);
  }
  return workerHandover().adopted;
}

function assertWorker(name: string): void {
  if (!cluster.isWorker) {
    throw new StickyError(ErrorCode.WrongProcess, `\`${name}()\` works only in a worker.`, {
      hint: 'Call it in the worker branch, where `listen()` returned null.',
    });
  }
}
