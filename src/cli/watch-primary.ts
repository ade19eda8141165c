import { existsSync, statSync, watch, type FSWatcher } from 'node:fs';
import { relative, resolve } from 'node:path';
import { ErrorCode, StickyError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { StickyPrimary } from '../primary.js';
import { DEFAULT_WATCH_IGNORE, ReloadDebouncer, WATCH_DEBOUNCE_MS, ignoreMatcher } from './watch-policy.js';

// `serve --watch`: a change under the watched paths reloads the cluster through the same rolling
// restart as `reload` (zero loss: each new worker takes its slot once ready, the old one drains).

export interface WatchSettings {
  /** Files or directories to watch (directories recursively). */
  paths: readonly string[];
  /** Patterns ignored on top of `DEFAULT_WATCH_IGNORE`. */
  ignore: readonly string[];
}

/**
 * Checks the watched paths exist.
 * @throws {StickyError} `STICKY_ERR_INVALID_OPTION` for a path that does not.
 */
export function checkWatchPaths(paths: readonly string[]): string[] {
  return paths.map((path) => {
    const absolute = resolve(path);
    if (!existsSync(absolute)) {
      throw new StickyError(ErrorCode.InvalidOption, `\`--watch-path\` ${absolute} does not exist.`,
        { hint: 'Check the path.' });
    }
    return absolute;
  });
}

/** Starts watching; returns the function that stops it. */
export function watchForReload(primary: StickyPrimary, settings: WatchSettings, root: Logger): () => void {
  const log = root.child({ component: 'watch' });
  const isIgnored = ignoreMatcher([...DEFAULT_WATCH_IGNORE, ...settings.ignore]);
  const debouncer = new ReloadDebouncer(WATCH_DEBOUNCE_MS, async (changed) => {
    log.info({ changed }, 'files changed, reloading');
    try {
      await primary.reload();
    } catch (error) {
      log.error({ err: error },
        'reload after a change failed: the running workers keep serving; the next change tries again');
    }
  }, { set: (run, ms) => setTimeout(run, ms), clear: (handle) => clearTimeout(handle as NodeJS.Timeout) });
  const watchers: FSWatcher[] = [];
  for (const path of settings.paths) {
    const isDirectory = statSync(path).isDirectory();
    const watcher = watch(path, { recursive: isDirectory, persistent: false }, (_event, filename) => {
      const name = filename === null ? '' : filename.toString();
      const changed = isDirectory ? name : relative(resolve(path, '..'), path);
      if (isDirectory && name !== '' && isIgnored(name)) return;
      debouncer.change(changed);
    });
    watcher.on('error', (error) => log.warn({ err: error, path }, 'watching stopped for a path'));
    watchers.push(watcher);
  }
  log.info({ paths: settings.paths, ignore: [...DEFAULT_WATCH_IGNORE, ...settings.ignore] }, 'watching for changes');
  return () => {
    debouncer.stop();
    for (const watcher of watchers) watcher.close();
  };
}
