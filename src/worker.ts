import cluster from 'node:cluster';
import { Socket, createServer, type Server, type SocketConstructorOpts } from 'node:net';
import { inheritedOptions, normalizeListenOptions, workerLifecycle, type ListenOptions, type ResolvedListenOptions, type WorkerLifecycle } from './options.js';
import { ErrorCode, StickyError } from './errors.js';
import { TAG, decodeMessage, encodeMessage, workerBus } from './ipc/index.js';
import {
  formatSessionId, adoptSocket, keyRuleOf, listenForHandoffs, listenOnHandle, watchUpstreamReuse,
} from './sticky/index.js';
import { workerRuntime, type WorkerRuntime } from './lifecycle/index.js';
import { resolveApp, type ResolvedApp, type StickyApp } from './app-server.js';
import { startWorkerFigures } from './ops/index.js';
import type { Logger } from './logger.js';

// Composition root in a worker: receives handed-off sockets, announces readiness, obeys close.

interface ConnectionEnvelope {
  [TAG]?: unknown;
  type?: unknown;
  payload?: { bytes?: unknown; client?: unknown; clientPort?: unknown };
}

const PONG = Object.freeze(encodeMessage('sticky:pong', Object.freeze({})));
const ignoreClosedChannel = (): void => {
  // The primary closed the channel (it is shutting down or gave up on this worker): nobody to answer.
};

