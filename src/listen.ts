import cluster from 'node:cluster';
import { normalizeListenOptions, parsePort, type ListenOptions } from './options/index.js';
import { closeFor, startPrimary, type StickyPrimary } from './primary.js';
import type { StickyError } from './errors.js';
import { createWorker } from './worker.js';
import { resolveApp, type StickyApp } from './app-server.js';

/**
 * Returned by `listen()` in the primary: shuts the cluster down; `callback(error?)` fires once, with
 * the shutdown's error (`STICKY_ERR_SHUTDOWN_TIMEOUT` when workers had to be killed) if any.
 */
export interface CloseMaster {
  (callback?: (error?: StickyError) => void, waitForConnections?: boolean): void;
  /** The primary's handle: events, `stats()`, `close()`. */
  readonly primary: StickyPrimary;
}

/**
 * Drop-in for sticky-session(-custom): in the primary, balances `port` over workers that run this
 * same script and returns `closeMaster`; in a worker, attaches `server` and returns `null`.
 * `server` may also be a Fastify app (workers are ready once `app.ready()` resolved), an Express app
 * or a Koa app.
 * @throws {StickyError} `STICKY_ERR_INVALID_OPTION` for a bad port or option, or a `server` that is
 * neither a `net.Server` nor a known app.
 * @example
 * const closeMaster = listen(server, 3000, { workers: 4 });
 * if (closeMaster) server.once('listening', () => logger.info('primary up'));
 */
export function listen(server: StickyApp, port: number | string, options?: ListenOptions): CloseMaster | null;
export function listen(
  server: StickyApp, port: number | string, hostname: string | undefined, options?: ListenOptions,
): CloseMaster | null;
export function listen(
  app: StickyApp, port: number | string, hostnameOrOptions?: string | ListenOptions, maybeOptions?: ListenOptions,
): CloseMaster | null {
  const hostname = typeof hostnameOrOptions === 'string' ? hostnameOrOptions : undefined;
  const isOptions = typeof hostnameOrOptions === 'object' && hostnameOrOptions !== null;
  const options = isOptions ? hostnameOrOptions : maybeOptions;
  const publicPort = parsePort(port);
  const resolved = normalizeListenOptions(options);
  // In the primary too, so a wrong argument fails before any worker is forked.
  const resolvedApp = resolveApp(app);
  if (!cluster.isPrimary) {
    createWorker(resolvedApp, resolved);
    return null;
  }
  // Fastify's `app.server`, or the server itself (an Express or Koa app's new server is not
  // visible to the caller, who can use `closeMaster.primary`'s `listening` event instead).
  const { server } = resolvedApp;
  const primary = startPrimary(resolved);
  primary.listen(publicPort, hostname).then(
    (address) => {
      // Code written for sticky-session reads the port from the app's server in 'listening'.
      server.address = () => address;
      server.emit('listening');
    },
    (error: unknown) => server.emit('error', error),
  );
  const closeMaster = (callback?: (error?: StickyError) => void, waitForConnections = false): void => {
    void closeFor(primary, 'closeMaster', waitForConnections).then((result) => {
      callback?.(result.error);
    });
  };
  return Object.assign(closeMaster, { primary });
}
