import { createRequire } from 'node:module';
import { pino, type DestinationStream } from 'pino';

/**
 * The binding keys child loggers may carry; anything per connection is counted, never bound. A
 * worker's pid in the primary's lines is `workerPid`: pino's own `pid` is the process that writes.
 */
export type LogBindings = {
  component?: 'sticky' | 'ipc' | 'lifecycle' | 'primary' | 'worker' | 'metrics' | 'control' | 'output';
  workerId?: number;
  workerPid?: number;
  slot?: number;
  generation?: number;
};

/** A log method as pino has it: a fields object, then a short constant message. */
export type LogMethod = (fields: object, message: string) => void;

/**
 * Fields of one internal log call. pino writes `pid`, `hostname`, `time`, `level` and `msg` itself:
 * a field of the same name would repeat the key in the JSON line, which strict ingesters reject.
 */
export type LogFields = { readonly [key: string]: unknown } & {
  pid?: never; hostname?: never; time?: never; level?: never; msg?: never;
};
type InternalLogMethod = (fields: LogFields, message: string) => void;

/**
 * What sticky-runtime needs from a logger: pino's method shape. A pino logger fits as it is; so does
 * any object with `error`, `warn`, `info` and `debug` methods taking `(fields, message)`. `child`
 * is used when present (pino, bunyan); without it, the bindings are merged into each call's fields.
 */
export interface StickyLogger {
  error: LogMethod;
  warn: LogMethod;
  info: LogMethod;
  debug: LogMethod;
  child?: (bindings: LogBindings) => StickyLogger;
}

/** The logger internal code uses: always has `child`, and its fields never repeat pino's own keys. */
export interface Logger {
  error: InternalLogMethod;
  warn: InternalLogMethod;
  info: InternalLogMethod;
  debug: InternalLogMethod;
  child: (bindings: LogBindings) => Logger;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The default logger writes to stderr; one destination per process, one child per level. */
let defaultRoot: ReturnType<typeof pino> | undefined;

function prettyStream(): DestinationStream | undefined {
  if (process.stderr.isTTY !== true) return undefined;
  try {
    // pino-pretty is an optional dependency: when it is not installed, logs stay JSON.
    const build = createRequire(import.meta.url)('pino-pretty') as (options: object) => DestinationStream;
    return build({ destination: 2, sync: true, colorize: true });
  } catch {
    return undefined;
  }
}

/** pino JSON on stderr at `level` (pretty on a TTY when pino-pretty is installed). */
export function defaultLogger(level: LogLevel): Logger {
  // Synchronous writes: the logs are milestones, and a process.exit() right after must not lose them.
  defaultRoot ??= pino({ level: 'trace' }, prettyStream() ?? pino.destination({ dest: 2, sync: true }));
  return defaultRoot.child({}, { level }) as Logger;
}

/** A silent logger (`logger: false`, or level `silent`). */
export function silentLogger(): Logger {
  return pino({ enabled: false }) as Logger;
}

/** True for an object with pino's method shape. */
export function isLoggerLike(value: unknown): value is StickyLogger {
  if (value === null || typeof value !== 'object') return false;
  const candidate = value as Record<string, unknown>;
  return ['error', 'warn', 'info', 'debug'].every((name) => typeof candidate[name] === 'function') &&
    (candidate.child === undefined || typeof candidate.child === 'function');
}

/** Gives a logger without `child` one that merges the bindings into every call's fields. */
function withChild(logger: StickyLogger, bindings: LogBindings = {}): Logger {
  const bind = (method: LogMethod): LogMethod => (fields, message) => method.call(logger, { ...bindings, ...fields }, message);
  return {
    error: bind(logger.error),
    warn: bind(logger.warn),
    info: bind(logger.info),
    debug: bind(logger.debug),
    child: (more) => withChild(logger, { ...bindings, ...more }),
  };
}

/** The logger internal code uses, from the `logger` and `logLevel` options. */
export function resolveLogger(logger: StickyLogger | false | undefined, level: LogLevel): Logger {
  if (logger === false || (logger === undefined && level === 'silent')) return silentLogger();
  if (logger === undefined) return defaultLogger(level);
  return typeof logger.child === 'function' ? logger as Logger : withChild(logger);
}
