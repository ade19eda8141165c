import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { Server } from 'node:net';
import { invalidOption } from './options/index.js';

// What `listen()` and `attachWorker()` accept besides a plain server: the apps of the common
// frameworks, recognised by shape (no dependency on any of them), each turned into the server the
// worker attaches plus the start-up it must finish before it takes connections.

/** A Fastify instance (v4/v5): its `server` serves, `ready()` runs its plugins first. */
export interface FastifyLikeApp {
  readonly server: Server;
  ready(): PromiseLike<unknown>;
}

/** An Express application (v4/v5): a request handler function with `handle()` and `set()`. */
export interface ExpressLikeApp {
  (req: IncomingMessage, res: ServerResponse, next?: (error?: unknown) => void): void;
  handle: (...args: never[]) => unknown;
  set: (...args: never[]) => unknown;
}

/** A Koa application (v2/v3): `callback()` returns its request handler. */
export interface KoaLikeApp {
  callback(): (req: IncomingMessage, res: ServerResponse) => unknown;
  use: (...args: never[]) => unknown;
}

/**
 * What a worker can serve: a `net.Server` (`http`, `https`, `http2`, `net`, the server under
 * Socket.IO or `ws`), or a Fastify, Express or Koa app.
 */
export type StickyApp = Server | FastifyLikeApp | ExpressLikeApp | KoaLikeApp;

/** The server to attach, and what must finish before the worker counts as ready (Fastify's `ready()`). */
export interface ResolvedApp {
  readonly server: Server;
  readonly whenReady: (() => PromiseLike<unknown>) | undefined;
  /** Which kind of app it was, for logs and errors. */
  readonly kind: 'server' | 'fastify' | 'express' | 'koa';
}

const isFunction = (value: unknown): value is (...args: never[]) => unknown => typeof value === 'function';

const hasKey = (value: unknown, key: string): value is Record<string, unknown> =>
  (typeof value === 'object' || typeof value === 'function') && value !== null && key in value;

/** Recognises the app, or returns undefined when it is none of the supported kinds. */
export function detectApp(app: unknown): ResolvedApp | undefined {
  if (app instanceof Server) return { server: app, whenReady: undefined, kind: 'server' };
  // Fastify: checked first, a Fastify instance has `use` only with @fastify/express.
  if (hasKey(app, 'server') && app.server instanceof Server && isFunction(app.ready)) {
    const fastify = app as unknown as FastifyLikeApp;
    return { server: fastify.server, whenReady: () => fastify.ready(), kind: 'fastify' };
  }
  if (isFunction(app) && hasKey(app, 'handle') && isFunction(app.handle) && isFunction(app.set)) {
    return { server: createServer(app as unknown as ExpressLikeApp), whenReady: undefined, kind: 'express' };
  }
  if (hasKey(app, 'callback') && isFunction(app.callback) && isFunction(app.use)) {
    return { server: createServer((app as unknown as KoaLikeApp).callback()), whenReady: undefined, kind: 'koa' };
  }
  return undefined;
}

/**
 * `detectApp()` for the entry points.
 * @throws {StickyError} `STICKY_ERR_INVALID_OPTION` for anything that is not a server or a known app.
 */
export function resolveApp(app: unknown, name = 'server'): ResolvedApp {
  const resolved = detectApp(app);
  if (resolved === undefined) {
    throw invalidOption(name,
      'a net.Server (http, https, the server of Socket.IO or ws) or a Fastify, Express or Koa app', app);
  }
  return resolved;
}
