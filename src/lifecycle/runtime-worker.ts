import cluster from 'node:cluster';
import type { Server } from 'node:net';
import exitHook from 'async-exit-hook';
import type { Logger } from '../logger.js';
import { ErrorCode, StickyError } from '../errors.js';
import { encodeMessage } from '../ipc/index.js';
import type { ConnectionGate, WorkerPlane } from '../sticky/index.js';
import { WorkerShutdown, type DrainHook } from './shutdown-worker.js';

// One worker process's state, held by one object made once per process (as Node's cluster keeps
// `cluster.worker`): the attached server's shutdown, its readiness, the application's hooks.

/**
 * Readiness: the server is attached (listening on no socket), the framework finished its start-up
 * (Fastify's `ready()`), and, with manual readiness, the app called `ready()`.
 */
interface Readiness {
  isListening: boolean;
  isAppReady: boolean;
  isRequested: boolean;
  isAnnounced: boolean;
}

export class WorkerRuntime {
  readonly #readiness: Readiness = { isListening: false, isAppReady: false, isRequested: false, isAnnounced: false };
  /** Registered with `onDrain()`, before or after a server is attached. */
  readonly #drainHooks: DrainHook[] = [];
  /** Set once, when a server is attached. */
  #shutdown: WorkerShutdown | undefined;
  #log: Logger | undefined;

  /**
   * Attaches this worker's one server: its shutdown (drain, exit hooks, signals) starts now.
   * @throws {StickyError} `STICKY_ERR_INVALID_STATE` when a server is already attached.
   */
  attach<P extends readonly WorkerPlane[]>(
    server: Server, log: Logger, timeouts: { shutdownTimeout: number; drainTimeout: number },
    planesOf: (gate: ConnectionGate) => P,
  ): { shutdown: WorkerShutdown; planes: P } {
    if (this.#shutdown !== undefined) {
      throw new StickyError(ErrorCode.InvalidState, 'A server is already attached in this worker.', {
        hint: 'Call `listen()` (or `attachWorker()`) once per worker; put several apps behind one server.',
      });
    }
    this.#log = log;
    // The planes' worker halves take part in the drain; the shutdown is their gate.
    let planes: P | undefined;
    this.#shutdown = new WorkerShutdown(server, log, this.#drainHooks, timeouts, (gate) => (planes = planesOf(gate)));
    return { shutdown: this.#shutdown, planes: planes as P };
  }

  /** The attached server listens (on no socket: the primary hands it connections). */
  serverListening(): void {
    this.#readiness.isListening = true;
    this.#announceReady();
  }

  /** The framework finished its start-up (at once for a plain server). */
  appReady(): void {
    this.#readiness.isAppReady = true;
    this.#announceReady();
  }

  /** Readiness is asked for: by `ready()`, or at once with `readiness: 'listen'`. */
  readyRequested(): void {
    this.#readiness.isRequested = true;
    this.#announceReady();
  }

  addDrainHook(hook: DrainHook): void {
    this.#drainHooks.push(hook);
  }

  /** The attached server's logger; undefined until a server is attached. */
  get log(): Logger | undefined {
    return this.#log;
  }

  #announceReady(): void {
    const readiness = this.#readiness;
    if (readiness.isAnnounced || !readiness.isListening || !readiness.isAppReady || !readiness.isRequested) return;
    readiness.isAnnounced = true;
    process.send?.(encodeMessage('sticky:ready', {}));
  }
}

let runtime: WorkerRuntime | undefined;

/** This worker process's runtime, made on first use. */
export function workerRuntime(): WorkerRuntime {
  runtime ??= new WorkerRuntime();
  return runtime;
}

/**
 * With `readiness: 'manual'`, tells the primary this worker finished its async start-up and may
 * receive connections. It may be called before or after `listen()`; repeated calls do nothing.
 * @throws {StickyError} `STICKY_ERR_WRONG_PROCESS` in the primary.
 */
export function ready(): void {
  if (!cluster.isWorker) {
    throw new StickyError(ErrorCode.WrongProcess, '`ready()` works only in a worker.', {
      hint: 'Call it in the worker branch, where `listen()` returned null.',
    });
  }
  workerRuntime().readyRequested();
}

/**
 * Registers async cleanup that runs before the worker exits, after draining: on shutdown, on
 * SIGINT/SIGTERM (Ctrl-C) and on a rolling restart. The worker waits for the returned promise.
 * Unlike `exitHook(async () => …)`, whose zero-argument hook async-exit-hook does not wait for.
 */
export function onShutdown(hook: () => unknown): void {
  assertWorker('onShutdown');
  exitHook((done) => {
    Promise.resolve()
      .then(hook)
      .catch((error: unknown) => workerRuntime().log?.error({ err: error }, 'shutdown hook failed'))
      .finally(done);
  });
}

/**
 * Registers a function that runs when the worker starts draining, before the exit hooks: close
 * upgraded connections (WebSockets) here; the drain waits for the returned promise.
 */
export function onDrain(hook: () => unknown): void {
  assertWorker('onDrain');
  workerRuntime().addDrainHook(hook);
}

function assertWorker(name: string): void {
  if (typeof cluster.isWorker === 'boolean' && !cluster.isWorker) {
    throw new StickyError(ErrorCode.WrongProcess, `\`${name}()\` works only in a worker.`, {
      hint: 'In the primary, use the `shutdownEnd` event or the `closeMaster` callback.',
    });
  }
}
