import type { EventEmitter } from 'node:events';
import { Socket, type Server, type SocketConstructorOpts } from 'node:net';
import { deserialize, serialize } from 'node:v8';
import type { Logger } from '../logger.js';
import { encodeMessage, tellPrimary, type RuntimeMessageMap } from '../ipc/index.js';
import { deferred, settlesWithin, type Deferred } from '../internal/deadline.js';
import {
  adoptSocket, freezeWebSocket, loadFdPassing, reportedClientOf, thawWebSocket, type FrozenWebSocket,
  type WebSocketDescription,
} from '../sticky/index.js';
import { startReading, streamHandleOf } from '../internal/node-internals-worker.js';
import type { FdHandle } from '../internal/node-internals.js';
import { MoveReceiver, MoveSender } from './move-channel-worker.js';

// The connections a handover moves, a worker's half: the retiring worker sends each idle HTTP
// keep-alive connection (stopped between two requests) and each open ws WebSocket (stopped at a frame
// boundary, with its description and the application's per-connection state) as its bare handle
// through the primary; the successor takes each one once its slot state is adopted: an HTTP connection
// joins its server as if accepted there, a WebSocket goes to the application's `adopt` hook. What
// cannot move closes as without a handover (a WebSocket with 1001), counted. Past 250 lines: both
// directions, and both kinds of connection, of one move.

/** A ws WebSocketServer, as far as the handover needs it: its clients and its options. */
export interface WebSocketServerOf<W> extends EventEmitter {
  readonly clients: Set<W>;
  readonly options: object;
}

/** How the application's WebSockets move in a planned replacement (see `handOverWebSockets`). */
export interface WebSocketHandover<W, S> {
  /** The per-connection state to take along (v8.serialize), read once the WebSocket stopped at a frame boundary. */
  state?: (ws: W) => S;
  /**
   * In the successor: install the application's listeners on a moved WebSocket, with its state. The
   * WebSocket reads on (its client's next message) once this returns or its promise settles.
   */
  adopt: (ws: W, state: S) => unknown;
}

/** A connection moved here, waiting for the slot state to be adopted. */
type Arrival =
  | { kind: 'ws'; ws: EventEmitter; state: unknown; isPaused: boolean }
  | {
    kind: 'http'; socket: Socket; head: string | undefined; client: string | undefined; clientPort: number | undefined;
  };

interface WsMover {
  server: WebSocketServerOf<EventEmitter>;
  hooks: WebSocketHandover<EventEmitter, unknown>;
}

type SocketMessage = RuntimeMessageMap['sticky:handoverSocket'];

/** A connection on its way to the successor: what happens to this worker's copy once it is sent, or not. */
interface Move {
  message: SocketMessage;
  handle: object;
  sent: () => void;
  unsent: () => void;
}
/** `process.send` with a bare handle (Node sends it as 'net.Native'; its types know only sockets and servers). */
type SendWithHandle =
  (message: object, handle: object, options: object, callback: (error: Error | null) => void) => boolean;

/** What a handover did with the connections it met, since the worker started. */
export interface SocketMoveCounts {
  sent: number;
  /** By reason: the WebSocket stayed and closed with 1001. */
  refused: Record<string, number>;
  adopted: number;
  /** Arrived and could not be rebuilt or adopted: closed. */
  failed: number;
}

export class SocketMoves {
  #ws: WsMover | undefined;
  #httpServer: Server | undefined;
  #log: Logger | undefined;
  #track: (socket: Socket) => void = () => undefined;
  /**
   * The retiring side's sends, one after the other: Node holds every message behind a handle in flight
   * and replays its whole queue at each acknowledgement, so handing it all at once costs n² (measured:
   * most of a 1,000-socket move).
   */
  #sends: Promise<unknown> = Promise.resolve();
  /** The retiring side's move channel, and the sends on it not yet through. */
  #direct: MoveSender | undefined;
  readonly #directSends: Promise<void>[] = [];
  #queued = 0;
  #sent = 0;
  /** Of `#sent`: over the move channel. */
  #sentDirect = 0;
  readonly counts: SocketMoveCounts = { sent: 0, refused: {}, adopted: 0, failed: 0 };
  /** Moved here before the slot state was adopted: they wait, paused. */
  readonly #pending: Arrival[] = [];
  #isOpen = false;
  #received = 0;
  #forgone = 0;
  /** The move channel broke: what was still on it will not come. */
  #isChannelBroken = false;
  #expected: { count: number; reached: Deferred<void> } | undefined;

