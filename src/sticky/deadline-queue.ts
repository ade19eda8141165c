// The one wait of the data path: a connection waits at most `slotWaitTimeout` for its worker, then
// fails over. Used twice with that meaning: a slot's queue while the slot has no ready worker, and a
// worker's handoff queue while that worker acknowledges nothing. Belongs to no plane (safe on both sides).

/** Called with each entry that waited past the deadline, oldest first. */
export type Expired<T> = (item: T) => void;

export class DeadlineQueue<T> {
  readonly #timeout: number;
  readonly #expired: Expired<T>;
  /**
   * When the consumer last made progress (performance.now()), or undefined when that does not count:
   * an entry is due `timeout` ms after the later of its arrival and that moment.
   */
  readonly #progressAt: (() => number) | undefined;
  #items: (T | undefined)[] = [];
  #since: number[] = [];
  #head = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(timeout: number, expired: Expired<T>, progressAt?: () => number) {
    this.#timeout = timeout;
    this.#expired = expired;
    this.#progressAt = progressAt;
  }

  get size(): number {
    return this.#items.length - this.#head;
  }

  push(item: T): void {
    this.#items.push(item);
    this.#since.push(performance.now());
    if (this.#timer === undefined) this.#arm();
  }

  /** The oldest entry, or undefined when empty. */
  shift(): T | undefined {
    if (this.#head === this.#items.length) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head] = undefined;
    this.#head++;
    if (this.#head === this.#items.length) this.#reset();
    return item;
  }

  /** Empties the queue and stops its deadline; returns what waited, oldest first. */
  take(): T[] {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    const items = this.#items.slice(this.#head) as T[];
    this.#reset();
    return items;
  }

  #reset(): void {
    this.#items = [];
    this.#since = [];
    this.#head = 0;
  }

  #dueAt(since: number): number {
    const progress = this.#progressAt?.();
    return (progress === undefined ? since : Math.max(since, progress)) + this.#timeout;
  }

  #arm(): void {
    const oldest = this.#since[this.#head];
    if (oldest === undefined) return;
    this.#timer = setTimeout(this.#expire, Math.max(0, this.#dueAt(oldest) - performance.now()));
    this.#timer.unref();
  }

  #expire = (): void => {
    this.#timer = undefined;
    const now = performance.now();
    while (this.size > 0 && this.#dueAt(this.#since[this.#head] as number) <= now) {
      this.#expired(this.shift() as T);
    }
    if (this.#timer === undefined) this.#arm();
  };
}
