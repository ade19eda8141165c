// Requests one worker sends another through the primary. Each gets an id of the primary's own
// (negative, so it never meets the primary's own requests' ids) and waits here for its response,
// which goes back to the asking worker under the id it chose.

export interface Forward {
  /** The asking worker and its request id. */
  readonly origin: number;
  readonly originId: number;
  /** The answering worker. */
  readonly target: number;
  readonly timer: NodeJS.Timeout;
}

/** Room for a response to arrive after the caller's own deadline (the caller drops it then). */
const SLACK_MS = 1_000;

export class ForwardTable {
  readonly #forwards = new Map<number, Forward>();
  #nextId = -1;

  /** Registers a forwarded request; forgotten at its deadline. Returns the id to send it under. */
  add(origin: number, originId: number, target: number, timeout: number): number {
    const id = this.#nextId--;
    const timer = setTimeout(() => this.#forwards.delete(id), timeout + SLACK_MS);
    timer.unref();
    this.#forwards.set(id, { origin, originId, target, timer });
    return id;
  }

  /** The forward answered by `id`, removed; undefined when unknown or past its deadline. */
  take(id: number): Forward | undefined {
    const forward = this.#forwards.get(id);
    if (forward === undefined) return undefined;
    this.#forwards.delete(id);
    clearTimeout(forward.timer);
    return forward;
  }

  /**
   * A worker is gone: forwards it should have answered are taken and returned (their askers get an
   * error); forwards it asked are dropped (nobody waits for them).
   */
  takeGone(worker: number): Forward[] {
    const unanswered: Forward[] = [];
    for (const [id, forward] of this.#forwards) {
      if (forward.target === worker) unanswered.push(this.take(id) as Forward);
      else if (forward.origin === worker) this.take(id);
    }
    return unanswered;
  }

  clear(): void {
    for (const forward of this.#forwards.values()) clearTimeout(forward.timer);
    this.#forwards.clear();
  }
}
