// Warnings a peer can repeat at will (a worker sending the same bad message in a loop) are logged
// the first time, then at most once per interval, each logged one saying how many were left out.

/** One kind of warning about one peer. `take(now)` says whether to log it now. */
export class LogLimit {
  readonly #interval: number;
  #nextAt = Number.NEGATIVE_INFINITY;
  #suppressed = 0;

  /** @param interval ms between two logged warnings */
  constructor(interval: number) {
    this.#interval = interval;
  }

  /**
   * Another occurrence at `now` (ms, any monotonic clock). Returns how many occurrences were left out
   * since the last logged one when this one is to be logged, or undefined when it is left out.
   */
  take(now: number): number | undefined {
    if (now < this.#nextAt) {
      this.#suppressed++;
      return undefined;
    }
    const suppressed = this.#suppressed;
    this.#suppressed = 0;
    this.#nextAt = now + this.#interval;
    return suppressed;
  }
}

/** A LogLimit per peer, made on its first warning; `delete` a peer that is gone. */
export class LogLimits<K> {
  readonly #interval: number;
  readonly #limits = new Map<K, LogLimit>();

  constructor(interval: number) {
    this.#interval = interval;
  }

  take(key: K, now: number): number | undefined {
    let limit = this.#limits.get(key);
    if (limit === undefined) this.#limits.set(key, limit = new LogLimit(this.#interval));
    return limit.take(now);
  }

  delete(key: K): void {
    this.#limits.delete(key);
  }
}
