import http from 'node:http';
import { pathToFileURL } from 'node:url';
import { detectApp, type StickyApp } from '../app-server.js';
import { ErrorCode, StickyError } from '../errors.js';
import { describeValue, type MetricsRegistry } from '../options/index.js';

// Turns what an app module exports into what a worker attaches: a server or a Fastify, Express or
// Koa app (as `attachWorker()` takes them), a bare request listener, or an (async) factory of these.

export interface LoadedApp {
  app: StickyApp;
  /** Runs at shutdown after the drain: Fastify's `close()`, which runs its onClose hooks. */
  close: (() => Promise<unknown>) | undefined;
  /** The module's `metricsRegistry` export (a prom-client registry): its metrics join the primary's /metrics. */
  metricsRegistry?: MetricsRegistry;
}

/**
 * Imports `path` and resolves its export.
 * @throws {StickyError} `STICKY_ERR_INVALID_APP` when the export is none of the supported kinds.
 */
export async function loadApp(path: string): Promise<LoadedApp> {
  const module = await import(pathToFileURL(path).href) as Record<string, unknown>;
  const value = module.default ?? module.app ?? module.server;
  if (value === undefined) {
    const names = Object.keys(module).filter((name) => name !== 'default');
    const exported = names.length === 0
      ? 'it exports nothing'
      : `it exports ${names.slice(0, 8).map((name) => `\`${name}\``).join(', ')}`;
    throw new StickyError(ErrorCode.InvalidApp,
      `${path} has no default export, nor one named \`app\` or \`server\` (${exported}).`, { hint: EXPORT_HINT });
  }
  const loaded = await resolveExport(value, path, true);
  const registry = module.metricsRegistry;
  if (registry === undefined) return loaded;
  if (typeof registry !== 'object' || registry === null
    || typeof (registry as MetricsRegistry).getMetricsAsJSON !== 'function') {
    throw new StickyError(ErrorCode.InvalidApp,
      `${path} exports \`metricsRegistry\` as ${describeValue(registry)}, which is not a prom-client registry.`, {
      hint: 'Export the registry your metrics are registered in:'
        + ' `export { register as metricsRegistry } from \'prom-client\'`.',
    });
  }
  return { ...loaded, metricsRegistry: registry as MetricsRegistry };
}

const EXPORT_HINT = 'Export (default, or as `app` or `server`) an http.Server, a request listener (req, res), '
  + 'an Express, Koa or Fastify app, or an (async) function returning one.';

async function resolveExport(value: unknown, path: string, mayCall: boolean): Promise<LoadedApp> {
  const detected = detectApp(value);
  if (detected !== undefined) {
    const close = (value as { close?: unknown }).close;
    return {
      app: value as StickyApp,
      close: detected.kind === 'fastify' && typeof close === 'function'
        ? () => Promise.resolve(close.call(value))
        : undefined,
    };
  }
  if (typeof value === 'function') {
    const fn = value as (...args: unknown[]) => unknown;
    // (req, res): a request listener. Fewer parameters: a factory.
    if (fn.length >= 2) return { app: http.createServer(fn as http.RequestListener), close: undefined };
    if (mayCall) return resolveExport(await fn(), path, false);
  }
  const from = mayCall ? '' : ' from its factory';
  throw new StickyError(ErrorCode.InvalidApp,
    `${path} exports ${describeValue(value)}${from}, which is not a server or an app.`, { hint: EXPORT_HINT });
}
