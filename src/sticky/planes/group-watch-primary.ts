import type { Logger } from '../../logger.js';
import { ErrorCode, StickyError } from '../../errors.js';
import {
  isCompeting, normalizeListenAddress, readPortListeners, readPortListenersAsync, type PortListener,
} from './port-listeners.js';

// The watch over the kernel plane's reuseport group: which sockets listen on the public port beside
// the group's own (kernel-group-primary.ts holds the sockets, their indices and the program).
//
// Trust boundary: any process of the same user can join the group (SO_REUSEPORT checks only the
// uid) and replace its program. Neither the group nor a classic BPF program can say who is in it, so
// the watch counts the port's listeners (port-listeners.ts) against the inodes of the group's own
// sockets: at open, before and after each grow and before each shrink (the group asks), and every
// `groupCheckInterval` ms, when the group also attaches its program again (one setsockopt), undoing a
// replaced program whether or not the process that replaced it still listens. A joiner takes the
// index after the last member, so a new slot's index is verified only while the port holds exactly
// the live sockets: a grow is refused otherwise (`refusal`).
// A socket not seen before is an intrusion: logged once as an error, counted and emitted. The port
// being back to the cluster's own sockets is logged and emitted too. Counting is cheap; nothing here
// runs per connection.

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

/** What one look at the port's listeners found. */
export interface GroupInspection {
  /** Inodes of competing listeners that are not the cluster's. */
  foreign: number[];
  /** The port holds exactly the live sockets: the next socket's index is the group's size. */
  isExact: boolean;
}

export interface GroupWatchOptions {
  port: number;
  /** The address the group's sockets are bound to. */
  host: string;
  log: Logger;
  emit: GroupWatchEmit;
  /** The inodes of the group's live sockets, by index. */
  members: () => readonly number[];
}

export class GroupWatch {
  readonly stats: KernelGroupStats = {
    foreignListeners: 0, intrusions: 0, groupChecks: 0, programRestores: 0, refusedScales: 0,
  };
  readonly #port: number;
  /** The bound address as the listener table writes it. */
  readonly #ours: string;
  readonly #log: Logger;
  readonly #emit: GroupWatchEmit;
  readonly #members: () => readonly number[];
  /** Foreign inodes present at the last check. */
  #present = new Set<number>();
  /** Every foreign inode reported, so one socket is one intrusion however long it stays. */
  readonly #reported = new Set<number>();
  /** Inodes of removed slots' sockets that their draining worker may still hold open. */
  readonly #retiring = new Set<number>();
  #timer: NodeJS.Timeout | undefined;
  #isChecking = false;

  constructor(options: GroupWatchOptions) {
    this.#port = options.port;
    this.#ours = normalizeListenAddress(options.host) ?? options.host;
    this.#log = options.log;
    this.#emit = options.emit;
    this.#members = options.members;
  }

  /**
   * Checks every `interval` ms from now on (the group is open); `reattach` attaches the group's
   * program again, false when it has none yet.
   */
  start(interval: number, reattach: () => boolean): void {
    this.#timer = setInterval(() => this.#check(reattach), interval);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** A removed slot's socket: neither live nor foreign while its draining worker still holds it open. */
  retire(inode: number): void {
    this.#retiring.add(inode);
  }

  /** Looks at the port's listeners and reports the foreign ones. */
  inspect(listeners: readonly PortListener[] = readPortListeners(this.#port)): GroupInspection {
    const present = new Set<number>();
    for (const listener of listeners) {
      if (isCompeting(this.#ours, listener.address)) present.add(listener.inode);
    }
    for (const inode of this.#retiring) if (!present.has(inode)) this.#retiring.delete(inode);
    const live = new Set(this.#members());
    const foreign = [...present].filter((inode) => !live.has(inode) && !this.#retiring.has(inode));
    this.#observe(foreign);
    return { foreign, isExact: present.size === live.size && [...live].every((inode) => present.has(inode)) };
  }

  /**
   * Why a new socket's index cannot be verified now (a foreign listener, or a removed slot's socket
   * still open), logged and counted once the group is open; undefined when the port holds exactly the
   * live sockets.
   */
  refusal(): StickyError | undefined {
    const { foreign, isExact } = this.inspect();
    if (isExact) return undefined;
    const error = foreign.length > 0 ? foreignListenerError(this.#port, foreign.length)
      : new StickyError(ErrorCode.InvalidState, 'A removed slot\'s socket is still open in its draining worker: '
        + 'a new slot\'s place in the group is unknown.', {
        hint: 'Scale again once the removed worker has exited.',
      });
    // At open nothing is counted: the caller's listen() fails with this error.
    if (this.#timer !== undefined) {
      this.stats.refusedScales++;
      this.#log.error({ err: error, port: this.#port, hint: error.hint },
        'scale refused: the new slot\'s socket cannot be placed safely');
    }
    return error;
  }

  /** The periodic check: report the members and attach the program again (a replaced one is undone). */
  #check(reattach: () => boolean): void {
    if (this.#isChecking) return;
    this.#isChecking = true;
    readPortListenersAsync(this.#port).then((listeners) => {
      if (this.#timer === undefined) return;
      this.inspect(listeners);
      if (reattach()) this.stats.programRestores++;
    }).catch((error: unknown) => {
      // Out of descriptors, say: the next check tries again; the routing stays as it was.
      this.#log.warn({ err: error }, 'kernel group check failed');
    }).finally(() => {
      this.#isChecking = false;
    });
  }

  /** The result of one look: the foreign inodes on the port now. */
  #observe(foreign: readonly number[]): void {
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
}
