import { closeSync, openSync } from 'node:fs';
import { devNull } from 'node:os';
import type { Logger } from '../../logger.js';
import { ACCEPT_BACKOFF, nextAcceptPause } from './accept-backoff.js';

// The primary hop's answer to running out of file descriptors. libuv never reports a failed accept()
// to JavaScript: at EMFILE/ENFILE it spends a spare descriptor it keeps to accept and at once close
// every waiting connection, re-opening the spare afterwards (uv__emfile_trick in src/unix/stream.c).
// When it cannot re-open it (the system-wide table is full, another thread took the descriptor), it
// retries accept() on every turn of the event loop: a busy loop that lasts as long as the shortage.
// Nothing in either case reaches net.Server's 'error' (lib/net.js onconnection).
//
// So the primary looks for itself: a cheap check (open and close the null device) every
// `probeInterval`. When no descriptor is left it closes its listening socket, so neither libuv nor the
// clients spin on it: the kernel refuses new connections (clients see ECONNREFUSED at once and may
// retry) instead of accepting what the primary would drop. It checks again after a short pause that
// doubles while the shortage lasts, and listens again on the same address as soon as a descriptor is
// free. Node cannot stop polling a listening socket without closing it, nor duplicate one to keep its
// accept queue meanwhile.

/** What the guard acts on: the balancer's listening socket. */
export interface AcceptGuardTarget {
  /** Closes the listening socket. */
  stop(): void;
  /** Listens again on the same address; rejects when it cannot (EMFILE, EADDRINUSE…). */
  listen(): Promise<void>;
}

export class AcceptGuard {
  readonly #target: AcceptGuardTarget;
  readonly #log: Logger;
  #timer: NodeJS.Timeout | undefined;
  #isRunning = false;
  #isPaused = false;
  #pauses = 0;
  #delay: number | undefined;
  #pausedAt = 0;
  #resumedAt = -Infinity;

  constructor(target: AcceptGuardTarget, log: Logger) {
    this.#target = target;
    this.#log = log;
  }

  /** Times the primary stopped accepting because it had no file descriptor left. */
  get pauses(): number {
    return this.#pauses;
  }

  get isPaused(): boolean {
    return this.#isPaused;
  }

  /** Starts checking, once the listening socket is open. */
  start(): void {
    this.#isRunning = true;
    this.#schedule(ACCEPT_BACKOFF.probeInterval, this.#check);
  }

  /** Stops for good (the balancer stops accepting); the caller closes the socket if it is open. */
  stop(): void {
    this.#isRunning = false;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(delay: number, run: () => void): void {
    this.#timer = setTimeout(run, delay);
    // The workers' channels keep the primary alive; this timer alone must not.
    this.#timer.unref();
  }

  #check = (): void => {
    if (!this.#isRunning) return;
    const code = descriptorShortage();
    if (code === undefined) {
      this.#schedule(ACCEPT_BACKOFF.probeInterval, this.#check);
      return;
    }
    this.#pauses++;
    this.#isPaused = true;
    this.#pausedAt = performance.now();
    this.#delay = nextAcceptPause(this.#delay, this.#pausedAt - this.#resumedAt);
    this.#target.stop();
    this.#log.warn({ code, retryIn: this.#delay }, 'out of file descriptors: stopped accepting');
    this.#schedule(this.#delay, this.#resume);
  };

  #resume = (): void => {
    if (!this.#isRunning) return;
    // Two: the listening socket takes one again (the one its close freed, which alone would let the
    // guard resume into the same shortage and drop clients until the next check), the next client one.
    const code = descriptorShortage(2);
    if (code !== undefined) {
      this.#retryLater();
      return;
    }
    this.#target.listen().then(() => {
      if (!this.#isRunning) {
        // Stopped for good while the socket was opening.
        this.#target.stop();
        return;
      }
      this.#isPaused = false;
      this.#resumedAt = performance.now();
      const pausedFor = Math.round(this.#resumedAt - this.#pausedAt);
      this.#log.info({ pausedFor }, 'file descriptors free again: accepting');
      this.#schedule(ACCEPT_BACKOFF.probeInterval, this.#check);
    }, (error: unknown) => {
      if (!this.#isRunning) return;
      // EMFILE again (taken meanwhile): keep trying. Another process took the port: say so, keep trying.
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EMFILE' || code === 'ENFILE') this.#log.debug({ err: error }, 'listening again failed');
      else this.#log.error({ err: error }, 'cannot listen again on the public port');
      this.#retryLater();
    });
  };

  #retryLater(): void {
    this.#delay = nextAcceptPause(this.#delay, 0);
    this.#schedule(this.#delay, this.#resume);
  }
}

/** 'EMFILE' or 'ENFILE' when the process cannot open `count` more descriptors now, else undefined. */
function descriptorShortage(count = 1): string | undefined {
  const opened: number[] = [];
  try {
    for (let i = 0; i < count; i++) opened.push(openSync(devNull, 'r'));
    return undefined;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // Any other failure (no null device in a chroot) says nothing about descriptors: keep accepting.
    return code === 'EMFILE' || code === 'ENFILE' ? code : undefined;
  } finally {
    for (const fd of opened) closeSync(fd);
  }
}