export function createWorker(app: ResolvedApp, options: Readonly<ResolvedListenOptions>): void {
  const { server } = app;
  const slot = inheritedOptions().slot;
  const log = options.logger.child({ component: 'worker', ...(slot === undefined ? {} : { slot }), workerId: cluster.worker?.id ?? 0 });
  const runtime = workerRuntime();
  const lifecycle = workerLifecycle(options);
  const shutdown = runtime.attach(server, log, lifecycle);
  if (lifecycle.readiness === 'listen') runtime.readyRequested();
  // Kernel steering: accepts on the slot's socket that the primary holds and sent over (and, while
  // another slot is failed, on that slot's socket too, to serve what waited in its queue); each
  // connection joins the application's server exactly as a handed-off one does.
  const acceptors = new Map<number, Server>();
  const closeAcceptors = (): void => {
    for (const acceptor of acceptors.values()) acceptor.close();
    acceptors.clear();
  };
  const onAccepted = (socket: Socket): void => {
    if (!shutdown.isAccepting) {
      socket.destroy();
      return;
    }
    adoptSocket(server, socket, undefined);
    shutdown.track(socket);
  };
  // A draining worker stops taking connections: each socket's queue stays for the slot's next
  // worker (the primary holds the sockets open).
  // When the slot itself goes away (scale-down, shutdown), no other worker accepts on its socket and closing
  // the last copy would reset what the kernel still queued there: the primary makes the socket refuse new
  // handshakes and tells the worker (`sticky:unlisten`) once its queue is empty; the drain waits until then.
  let whenUnlistened: (() => void) | undefined;
  shutdown.onDrainBegin = (payload) => {
    if (payload.isSlotRemoved !== true || acceptors.size === 0 || !payload.waitForConnections) {
      closeAcceptors();
      return undefined;
    }
    return new Promise((resolve) => {
      // Bounded: past the drain's timeout the worker stops accepting whatever the primary said.
      const timer = setTimeout(() => whenUnlistened?.(), payload.timeout);
      whenUnlistened = () => {
        whenUnlistened = undefined;
        clearTimeout(timer);
        closeAcceptors();
        resolve();
      };
    });
  };
  // The application closed its server: the slot's clients wait in its socket's queue for the successor.
  shutdown.onServerClose = closeAcceptors;
  const acceptOn = (handle: unknown, backlog: number, slot: number): void => {
    if (acceptors.has(slot) || shutdown.isDraining || shutdown.isServerClosed) return;
    if (typeof handle !== 'object' || handle === null) return;
    const acceptor = createServer(onAccepted);
    acceptors.set(slot, acceptor);
    listenOnHandle(acceptor, handle, backlog).catch((error: unknown) => {
      // Its clients keep waiting in the slot's queue; exiting makes the primary start a replacement.
      log.error({ err: error, slot }, 'worker could not accept on a slot socket');
      process.exitCode = 1;
      process.disconnect?.();
    });
  };
  const stopAcceptingFor = (slot: number): void => {
    acceptors.get(slot)?.close();
    acceptors.delete(slot);
    if (acceptors.size === 0) whenUnlistened?.();
  };
  // Header and custom modes: a proxy that reuses one connection for several clients is reported.
  const rule = keyRuleOf(options.generatePrehashArray);
  const flushUpstreamReuse = rule === undefined ? undefined : watchUpstreamReuse(server, rule, (counts) => {
    process.send?.(encodeMessage('sticky:upstreamReuse', counts), undefined, {}, ignoreClosedChannel);
  });
  const figures = startWorkerFigures(server, { ...inheritedOptions(), registry: options.metricsRegistry, log }, {
    report: (report) => process.send?.(encodeMessage('sticky:figures', report), undefined, {}, ignoreClosedChannel),
    answer: (id, families) => process.send?.(encodeMessage('sticky:metrics', { id, families }), undefined, {}, ignoreClosedChannel),
  });
  // The bus endpoint exists from now on, so a request on a channel the app never handles is answered
  // STICKY_ERR_IPC_NO_HANDLER instead of waiting for its timeout.
  workerBus();

  process.on('message', (message: unknown, handle: unknown) => {
    // Hot path: a handed-off connection. Checked without the full decoder.
    const envelope = message as ConnectionEnvelope | null;
    if (handle !== undefined && typeof envelope === 'object' && envelope !== null && envelope[TAG] === 1 &&
        envelope.type === 'sticky:connection') {
      // IP mode sends the bare TCP handle ('net.Native'); wrap it the way Node wraps a sent socket.
      const socket = handle instanceof Socket ? handle : new Socket({ handle, readable: true, writable: true } as SocketConstructorOpts);
      if (!shutdown.isAccepting) {
        socket.destroy();
        return;
      }
      const payload = envelope.payload;
      const bytes = payload?.bytes;
      const client = payload?.client;
      const clientPort = payload?.clientPort;
      adoptSocket(server, socket, typeof bytes === 'string' ? bytes : undefined,
        typeof client === 'string' ? client : undefined, typeof clientPort === 'number' ? clientPort : undefined);
      shutdown.track(socket);
      return;
    }
    const decoded = decodeMessage(message);
    if (decoded.kind === 'version') log.warn({ version: decoded.version }, 'protocol version mismatch');
    else if (decoded.kind !== 'message') return;
    else if (decoded.message.type === 'sticky:ping') process.send?.(PONG, undefined, {}, ignoreClosedChannel);
    else if (decoded.message.type === 'sticky:listen') acceptOn(handle, decoded.message.payload.backlog, decoded.message.payload.slot);
    else if (decoded.message.type === 'sticky:unlisten') stopAcceptingFor(decoded.message.payload.slot);
    else if (decoded.message.type === 'sticky:unrouted') shutdown.unrouted();
    else if (decoded.message.type === 'sticky:metricsRequest') figures.answer(decoded.message.payload.id);
    else if (decoded.message.type === 'sticky:close') {
      flushUpstreamReuse?.();
      figures.flush();
      shutdown.close(decoded.message.payload);
    }
  });

  waitForApp(app, runtime, log);
  // The server listens on no socket (nothing but the primary can reach it); a server that already
  // listens is left as it is.
  void listenForHandoffs(server).then(() => {
    runtime.serverListening();
    watchRecycling(server, lifecycle);
  });
}

/**
 * A framework that must finish its start-up before it serves (Fastify runs its plugins and routes in
 * `ready()`; a request before that crashes in its 404 handler) holds the worker's readiness until then.
 */
