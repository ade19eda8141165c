import { Server as NetServer, type Server, type Socket } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import exitHook from 'async-exit-hook';
import type { Logger } from '../logger.js';
import { encodeMessage, type RuntimeMessageMap } from '../ipc/index.js';
import type { ConnectionGate, WorkerPlane } from '../sticky/index.js';
import { settlesWithin } from '../internal/deadline.js';
import {
  closeIdleHttpConnectionsExcept, emitSignal, isHttpConnection, responseOf, takeIdleHttpConnections,
} from '../internal/node-internals-worker.js';
import { decideAppClose, type AppCloseState, type WorkerShutdownState } from './server-close.js';

// A worker's part of shutdown: stop taking sockets, drain, run the exit hooks, exit. Also the
// application's own `server.close()` and the quiescence before a slot state handover, which share the
// drain's gentle close of the server's connections (this is why the file passes 250 lines).

/** A function the application registered with `onDrain()`; the drain waits for what it returns. */
export type DrainHook = () => unknown;

/**
 * While draining, an idle keep-alive socket stays open this long: a request the client already has in
 * flight is answered (with `Connection: close`) instead of being lost to a close that crosses it.
 */
const IDLE_GRACE_MS = 250;

/** Signals that start a worker's own graceful shutdown (drain, then the exit hooks). */
const DRAIN_SIGNALS = ['SIGINT', 'SIGTERM'] as const;

interface HttpLikeServer extends Server {
  closeIdleConnections(): void;
}

/** http.Server and https.Server (which is not an instance of http.Server) both track requests. */
const isHttpServer = (server: Server): server is HttpLikeServer =>
  typeof (server as Partial<HttpLikeServer>).closeIdleConnections === 'function';

type ServerCloseCallback = (error?: Error) => void;

/**
 * The attached server's shutdown; the worker's runtime makes the one of its process. It is the gate
 * of the data planes' worker halves (what they may still accept) and they take part in its drain.
 */
export class WorkerShutdown implements ConnectionGate {
  readonly #server: Server;
  readonly #log: Logger;
  readonly #drainHooks: readonly DrainHook[];
  readonly #planes: readonly WorkerPlane[];
  #state: WorkerShutdownState = 'running';
  #appClose: AppCloseState = 'none';
  /** Callbacks of the application's `server.close(cb)` calls while its close waits for the primary. */
  readonly #appCallbacks: ServerCloseCallback[] = [];
  /** Set once the runtime closed the server (the application's close or the drain): settles on 'close'. */
  #closed: Promise<void> | undefined;
  #isKeepAliveRefused = false;
  /** The worker hands its slot over to its successor: it takes no new slot socket. */
  #isHandingOver = false;
  #waitForConnections = true;
  readonly #drainTimeout: number;
  /** Handed-off sockets still open, for the drain. */
  readonly #sockets = new Set<Socket>();
  /** One 'close' listener for every socket (`this` is the socket): no closure per connection. */
  readonly #untrack: (this: Socket) => void;

