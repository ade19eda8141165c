import { appendFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ErrorCode, StickyError } from '../errors.js';
import { LOG_LEVELS, defaultLogger, terminalLogFormat, type Logger, type StickyLogger } from '../logger.js';
import type { ListenOptions } from '../options/index.js';
import type { StickyPrimary } from '../primary.js';
import type { ParsedCommand } from './args.js';
import { OutputRouter } from './output-primary.js';

// `--prefix-output`, `--log-file`, `--log-dir` (or `prefixOutput`, `logFile`, `logDir` in the config
// file): where the runtime's logs and the app's output go when the CLI runs the app.

/** Variables the CLI sets for its own workers (src/cli/worker-main.ts reads them). */
export const WORKER_LOG_FILE_ENV = 'STICKY_RUNTIME_LOG_FILE';
const LOG_FORMAT_ENV = 'STICKY_RUNTIME_LOG_FORMAT';

export interface OutputConfig { prefixOutput?: boolean; logFile?: string; logDir?: string }
export interface Output { prefix: boolean; logFile: string | undefined; logDir: string | undefined }

/** The flags over the config file; `--log-dir` needs the output routed, so it implies `--prefix-output`. */
export function outputOf(parsed: ParsedCommand, config: OutputConfig): Output {
  if (config.prefixOutput !== undefined && typeof config.prefixOutput !== 'boolean') {
    throw new StickyError(ErrorCode.InvalidOption,
      `Expected \`prefixOutput\` to be a boolean, received ${JSON.stringify(config.prefixOutput)}.`);
  }
  const path = (flag: string | undefined, key: 'logFile' | 'logDir'): string | undefined => {
    const value: unknown = flag ?? config[key];
    if (value === undefined) return undefined;
    if (typeof value !== 'string' || value === '') {
      throw new StickyError(ErrorCode.InvalidOption,
        `Expected \`${key}\` to be a path, received ${JSON.stringify(value)}.`);
    }
    return resolve(value);
  };
  const logFile = path(parsed.logFile, 'logFile');
  const logDir = path(parsed.logDir, 'logDir');
  if (logFile !== undefined) assertWritable(logFile);
  return { prefix: parsed.prefixOutput || config.prefixOutput === true || logDir !== undefined, logFile, logDir };
}

function assertWritable(path: string): void {
  try {
    appendFileSync(path, '', { mode: 0o640 });
  } catch (error) {
    throw new StickyError(ErrorCode.InvalidOption, `Cannot append to the log file ${path}.`, {
      cause: error, hint: 'Check the `--log-file` path and its directory\'s permissions.',
    });
  }
}

/** The listen options for `output`: the runtime's logger with the log file, and the workers' variables. */
export function withOutput(options: ListenOptions, output: Output): ListenOptions {
  const env: Record<string, string | undefined> = { ...options.env };
  // Routed through the primary, a worker's runtime lines are its output like any other: shown in the
  // primary's terminal format, and written to the log file by the primary, once.
  if (output.prefix) env[LOG_FORMAT_ENV] = terminalLogFormat();
  else if (output.logFile !== undefined) env[WORKER_LOG_FILE_ENV] = output.logFile;
  const merged: ListenOptions = { ...options, env };
  if (output.logFile === undefined) return merged;
  if (options.logger !== undefined) {
    throw new StickyError(ErrorCode.InvalidOption, '`--log-file` is given, and so is a `logger` in the config file.', {
      hint: 'The log file is the default logger\'s: drop one of them.',
    });
  }
  const level = options.logLevel ?? 'info';
  // An unknown level is left for the options' own check, which names it.
  if (LOG_LEVELS.includes(level)) merged.logger = defaultLogger(level, output.logFile) as StickyLogger;
  return merged;
}

/** The stdio of the workers: piped to the primary when their output is routed. */
export function workerStdio(output: Output): { stdio?: ('ignore' | 'pipe' | 'ipc')[] } {
  return output.prefix ? { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] } : {};
}

/** Starts routing the workers' output; the files are reopened on SIGUSR2 (logrotate). Returns the stop. */
export function startOutput(primary: StickyPrimary, output: Output, log: Logger): () => void {
  if (!output.prefix) return () => undefined;
  const router = new OutputRouter({ logFile: output.logFile, logDir: output.logDir }, log);
  router.watch((listener) => primary.on('workerOnline', listener));
  const hasFiles = output.logFile !== undefined || output.logDir !== undefined;
  const reopen = (): void => router.reopen();
  if (hasFiles && process.platform !== 'win32') process.on('SIGUSR2', reopen);
  return () => {
    process.removeListener('SIGUSR2', reopen);
    router.close();
  };
}