  /** The attached server, its logger, and how a connection joins the worker's drain. */
  attach(server: Server, log: Logger, track: (socket: Socket) => void): void {
    this.#httpServer = server;
    this.#log = log;
    this.#track = track;
  }

  /**
   * The retiring side: sends idle HTTP keep-alive connections (stopped reading, between two requests)
   * to the successor; `prepare`'s flush waits for these sends too.
   */
  sendIdle(sockets: readonly Socket[]): void {
    for (const socket of sockets) this.#sendIdle(socket);
  }

  /** `sticky:handoverMoves`: this worker's end of the move channel (see move-channel-worker.ts). */
  useChannel(role: 'give' | 'take', end: unknown, maxBytes: number): void {
    const native = loadFdPassing();
    const handle = end as FdHandle | null;
    if (typeof handle !== 'object' || handle === null || typeof handle.fd !== 'number') return;
    if (native === undefined || handle.fd < 0) {
      handle.close();
      return;
    }
    if (role === 'give') this.#direct = new MoveSender(native, handle);
    else {
      const arrive = (message: SocketMessage, socket: FdHandle): void => this.receive(message, socket);
      new MoveReceiver(native, handle, maxBytes, arrive, (reason, isBroken) => this.#lost(reason, isBroken));
    }
  }

  /**
   * One connection on its way: straight to the successor over the move channel where there is one,
   * else (or once that channel broke) through the primary, one acknowledged message at a time.
   */
  #move(move: Move): void {
    this.#queued++;
    const viaPrimary = (): void => {
      this.#sends = this.#sends.then(() => this.#sendThroughPrimary(move));
    };
    const direct = this.#direct;
    const fd = (move.handle as Partial<FdHandle>).fd;
    if (direct === undefined || typeof fd !== 'number' || fd < 0) {
      viaPrimary();
      return;
    }
    const done = deferred<void>();
    this.#directSends.push(done.promise);
    const isQueued = direct.push({
      fd, message: move.message, done: (isSent) => {
        if (isSent) {
          this.#sentDirect++;
          this.#sentOne(move);
        } else viaPrimary();
        done.resolve();
      },
    });
    if (!isQueued) {
      viaPrimary();
      done.resolve();
    }
  }

