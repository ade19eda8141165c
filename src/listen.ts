import cluster from 'node:cluster';
import type { Server } from 'node:net';
import { invalidOption, normalizeListenOptions, type ListenOptions } from './options.js';
import { StickyPrimary } from './primary.js';
import { createWorker } from './worker.js';

/** Returned by `listen()` in the primary: shuts the cluster down; `callback(err?)` fires once. */
export interface CloseMaster {
  (callback?: (error?: Error) => void, waitForConnections?: boolean): void;
  /** The primary's handle: events, `stats()`, `close()`. */
  readonly primary: StickyPrimary;
}

function parsePort(port: unknown): number {
  const value = typeof port === 'string' && /^\d+$/.test(port) ? Number(port) : port;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 65_535) {
    throw invalidOption('port', 'an integer from 0 to 65535', port);
  }
  return value;
}

/**
 * Drop-in for sticky-session(-custom): in the primary, balances `port` over workers that run this
 * same script and returns `closeMaster`; in a worker, attaches `server` and returns `null`.
 * @throws {StickyError} `STICKY_ERR_INVALID_OPTION` for a bad port or option.
 * @example
 * const closeMaster = listen(server, 3000, { workers: 4 });
 * if (closeMaster) server.once('listening', () => logger.info('primary up'));
 */
export function listen(server: Server, port: number | string, options?: ListenOptions): CloseMaster | null;
export function listen(server: Server, port: number | string, hostname: string | undefined, options?: ListenOptions): CloseMaster | null;
export function listen(server: Server, port: number | string, hostnameOrOptions?: string | ListenOptions, maybeOptions?: ListenOptions): CloseMaster | null {
  const hostname = typeof hostnameOrOptions === 'string' ? hostnameOrOptions : undefined;
  const options = typeof hostnameOrOptions === 'object' && hostnameOrOptions !== null ? hostnameOrOptions : maybeOptions;
  const publicPort = parsePort(port);
  const resolved = normalizeListenOptions(options);
  if (!cluster.isPrimary) {
    createWorker(server, resolved);
    return null;
  }
  const primary = new StickyPrimary(resolved);
  primary.listen(publicPort, hostname).then(
    (address) => {
      // Code written for sticky-session reads the port from the app's server in 'listening'.
      server.address = () => address;
      server.emit('listening');
    },
    (error: unknown) => server.emit('error', error),
  );
  const closeMaster = (callback?: (error?: Error) => void, waitForConnections = false): void => {
    void primary.closeMaster('closeMaster', waitForConnections).then((result) => {
      callback?.(result.error);
    });
  };
  return Object.assign(closeMaster, { primary });
}
