import cluster from 'node:cluster';
import type { Server } from 'node:net';
import {
  inheritedOptions, normalizeListenOptions, workerLifecycle,
  type ListenOptions, type ResolvedListenOptions, type WorkerLifecycle,
} from './options/index.js';
import { ErrorCode, StickyError } from './errors.js';
import { decodeMessage, encodeMessage, tellPrimary, workerBus } from './ipc/index.js';
import {
  HopWorker, KernelWorker, formatSessionId, keyRuleOf, listenForHandoffs, watchUpstreamReuse,
} from './sticky/index.js';
import { workerHandover, workerRuntime, type WorkerRuntime, type WorkerShutdown } from './lifecycle/index.js';
import { resolveApp, type ResolvedApp, type StickyApp } from './app-server.js';
import { startWorkerFigures } from './ops/index.js';

// Composition root in a worker: the data planes' worker halves (the primary chose the plane; each half
// answers only its own messages), readiness, and the primary's control messages.

const PONG = Object.freeze(encodeMessage('sticky:pong', Object.freeze({})));

export function createWorker(app: ResolvedApp, options: Readonly<ResolvedListenOptions>): void {
  const { server } = app;
  const slot = inheritedOptions().slot;
  const log = options.logger.child({
    component: 'worker', ...(slot === undefined ? {} : { slot }), workerId: cluster.worker?.id ?? 0,
  });
  const runtime = workerRuntime();
  const lifecycle = workerLifecycle(options);
  const { shutdown, planes: [hop, kernel] } = runtime.attach(server, log, lifecycle,
    (gate) => [new HopWorker(server, gate), new KernelWorker(server, gate)] as const);
  if (lifecycle.readiness === 'listen') runtime.readyRequested();
  const handover = workerHandover();
  handover.attach(server, log, shutdown);
  // Header and custom modes: a proxy that reuses one connection for several clients is reported.
  const rule = keyRuleOf(options.generatePrehashArray);
  const flushUpstreamReuse = rule === undefined ? undefined : watchUpstreamReuse(server, rule, (counts) => {
    tellPrimary(encodeMessage('sticky:upstreamReuse', counts));
  });
  const send = tellPrimary;
  const figures = startWorkerFigures(server, { ...inheritedOptions(), registry: options.metricsRegistry, log }, {
    report: (report) => send(encodeMessage('sticky:figures', report)),
    answer: (id, families) => send(encodeMessage('sticky:metrics', { id, families })),
  });
  // The bus endpoint exists from now on, so a request on a channel the app never handles is answered
  // STICKY_ERR_IPC_NO_HANDLER instead of waiting for its timeout.
  workerBus();
  process.on('message', (message: unknown, handle: unknown) => {
    // Hot path first: a handed-off connection, checked without the full decoder.
    if (hop.receive(message, handle)) return;
    const decoded = decodeMessage(message);
    if (decoded.kind === 'version') log.warn({ version: decoded.version }, 'protocol version mismatch');
    else if (decoded.kind !== 'message' || kernel.receive(decoded.message, handle)) return;
    else if (decoded.message.type === 'sticky:ping') tellPrimary(PONG);
    else if (decoded.message.type === 'sticky:unrouted') shutdown.unrouted();
    else if (decoded.message.type === 'sticky:metricsRequest') figures.answer(decoded.message.payload.id);
    else if (decoded.message.type === 'sticky:handoffChannel') hop.useChannel(handle, decoded.message.payload.maxBytes);
    else if (decoded.message.type === 'sticky:handoverChannel') {
      handover.receiveChannel(decoded.message.payload.role, decoded.message.payload.maxBytes, handle);
    } else if (decoded.message.type === 'sticky:handoverMoves') {
      handover.moves.useChannel(decoded.message.payload.role, handle, decoded.message.payload.maxBytes);
    } else if (decoded.message.type === 'sticky:handoverSocket') {
      handover.receiveSocket(decoded.message.payload, handle);
    } else if (decoded.message.type === 'sticky:handoverUnsent') {
      handover.moves.forgo(decoded.message.payload.count);
    } else if (decoded.message.type === 'sticky:handoverBegin') handover.begin(decoded.message.payload.timeout);
    else if (decoded.message.type === 'sticky:startEmpty') handover.startEmpty(decoded.message.payload.reason);
    else if (decoded.message.type === 'sticky:close') {
      flushUpstreamReuse?.();
      figures.flush();
      shutdown.close(decoded.message.payload);
    }
  });
  waitForApp(app, runtime, shutdown);
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
function waitForApp(app: ResolvedApp, runtime: WorkerRuntime, shutdown: WorkerShutdown): void {
  if (app.whenReady === undefined) {
    runtime.appReady();
    return;
  }
  Promise.resolve(app.whenReady()).then(
    () => runtime.appReady(),
    // A framework that failed to start cannot serve: the primary sees the worker leave and respawns.
    (error: unknown) => shutdown.fail(error, 'app failed to start', { app: app.kind }),
  );
}

/**
 * `maxRequests` / `maxMemory`: past its limit the worker asks the primary to replace it; it keeps
 * serving until its replacement is ready and it is drained like in a rolling restart. The primary
 * passes this worker's limits (its request limit already jittered) through the environment.
 */
function watchRecycling(
  server: Server, { maxRequests, maxMemory, memoryCheckInterval: interval }: WorkerLifecycle,
): void {
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
    const message = encodeMessage('sticky:masterclose', { waitForConnections });
    (process.send as NonNullable<typeof process.send>)(message, undefined, {}, (error: Error | null) => {
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