  /** `planesOf` makes the data planes' worker halves, which take part in the drain. */
  constructor(
    server: Server, log: Logger, drainHooks: readonly DrainHook[],
    timeouts: { shutdownTimeout: number; drainTimeout: number },
    planesOf: (gate: ConnectionGate) => readonly WorkerPlane[],
  ) {
    const { shutdownTimeout, drainTimeout } = timeouts;
    this.#server = server;
    this.#log = log;
    this.#drainHooks = drainHooks;
    this.#planes = planesOf(this);
    this.#drainTimeout = drainTimeout;
    const sockets = this.#sockets;
    this.#untrack = function (this: Socket): void {
      sockets.delete(this);
    };
    // async-exit-hook cuts async hooks after 10 s by default; the primary's deadline governs instead.
    exitHook.forceExitTimeout(Math.max(10_000, shutdownTimeout));
    this.#takeOverSignals();
    this.#observeClose();
  }

  /**
   * The application closing its server (`server.close(cb)`, as sticky-session's graceful close does)
   * means this worker leaves its slot. An own property shadows the server's `close` (http's, https's
   * or net's); the runtime's drain closes through net.Server's prototype and is not seen here.
   */
  #observeClose(): void {
    const server = this.#server;
    const original = server.close;
    const onClose = (callback: unknown): Server => {
      const action = decideAppClose(this.#state, this.#appClose, process.connected === true);
      if (action === 'passThrough') return original.call(server, callback as ServerCloseCallback | undefined);
      if (typeof callback === 'function') this.#appCallbacks.push(callback as ServerCloseCallback);
      if (action === 'report') this.#leaveSlot();
      return server;
    };
    Object.defineProperty(server, 'close', { value: onClose, configurable: true, writable: true, enumerable: false });
  }

  /**
   * Tells the primary, which stops routing here and answers `sticky:unrouted` after the last socket it
   * sent; only then does the server close, so a socket already on its way is served, not lost. Slot
   * sockets (kernel steering) stop being accepted on at once: their clients wait for the successor.
   */
  #leaveSlot(): void {
    this.#appClose = 'pending';
    this.#log.info({}, 'server closed by the application: leaving the slot');
    for (const plane of this.#planes) plane.leaveSlot();
    this.#refuseKeepAlive();
    const complete = (): void => this.unrouted();
    process.once('disconnect', complete);
    process.send?.(encodeMessage('sticky:serverClose', {}), undefined, {}, (error: Error | null) => {
      if (error !== null) complete();
    });
  }

  /** The primary sends nothing more (or is gone): the application's close runs now. */
  unrouted(): void {
    if (this.#appClose !== 'pending') return;
    this.#appClose = 'done';
    const server = this.#server;
    const [first, ...later] = this.#appCallbacks.splice(0);
    if (first !== undefined) server.once('close', first);
    void this.#closeServer();
    // A repeated close gets Node's own answer: ERR_SERVER_NOT_RUNNING once the server closed.
    for (const callback of later) NetServer.prototype.close.call(server, callback);
    if (isHttpServer(server)) setTimeout(() => server.closeIdleConnections(), IDLE_GRACE_MS).unref();
  }

  /** The application closed the server (its close may still wait for the primary). */
  get isServerClosed(): boolean {
    return this.#appClose !== 'none';
  }

  /**
   * Ctrl-C and `kill` to the process group reach the worker directly. async-exit-hook would run the
   * exit hooks at once and exit mid-request; instead the worker drains first, as on the primary's
   * close message (which follows for the same signal), and runs the hooks after. A no-op hook makes
   * async-exit-hook register its signal listeners now, so they can be replaced; it registers them
   * only once, for its first hook.
   */
  #takeOverSignals(): void {
    exitHook(noop);
    for (const signal of DRAIN_SIGNALS) {
      exitHook.unhookEvent(signal);
      process.on(signal, this.#onSignal);
    }
    // SIGHUP asks the primary for a rolling restart; a copy that reaches the whole process group
    // (`kill -HUP -pgid`, a closing terminal) must not also end every worker at once. The primary
    // replaces the workers.
    if (process.platform !== 'win32') {
      exitHook.unhookEvent('SIGHUP');
      process.on('SIGHUP', noop);
    }
  }

  #onSignal = (): void => {
    this.close({ waitForConnections: true, timeout: this.#drainTimeout });
  };

  get isDraining(): boolean {
    return this.#state !== 'running';
  }

  /** Draining, handing the slot over, or the application closed its server: no new slot socket is taken. */
  get isLeaving(): boolean {
    return this.isDraining || this.isServerClosed || this.#isHandingOver;
  }

  /**
   * Before a slot state handover: the worker takes no new connection of its slot and its responses
   * carry `Connection: close`; `moveIdle` gets the idle keep-alive connections (stopped reading between
   * two requests: they move to the successor); settles once the other HTTP connections (their request
   * answered) closed, or after `timeout` ms. Upgraded connections (WebSockets) do not count.
   */
  quiesce(timeout: number, moveIdle: (sockets: Socket[]) => void): Promise<void> {
    this.#isHandingOver = true;
    for (const plane of this.#planes) plane.leaveSlot();
    const server = this.#server;
    if (!isHttpServer(server)) return Promise.resolve();
    this.#refuseKeepAlive();
    const idle = takeIdleHttpConnections(server, this.#sockets);
    if (idle.length > 0) moveIdle(idle);
    const moving = new Set(idle);
    const open: Promise<unknown>[] = [];
    for (const socket of this.#sockets) {
      if (socket.destroyed || moving.has(socket) || !isHttpConnection(socket)) continue;
      this.#closeWhenIdle(socket);
      open.push(new Promise((resolve) => socket.once('close', resolve)));
    }
    if (open.length === 0) return Promise.resolve();
    // One that was idle but not movable (TLS) closes after the grace; the ones on their way stay.
    const grace = setTimeout(() => closeIdleHttpConnectionsExcept(server, moving), Math.min(IDLE_GRACE_MS, timeout));
    return settlesWithin(Promise.all(open), timeout).then(() => clearTimeout(grace));
  }

  /**
   * The worker cannot serve its slot: logged, and it leaves with exit code 1. Closing the channel makes
   * the primary replace it (and end it, should something of the application keep it running).
   */
  fail(error: unknown, message: string, fields: Record<string, unknown> = {}): void {
    this.#log.error({ err: error, ...fields }, message);
    process.exitCode = 1;
    if (process.connected) process.disconnect?.();
  }

  /** False once the worker must not take new sockets (shutdown without waiting). */
  get isAccepting(): boolean {
    return this.#state === 'running' || this.#waitForConnections;
  }

  /** Hot path: remember a handed-off socket for the drain. */
  track(socket: Socket): void {
    this.#sockets.add(socket);
    // 'close' fires once; on() spares the wrapper once() would allocate per connection.
    socket.on('close', this.#untrack);
    const isClosing = this.#state !== 'running' || this.#appClose !== 'none';
    if (isClosing && isHttpServer(this.#server)) this.#closeWhenIdle(socket);
  }

  close(payload: RuntimeMessageMap['sticky:close']): void {
    // The close request follows every socket routed here, and a signal means shutdown.
    this.unrouted();
    if (this.#state !== 'running') {
      if (!payload.waitForConnections && this.#waitForConnections) {
        this.#waitForConnections = false;
        this.#destroyAll();
      }
      return;
    }
    this.#state = 'draining';
    this.#waitForConnections = payload.waitForConnections;
    // A plane that still takes connections (a removed slot's socket until the primary drained it) holds
    // the drain back (Connection: close meanwhile).
    const held = this.#planes.map((plane) => plane.drainBegin(payload)).filter((hold) => hold !== undefined);
    const accepting = held.length === 0 ? undefined : Promise.all(held).then(() => undefined);
    this.#log.info({ waitForConnections: payload.waitForConnections }, 'drain begin');
    void this.#drain(payload.timeout, accepting).then(() => this.#exit());
  }

  async #drain(timeout: number, accepting: Promise<void> | undefined): Promise<void> {
    const server = this.#server;
    if (accepting !== undefined && this.#waitForConnections) {
      this.#refuseKeepAlive();
      await settlesWithin(accepting, timeout);
    }
    const closed = this.#closeServer();
    let grace: NodeJS.Timeout | undefined;
    if (!this.#waitForConnections) {
      this.#destroyAll();
    } else if (isHttpServer(server)) {
      this.#refuseKeepAlive();
      for (const socket of this.#sockets) this.#closeWhenIdle(socket);
      grace = setTimeout(() => server.closeIdleConnections(), Math.min(IDLE_GRACE_MS, timeout));
    }
    const hooks = Promise.all(this.#drainHooks.map((hook) => Promise.resolve().then(hook).catch((error: unknown) => {
      this.#log.error({ err: error }, 'drain hook failed');
    })));
    await settlesWithin(Promise.all([closed, hooks]), timeout);
    clearTimeout(grace);
    // A socket destroyed a moment ago stays tracked until its 'close' event (a later turn of the
    // loop): only the ones still open outlived the drain.
    let open = 0;
    for (const socket of this.#sockets) if (!socket.destroyed) open++;
    if (open > 0) {
      this.#log.warn({ open }, 'drain deadline: destroying open connections');
      this.#destroyAll();
    }
    this.#log.info({}, 'drain end');
  }

  /**
   * net's close, not http's: http.Server#close() also destroys idle keep-alive sockets at once, and a
   * client that sends requests back to back is "idle" for an instant between a response and its next
   * request, which would be lost in flight (as would a socket handed over a moment ago, whose request
   * has not been parsed yet). Idle sockets close after a grace instead. Once, for both closes.
   */
  #closeServer(): Promise<void> {
    this.#closed ??= new Promise<void>((resolve) => NetServer.prototype.close.call(this.#server, () => resolve()));
    return this.#closed;
  }

  /** Responses from now on carry `Connection: close` (after the application's close, those in flight too). */
  #refuseKeepAlive(): void {
    const server = this.#server;
    if (this.#isKeepAliveRefused || !isHttpServer(server)) return;
    this.#isKeepAliveRefused = true;
    server.prependListener('request', noKeepAlive);
    if (this.#appClose !== 'none') for (const socket of this.#sockets) this.#closeWhenIdle(socket);
  }

  /** In-flight responses carry `Connection: close`; an idle keep-alive socket closes after the grace. */
  #closeWhenIdle(socket: Socket): void {
    const response = responseOf(socket);
    if (response === undefined) return; // idle: closed after the grace; upgraded: the app's
    if (!response.headersSent) response.shouldKeepAlive = false;
    else response.once('finish', () => socket.end());
  }

  #destroyAll(): void {
    for (const socket of this.#sockets) socket.destroy();
  }

  #exit(): void {
    this.#state = 'closing';
    for (const signal of DRAIN_SIGNALS) process.removeListener(signal, this.#onSignal);
    // Give SIGINT back to async-exit-hook and raise it: that runs every hook registered with it
    // (ours and the application's), awaits the async ones and exits with 130. An application SIGINT
    // listener runs too, as sticky-session-custom did.
    exitHook.hookEvent('SIGINT', 130);
    emitSignal('SIGINT');
  }
}

function noop(): void {}

function noKeepAlive(_request: IncomingMessage, response: ServerResponse): void {
  response.shouldKeepAlive = false;
}
