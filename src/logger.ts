import { appendFileSync } from 'node:fs';
import { pino, type DestinationStream } from 'pino';
import { formatLogLine } from './log-format.js';

/**
 * The binding keys child loggers may carry; anything per connection is counted, never bound. A
 * worker's pid in the primary's lines is `workerPid`: pino's own `pid` is the process that writes.
 */
export type LogBindings = {
  component?: 'sticky' | 'ipc' | 'lifecycle' | 'primary' | 'worker' | 'metrics' | 'control' | 'watch' | 'output';
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
type InternalLogMethod = (fields: LogFields, message: string) => void;

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** How the default logger writes to the terminal: one readable line per record, or pino's JSON. */
export type LogFormat = 'pretty' | 'json';
const LOG_FORMAT_ENV = 'STICKY_RUNTIME_LOG_FORMAT';

/** $STICKY_RUNTIME_LOG_FORMAT when it is `pretty` or `json`; else pretty when stderr is a terminal. */
export function terminalLogFormat(): LogFormat {
  const fromEnv = process.env[LOG_FORMAT_ENV];
  if (fromEnv === 'pretty' || fromEnv === 'json') return fromEnv;
  return process.stderr.isTTY === true ? 'pretty' : 'json';
}

function terminalDestination(): DestinationStream {
  // Synchronous writes: the logs are milestones, and a process.exit() right after must not lose them.
  const stderr = pino.destination({ dest: 2, sync: true });
  if (terminalLogFormat() === 'json') return stderr;
  // https://no-color.org: set and not empty.
  const useColor = process.stderr.isTTY === true && (process.env.NO_COLOR ?? '') === '';
  return { write: (line: string) => void stderr.write(`${formatLogLine(line, useColor)}\n`) };
}

/**
 * Appends each JSON line to `path`, opening the file for each: the runtime logs milestones only, so
 * this is cheap, and a file renamed by logrotate is followed without a signal. A failure to write is
 * reported once on the terminal, and the line still reaches the terminal.
 */
function appendingFile(path: string, terminal: DestinationStream): DestinationStream {
  let hasReported = false;
  return {
    write(line: string) {
      try {
        appendFileSync(path, line, { mode: 0o640 });
      } catch (error) {
        if (hasReported) return;
        hasReported = true;
        const code = (error as NodeJS.ErrnoException).code ?? String(error);
        const record = { level: 40, time: Date.now(), msg: 'cannot append to the log file', path, code };
        terminal.write(`${JSON.stringify(record)}\n`);
      }
    },
  };
}

function buildRoot(file: string | undefined): ReturnType<typeof pino> {
  const terminal = terminalDestination();
  if (file === undefined) return pino({ level: 'trace' }, terminal);
  const streams = [
    { level: 'trace' as const, stream: terminal },
    { level: 'trace' as const, stream: appendingFile(file, terminal) },
  ];
  return pino({ level: 'trace' }, pino.multistream(streams));
}

/** The default logger writes to stderr; one destination per process, one child per level. */
let defaultRoot: ReturnType<typeof pino> | undefined;

/**
 * pino on stderr at `level`: one line per record on a terminal, JSON otherwise (see `terminalLogFormat`);
 * with `file`, each record is also appended to that file as JSON.
 */
export function defaultLogger(level: LogLevel, file?: string): Logger {
  // (A pino child: a StickyLogger too, `as StickyLogger` where one is expected.)
  if (file !== undefined) return buildRoot(file).child({}, { level }) as Logger;
  defaultRoot ??= buildRoot(undefined);
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
  const bind = (method: LogMethod): LogMethod =>
    (fields, message) => method.call(logger, { ...bindings, ...fields }, message);
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
