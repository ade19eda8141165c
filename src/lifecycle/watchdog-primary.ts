import type { Tracked } from './tracked-worker-primary.js';

// The liveness check behind `workerTimeout`: every ready worker gets a ping over IPC at a modest
// interval and answers it from its event loop. A worker silent for longer than the timeout (its loop
// is blocked, or it stopped reading its channel) is reported to the supervisor, which replaces it.
// Per tick: one shared message per worker, no allocation per connection or per handoff.

/** Heartbeats per `workerTimeout`: a worker misses several before it is given up on. */
const PINGS_PER_TIMEOUT = 5;
const MIN_INTERVAL_MS = 20;
const MAX_INTERVAL_MS = 5_000;

export interface WatchdogHost {
  /** The workers to watch now (ready, routed, not retiring). */
  watched(): Iterable<Tracked>;
  ping(tracked: Tracked): void;
  timedOut(tracked: Tracked, silentFor: number): void;
}

/** The heartbeat interval for a timeout: a fifth of it, within 20 ms … 5 s. */
export function heartbeatInterval(workerTimeout: number): number {
  return Math.max(MIN_INTERVAL_MS, Math.min(MAX_INTERVAL_MS, Math.floor(workerTimeout / PINGS_PER_TIMEOUT)));
}

export class Watchdog {
  readonly #timeout: number;
  readonly #host: WatchdogHost;
  #timer: NodeJS.Timeout | undefined;
  #interval = 0;
  #lastTick = 0;

  constructor(workerTimeout: number, host: WatchdogHost) {
    this.#timeout = workerTimeout;
    this.#host = host;
  }

  start(): void {
    if (this.#timeout === 0 || this.#timer !== undefined) return;
    this.#interval = heartbeatInterval(this.#timeout);
    this.#lastTick = performance.now();
    this.#timer = setInterval(this.#tick, this.#interval);
    // The watchdog never keeps a primary alive on its own.
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #tick = (): void => {
    const now = performance.now();
    // A tick this late means the primary itself was stalled: answers may be waiting unread in the
    // channels, so nobody is judged on this tick.
    const isLate = now - this.#lastTick > 2 * this.#interval;
    this.#lastTick = now;
    for (const tracked of this.#host.watched()) {
      const silentFor = now - tracked.lastSeen;
      // Rounded up: the event reports a silence longer than `workerTimeout`, as it was (2000.4 ms must not read 2000).
      if (silentFor > this.#timeout && !isLate) this.#host.timedOut(tracked, Math.ceil(silentFor));
      else this.#host.ping(tracked);
    }
  };
}
