// What `serve --watch` reacts to, and when it reloads. Pure: the watcher feeds it paths and a clock.

/** Ignored unless given otherwise: dependencies and dotfiles (`.git`, `.env`, editors' swap files). */
export const DEFAULT_WATCH_IGNORE: readonly string[] = ['node_modules', '.*'];
/** Quiet time after the last change before the reload starts: an editor's save is several events. */
export const WATCH_DEBOUNCE_MS = 300;

function globToRegExp(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]');
  return new RegExp(`^${body}$`);
}

/**
 * Matcher for paths relative to a watched directory. A pattern without `/` matches any one path
 * segment (`node_modules`, `.*`, `*.log`); one with `/` matches the path from its start, and
 * everything under it (`public/uploads`, `dist/*.map`). `*` and `?` never cross a `/`.
 */
export function ignoreMatcher(patterns: readonly string[]): (relative: string) => boolean {
  const segments: RegExp[] = [];
  const prefixes: RegExp[] = [];
  for (const pattern of patterns) {
    const trimmed = pattern.replace(/^\.\//, '').replace(/\/+$/, '');
    if (trimmed === '') continue;
    (trimmed.includes('/') ? prefixes : segments).push(globToRegExp(trimmed));
  }
  return (relative) => {
    const parts = relative.split(/[\\/]/).filter((part) => part !== '' && part !== '.');
    if (parts.some((part) => segments.some((re) => re.test(part)))) return true;
    for (let end = 1; end <= parts.length; end++) {
      const head = parts.slice(0, end).join('/');
      if (prefixes.some((re) => re.test(head))) return true;
    }
    return false;
  };
}

export interface Timers {
  set: (run: () => void, ms: number) => unknown;
  clear: (handle: unknown) => void;
}

/**
 * Turns bursts of changes into reloads: one `delay` ms after the last change; changes while a
 * reload runs collapse into exactly one more reload after it (again after `delay`).
 */
export class ReloadDebouncer {
  readonly #delay: number;
  readonly #reload: (changed: readonly string[]) => Promise<unknown>;
  readonly #timers: Timers;
  #timer: unknown;
  #isReloading = false;
  #isStopped = false;
  #changed = new Set<string>();

  constructor(delay: number, reload: (changed: readonly string[]) => Promise<unknown>, timers: Timers) {
    this.#delay = delay;
    this.#reload = reload;
    this.#timers = timers;
  }

  /** A file changed; `relative` is kept for the log line. */
  change(relative: string): void {
    if (this.#isStopped) return;
    if (this.#changed.size < 20) this.#changed.add(relative);
    if (this.#isReloading) return;
    this.#arm();
  }

  stop(): void {
    this.#isStopped = true;
    if (this.#timer !== undefined) this.#timers.clear(this.#timer);
    this.#timer = undefined;
    this.#changed.clear();
  }

  #arm(): void {
    if (this.#timer !== undefined) this.#timers.clear(this.#timer);
    this.#timer = this.#timers.set(() => void this.#fire(), this.#delay);
  }

  async #fire(): Promise<void> {
    this.#timer = undefined;
    const changed = [...this.#changed];
    this.#changed.clear();
    this.#isReloading = true;
    try {
      await this.#reload(changed);
    } catch {
      // The caller reports a failed reload; the next change tries again.
    } finally {
      this.#isReloading = false;
    }
    if (this.#changed.size > 0 && !this.#isStopped) this.#arm();
  }
}
