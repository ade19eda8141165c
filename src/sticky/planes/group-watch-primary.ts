import type { Logger } from '../../logger.js';
import { ErrorCode, StickyError } from '../../errors.js';

// What the kernel plane reports about its reuseport group's members: each look at the port's
// listeners (at open, around every grow and shrink, and every `groupCheckInterval` ms) tells this
// watch which sockets on the port are not the cluster's. A socket not seen before is an intrusion:
// logged once as an error, counted and emitted. The group being back to the cluster's own sockets
// is logged and emitted too. Counting is cheap; nothing here runs per connection.

/** Counters of the kernel plane's group checks (all 0 on the primary hop). */
export interface KernelGroupStats {
  /** Sockets of another process listening on the public port now (a level). */
  foreignListeners: number;
  /** Foreign listening sockets detected so far (each counted once). */
  intrusions: number;
  /** Checks of the port's listeners so far (periodic and around scaling). */
  groupChecks: number;
  /** Times the routing program was attached again by a periodic check. */
  programRestores: number;
  /** Scales refused because the new slot's place in the group could not be verified. */
  refusedScales: number;
}

/** The `foreignListener` event: a socket the cluster does not own listens on its port. */
export interface ForeignListenerInfo {
  port: number;
  /** Foreign listening sockets on the port now. */
  count: number;
  /** Their inodes (`ss -ltnpe` shows them as `ino:`), the new ones first. */
  inodes: number[];
  /** `STICKY_ERR_FOREIGN_LISTENER`, with what it can take and what to do. */
  error: StickyError;
}

/** The `foreignListenerGone` event: only the cluster's own sockets listen on its port again. */
export interface ForeignListenerGoneInfo {
  port: number;
}

export interface GroupWatchEvents {
  foreignListener: ForeignListenerInfo;
  foreignListenerGone: ForeignListenerGoneInfo;
}

export type GroupWatchEmit = <K extends keyof GroupWatchEvents>(event: K, payload: GroupWatchEvents[K]) => void;

export function foreignListenerError(port: number, count: number): StickyError {
  return new StickyError(ErrorCode.ForeignListener,
    `${count} socket(s) of another process listen on port ${port} beside the cluster's own: ` +
    'a process of the same user joined its SO_REUSEPORT group and can take its connections.', {
      hint: `Find it with \`ss -ltnpe 'sport = :${port}'\` (the ino: field) and stop it. ` +
        'The routing program is attached again at every check (`groupCheckInterval`); '
        + 'no slot is added while it listens.',
    });
}

export class GroupWatch {
  readonly stats: KernelGroupStats = {
    foreignListeners: 0, intrusions: 0, groupChecks: 0, programRestores: 0, refusedScales: 0,
  };
  readonly #port: number;
  readonly #log: Logger;
  readonly #emit: GroupWatchEmit;
  /** Foreign inodes present at the last check. */
  #present = new Set<number>();
  /** Every foreign inode reported, so one socket is one intrusion however long it stays. */
  readonly #reported = new Set<number>();

  constructor(port: number, log: Logger, emit: GroupWatchEmit) {
    this.#port = port;
    this.#log = log;
    this.#emit = emit;
  }

  /** The result of one check: the foreign inodes on the port now. */
  observe(foreign: readonly number[]): void {
    this.stats.groupChecks++;
    this.stats.foreignListeners = foreign.length;
    const fresh = foreign.filter((inode) => !this.#reported.has(inode));
    const wasForeign = this.#present.size > 0;
    this.#present = new Set(foreign);
    if (fresh.length > 0) {
      for (const inode of fresh) this.#reported.add(inode);
      this.stats.intrusions += fresh.length;
      const error = foreignListenerError(this.#port, foreign.length);
      const inodes = [...fresh, ...foreign.filter((inode) => !fresh.includes(inode))];
      this.#log.error({ err: error, port: this.#port, inodes, hint: error.hint },
        'foreign listener on the public port');
      this.#emit('foreignListener', { port: this.#port, count: foreign.length, inodes, error });
    } else if (wasForeign && foreign.length === 0) {
      this.#log.info({ port: this.#port }, 'foreign listener gone: only the cluster listens on its port');
      this.#emit('foreignListenerGone', { port: this.#port });
    }
  }

  restored(): void {
    this.stats.programRestores++;
  }

  refused(error: StickyError): void {
    this.stats.refusedScales++;
    this.#log.error({ err: error, port: this.#port, hint: error.hint },
      'scale refused: the new slot\'s socket cannot be placed safely');
  }
}