  #sentOne(move: Move): void {
    this.#sent++;
    move.sent();
  }

  #sendThroughPrimary(move: Move): Promise<void> {
    const send = process.send as SendWithHandle | undefined;
    if (send === undefined) {
      move.unsent();
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const message = encodeMessage('sticky:handoverSocket', move.message);
      send.call(process, message, move.handle, {}, (error: Error | null) => {
        if (error === null) this.#sentOne(move);
        else move.unsent();
        resolve();
      });
    });
  }

  #sendIdle(socket: Socket): void {
    const chunks: Buffer[] = [];
    for (let chunk = socket.read() as Buffer | null; chunk !== null; chunk = socket.read() as Buffer | null) {
      chunks.push(chunk);
    }
    const head = Buffer.concat(chunks);
    const handle = streamHandleOf(socket);
    const restore = (): void => {
      if (head.length > 0) socket.unshift(head);
      startReading(socket);
    };
    if (handle === null) {
      restore();
      return;
    }
    const message: SocketMessage = {
      kind: 'http', ...(head.length === 0 ? {} : { head: head.toString('base64') }), ...reportedClientOf(socket),
    };
    // Sent: the successor holds the connection; closing this copy sends the client nothing.
    this.#move({ message, handle, sent: () => socket.destroy(), unsent: restore });
  }

  registerWebSockets(server: WebSocketServerOf<EventEmitter>, hooks: WebSocketHandover<EventEmitter, unknown>): void {
    this.#ws = { server, hooks };
  }

  get hasMovers(): boolean {
    return this.#ws !== undefined;
  }

  /**
   * The retiring side, before the slot state goes: stops each WebSocket at a frame boundary (at most
   * `timeout` ms; what cannot stop closes with 1001) and queues it after the idle HTTP connections.
   * Returns how many connections this handover moves (the state's frame carries the count; the
   * successor is routed once they arrived) and `flush`, which settles once every send is through.
   */
  async prepare(timeout: number): Promise<{ count: number; flush: () => Promise<void> }> {
    const mover = this.#ws;
    const clients = mover === undefined ? [] : [...mover.server.clients];
    const frozen = await Promise.all(clients.map((ws) => freezeWebSocket(ws as never, { timeout })));
    let webSockets = 0;
    frozen.forEach((result, index) => {
      const ws = clients[index] as EventEmitter;
      if ('refused' in result) this.#refuse(ws, result.refused);
      else if (mover !== undefined) {
        webSockets++;
        // The state is read now, at the boundary: nothing can be sent on the WebSocket any more.
        const state = this.#stateOf(mover, ws, result);
        if (state !== false) this.#sendWebSocket(ws, result, state);
      }
    });
    const flush = async (): Promise<void> => {
      this.#direct?.end();
      // A direct send that failed queues its connection through the primary: the primary's queue last.
      await Promise.all(this.#directSends);
      await this.#sends;
      this.counts.sent += this.#sent;
      const failed = this.#queued - this.#sent;
      // The state's frame announced them: the successor would wait for them until its deadline.
      if (failed > 0) tellPrimary(encodeMessage('sticky:handoverUnsent', { count: failed }));
      const direct = this.#sentDirect;
      this.#log?.info({ sent: this.#sent, direct, webSockets, refused: clients.length - webSockets, failed },
        'connections handed over');
    };
    return { count: this.#queued, flush };
  }

  /** The application's state of a frozen WebSocket, serialised; false when its hook threw (it closes). */
  #stateOf(mover: WsMover, ws: EventEmitter, frozen: FrozenWebSocket): string | undefined | false {
    try {
      const value = mover.hooks.state?.(ws);
      return value === undefined ? undefined : serialize(value).toString('base64');
    } catch (error) {
      this.#log?.error({ err: error }, 'websocket state hook failed: closing it with 1001');
      frozen.restore();
      this.#refuse(ws, 'stateFailed');
      return false;
    }
  }

  #sendWebSocket(ws: EventEmitter, frozen: FrozenWebSocket, state: string | undefined): void {
    const message: SocketMessage = {
      kind: 'ws', description: frozen.description as unknown as Record<string, unknown>,
      ...(state === undefined ? {} : { state }),
    };
    this.#move({
      message, handle: frozen.handle, sent: () => frozen.release(), unsent: () => {
        frozen.restore();
        this.#refuse(ws, 'noChannel');
      },
    });
  }

  #refuse(ws: EventEmitter, reason: string): void {
    this.counts.refused[reason] = (this.counts.refused[reason] ?? 0) + 1;
    (ws as EventEmitter & { close(code: number, reason: string): void }).close(1001, 'server restarting');
  }

  /** The successor's side: a moved connection arrived (the primary forwarded it). */
  receive(payload: SocketMessage, handle: unknown): void {
    this.#take(payload, handle);
    this.#arrived(1);
  }

  /** `sticky:handoverUnsent`: `count` of the connections announced will not come (their sends failed). */
  forgo(count: number): void {
    this.#forgone += count;
    this.#arrived(count);
  }

  /** Of the connections announced, how many will not come. */
  get forgone(): number {
    return this.#forgone;
  }

  /** A moved connection that arrived unusable counts as arrived; a broken move channel ends the wait for them. */
  #lost(reason: string, isBroken: boolean): void {
    this.#fail(undefined, undefined, reason);
    if (isBroken) {
      this.#isChannelBroken = true;
      this.#expected?.reached.resolve();
    } else this.#arrived(1);
  }

  #arrived(count: number): void {
    this.#received += count;
    if (this.#expected !== undefined && this.#received >= this.#expected.count) this.#expected.reached.resolve();
  }

  /** Moved connections that arrived here so far, and how many the predecessor said it moves. */
  get arrivals(): { received: number; expected: number | undefined } {
    return { received: this.#received, expected: this.#expected?.count };
  }

  /** Settles once `count` moved connections arrived here, or after `timeout` ms. */
  async received(count: number, timeout: number): Promise<void> {
    if (this.#received >= count || this.#isChannelBroken) return;
    this.#expected = { count, reached: deferred<void>() };
    await settlesWithin(this.#expected.reached.promise, timeout);
  }

  #take(payload: SocketMessage, handle: unknown): void {
    const mover = this.#ws;
    if (payload.kind === 'http' && typeof handle === 'object' && handle !== null && !(handle instanceof Socket)) {
      const socket = new Socket({ handle, readable: true, writable: true } as SocketConstructorOpts);
      const { head, client, clientPort } = payload;
      this.#arrive({ kind: 'http', socket, head, client, clientPort });
      return;
    }
    if (payload.kind !== 'ws' || mover === undefined || typeof handle !== 'object' || handle === null) {
      this.#fail(handle, undefined, 'a moved connection this worker cannot take: closed');
      return;
    }
    let ws: EventEmitter;
    let state: unknown;
    try {
      const description = payload.description as unknown as WebSocketDescription;
      ws = thawWebSocket(handle, description, { server: mover.server as never, ...this.#http() }) as EventEmitter;
      state = payload.state === undefined ? undefined : deserialize(Buffer.from(payload.state, 'base64'));
      this.#arrive({ kind: 'ws', ws, state, isPaused: description.isPaused });
    } catch (error) {
      this.#fail(undefined, error, 'a moved websocket could not be rebuilt: closed');
    }
  }

  #http(): { httpServer?: Server } {
    return this.#httpServer === undefined ? {} : { httpServer: this.#httpServer };
  }

  #fail(handle: unknown, error: unknown, message: string): void {
    this.counts.failed++;
    this.#log?.warn(error === undefined ? {} : { err: error }, message);
    if (typeof handle === 'object' && handle !== null && !(handle instanceof Socket)) {
      new Socket({ handle, readable: false, writable: false } as SocketConstructorOpts).destroy();
    } else if (handle instanceof Socket) handle.destroy();
  }

  #arrive(arrival: Arrival): void {
    if (this.#isOpen) void this.#adopt(arrival);
    else this.#pending.push(arrival);
  }

  /** The slot state is settled: the connections that wait are adopted, and those still to come at once. */
  async open(): Promise<number> {
    if (this.#isOpen) return 0;
    this.#isOpen = true;
    const adopted = await Promise.all(this.#pending.splice(0).map((arrival) => this.#adopt(arrival)));
    return adopted.filter(Boolean).length;
  }

  async #adopt(arrival: Arrival): Promise<boolean> {
    if (arrival.kind === 'http') {
      const server = this.#httpServer;
      if (server === undefined) {
        arrival.socket.destroy();
        return false;
      }
      // As if this worker had accepted it: the client's next request is read from here on.
      adoptSocket(server, arrival.socket, arrival.head, arrival.client, arrival.clientPort);
      this.#track(arrival.socket);
      this.counts.adopted++;
      return true;
    }
    const mover = this.#ws;
    const ws = arrival.ws as EventEmitter & { resume(): void; terminate(): void };
    if (mover === undefined) {
      ws.terminate();
      return false;
    }
    try {
      await mover.hooks.adopt(ws, arrival.state);
    } catch (error) {
      this.#fail(undefined, error, 'websocket adopt hook failed: closed');
      ws.terminate();
      return false;
    }
    this.counts.adopted++;
    if (!arrival.isPaused) ws.resume();
    return true;
  }
}
