import cluster from 'node:cluster';
import { isStickyError } from '../errors.js';
import { onShutdown } from '../lifecycle/index.js';
import { defaultLogger, type StickyLogger } from '../logger.js';
import { inheritedOptions } from '../options/index.js';
import { attachWorker } from '../worker.js';
import { stripControl } from './terminal-text.js';
import { loadApp, type LoadedApp } from './app-loader-worker.js';

// Entry of the workers that `sticky-runtime serve` forks: load the app, attach its server.

const path = process.env.STICKY_RUNTIME_APP ?? '';
let app: LoadedApp;
try {
  app = await loadApp(path);
} catch (error) {
  // One clear line for what the runtime refuses (no stack of ours); the app's own error with its
  // stack, which points into the app. The primary then reports the failed start (exit code 3).
  const prefix = `sticky-runtime: worker ${String(cluster.worker?.id ?? process.pid)}: `;
  const text = isStickyError(error)
    ? `${error.code}: ${error.message}`
    : `the app module ${path} failed to load: ${error instanceof Error ? error.stack ?? error.message : String(error)}`;
  process.stderr.write(stripControl(`${prefix}${text}\n`));
  process.exit(1);
}
// `serve --log-file` (without `--prefix-output`): the worker appends its own runtime lines to the file.
const logFile = process.env.STICKY_RUNTIME_LOG_FILE;
const fileLogger = (path: string): StickyLogger =>
  defaultLogger(inheritedOptions().logLevel ?? 'info', path) as StickyLogger;
attachWorker(app.app, {
  ...(logFile === undefined || logFile === '' ? {} : { logger: fileLogger(logFile) }),
  ...(app.metricsRegistry === undefined ? {} : { metricsRegistry: app.metricsRegistry }),
});
const close = app.close;
if (close !== undefined) onShutdown(() => close());
