import { onShutdown } from '../lifecycle/index.js';
import { defaultLogger, type StickyLogger } from '../logger.js';
import { inheritedOptions } from '../options.js';
import { attachWorker } from '../worker.js';
import { loadApp } from './app-loader-worker.js';

// Entry of the workers that `sticky-runtime serve` forks: load the app, attach its server.

const path = process.env.STICKY_RUNTIME_APP ?? '';
// A module that fails to load, or exports no server, ends this worker with the error on stderr
// (an unhandled rejection); the primary reports the failed start.
const app = await loadApp(path);
// `serve --log-file` (without `--prefix-output`): the worker appends its own runtime lines to the file.
const logFile = process.env.STICKY_RUNTIME_LOG_FILE;
attachWorker(app.app, logFile === undefined || logFile === '' ? {} : { logger: defaultLogger(inheritedOptions().logLevel ?? 'info', logFile) as StickyLogger });
const close = app.close;
if (close !== undefined) onShutdown(() => close());