function waitForApp(app: ResolvedApp, runtime: WorkerRuntime, log: Logger): void {
  if (app.whenReady === undefined) {
    runtime.appReady();
    return;
  }
  Promise.resolve(app.whenReady()).then(
    () => runtime.appReady(),
    (error: unknown) => {
      // A framework that failed to start cannot serve: the primary sees the exit and respawns.
      log.error({ err: error, app: app.kind }, 'app failed to start');
      throw new StickyError(ErrorCode.WorkerStartFailed, `The ${app.kind} app failed to start.`, { cause: error });
    },
  );
}

/**
 * `maxRequests` / `maxMemory`: past its limit the worker asks the primary to replace it; it keeps
 * serving until its replacement is ready and it is drained like in a rolling restart. The primary
 * passes this worker's limits (its request limit already jittered) through the environment.
 */
function watchRecycling(server: Server, { maxRequests, maxMemory, memoryCheckInterval: interval }: WorkerLifecycle): void {
  let requests = 0;
  let hasAskedForRequests = false;
  const ask = (reason: 'maxRequests' | 'maxMemory'): void => {
    process.send?.(encodeMessage('sticky:recycle', { reason, requests, rss: process.memoryUsage.rss() }));
  };
  if (maxRequests > 0) {
    // Hot path: one increment per request; the one message goes out once.
    server.on('request', () => {
      if (++requests < maxRequests || hasAskedForRequests) return;
      hasAskedForRequests = true;
      ask('maxRequests');
    });
  }
  if (maxMemory > 0) {
    // Asks again at each check while over the limit: the primary ignores repeats for a worker it
    // already replaces, and a replacement that failed to start is tried again.
    setInterval(() => {
      if (process.memoryUsage.rss() > maxMemory) ask('maxMemory');
    }, interval).unref();
  }
}

/** Asks the primary to shut the whole cluster down (the typed form of `['sticky:masterclose', wait]`). */
export function requestMasterClose(waitForConnections = false): Promise<void> {
  if (!cluster.isWorker || process.send === undefined) {
    return Promise.reject(new StickyError(ErrorCode.WrongProcess, '`requestMasterClose()` works only in a worker.', {
      hint: 'In the primary, call the `closeMaster` function that `listen()` returned.',
    }));
  }
  return new Promise((resolve, reject) => {
    (process.send as NonNullable<typeof process.send>)(encodeMessage('sticky:masterclose', { waitForConnections }), undefined, {}, (error: Error | null) => {
      if (error === null) resolve();
      else reject(new StickyError(ErrorCode.IpcClosed, 'The IPC channel to the primary is closed.', { cause: error }));
    });
  });
}

/**
 * The typed entry point in a worker: the primary hands this server its connections. `server` may
 * also be a Fastify app (the worker is ready once `app.ready()` resolved), an Express app or a Koa
 * app (each served by a new `http.Server`).
 * @throws {StickyError} `STICKY_ERR_WRONG_PROCESS` in the primary, `STICKY_ERR_INVALID_OPTION` for
 * anything that is not a server or a known app.
 */
export function attachWorker(server: StickyApp, options: ListenOptions = {}): void {
  if (!cluster.isWorker) {
    throw new StickyError(ErrorCode.WrongProcess, '`attachWorker()` works only in a worker.', {
      hint: 'In the primary, call `createPrimary()` and `listen()`.',
    });
  }
  createWorker(resolveApp(server), normalizeListenOptions(options));
}

/**
 * A Socket.IO (engine.io) session id that carries this worker's slot, for the primary's
 * `socketIoSessions` routing: every later request of the session reaches this slot's worker.
 * @throws {StickyError} `STICKY_ERR_WRONG_PROCESS` in the primary.
 * @example
 * const io = new Server(server);
 * io.engine.generateId = generateSessionId;
 */
export function generateSessionId(): string {
  const slot = inheritedOptions().slot;
  if (!cluster.isWorker || slot === undefined) {
    throw new StickyError(ErrorCode.WrongProcess, '`generateSessionId()` works only in a worker.', {
      hint: 'Set it as `io.engine.generateId` in the worker branch, where `listen()` returned null.',
    });
  }
  return formatSessionId(slot);
}
