import type { Worker } from 'node:cluster';
import { ErrorCode, StickyError } from '../errors.js';

// Bus traffic for a slot without a ready worker (a crash being respawned): it waits for the slot's
// next worker like the slot's connections do, bounded in count (slotQueueLimit) and time
// (slotWaitTimeout), and then fails with STICKY_ERR_IPC_NO_WORKER. A request whose caller gave up
// meanwhile (its own timeout, an abort) leaves the queue: the next worker never sees it.

interface Waiting {
  readonly deliver: (worker: Worker) => void;
  readonly fail: (error: StickyError) => void;
  readonly timer: NodeJS.Timeout;
}

export class SlotWaiters {
  readonly #bySlot = new Map<number, Waiting[]>();
  readonly #limit: number;
  readonly #timeout: number;

  constructor(limit: number, timeout: number) {
    this.#limit = limit;
    this.#timeout = timeout;
  }

  /**
   * Queues a delivery for the slot's next ready worker. `expiresIn`: ms after which its caller no
   * longer waits (a forwarded request's own timeout); it is then dropped without a word but
   * `onExpire`. Returns a cancel that drops it now; undefined when it failed at once.
   */
  wait(
    slot: number, deliver: (worker: Worker) => void, fail: (error: StickyError) => void,
    expiresIn = Infinity, onExpire?: () => void,
  ): (() => void) | undefined {
    const list = this.#bySlot.get(slot) ?? [];
    if (list.length >= this.#limit) {
      fail(noWorker(
        `Slot ${slot} has no ready worker and ${list.length} messages already wait for it (\`slotQueueLimit\`).`,
      ));
      return undefined;
    }
    const isExpiry = expiresIn < this.#timeout;
    const item: Waiting = {
      deliver,
      fail,
      timer: setTimeout(() => {
        this.#remove(slot, item);
        if (isExpiry) onExpire?.();
        else fail(noWorker(`Slot ${slot} had no ready worker within \`slotWaitTimeout\` (${this.#timeout} ms).`));
      }, isExpiry ? expiresIn : this.#timeout),
    };
    item.timer.unref();
    list.push(item);
    this.#bySlot.set(slot, list);
    return () => {
      clearTimeout(item.timer);
      this.#remove(slot, item);
    };
  }

  /** The slot's worker is ready: everything that waited for it goes to it, in order. */
  release(slot: number, worker: Worker): void {
    const list = this.#bySlot.get(slot);
    if (list === undefined) return;
    this.#bySlot.delete(slot);
    for (const item of list) {
      clearTimeout(item.timer);
      item.deliver(worker);
    }
  }

  failAll(error: () => StickyError): void {
    for (const list of this.#bySlot.values()) {
      for (const item of list) {
        clearTimeout(item.timer);
        item.fail(error());
      }
    }
    this.#bySlot.clear();
  }

  #remove(slot: number, item: Waiting): void {
    const list = this.#bySlot.get(slot);
    const index = list?.indexOf(item) ?? -1;
    if (index !== -1) list?.splice(index, 1);
    if (list?.length === 0) this.#bySlot.delete(slot);
  }
}

export function noWorker(message: string): StickyError {
  return new StickyError(ErrorCode.IpcNoWorker, message, {
    hint: 'Address a live worker: `{ workerId }` of a connected worker, a slot below the worker count,'
      + ' or a routing key.',
  });
}
