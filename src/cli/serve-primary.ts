import cluster from 'node:cluster';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrorCode, StickyError } from '../errors.js';
import { normalizeListenOptions, parsePort, type ListenOptions } from '../options/index.js';
import { outputOf, startOutput, withOutput, workerStdio, type Output, type OutputConfig } from './output-options.js';
import { startPrimary } from '../primary.js';
import type { ParsedCommand } from './args.js';
import { listenOptionsOf, loadConfig, type PrimaryHook } from './config-file.js';
import { ControlServer } from './control-primary.js';
import { CliFailure } from './failure.js';
import { EXIT_CODES } from './help.js';
import { DEFAULT_CONTROL_SOCKET, chosenTarget, prepareNamedSocket } from './socket-path.js';
import { checkWatchPaths, watchForReload, type WatchSettings } from './watch-primary.js';

// `sticky-runtime serve ./app.js`: the primary of a cluster running the app module in every worker.

const METRICS_TOKEN_ENV = 'STICKY_RUNTIME_METRICS_TOKEN';

/**
 * The `metrics` option: the config file's, with the flags' port and host and the token from
 * `--metrics-token-file` or $STICKY_RUNTIME_METRICS_TOKEN (so it is not on the command line, where
 * every local user sees it).
 */
function metricsOf(parsed: ParsedCommand, fromConfig: ListenOptions['metrics']): ListenOptions['metrics'] {
  const token = metricsToken(parsed);
  const base = typeof fromConfig === 'object' ? fromConfig : undefined;
  if (parsed.metricsPort === undefined && parsed.metricsHost === undefined && base === undefined) {
    if (parsed.metricsTokenFile !== undefined) {
      throw new StickyError(ErrorCode.InvalidOption, '`--metrics-token-file` is given, but no metrics endpoint.', {
        hint: 'Add `--metrics-port <n>` (or `metrics` in the config file).',
      });
    }
    return fromConfig;
  }
  const flagPort = parsed.metricsPort;
  const port = flagPort === undefined ? base?.port ?? 0 : /^\d+$/.test(flagPort) ? Number(flagPort) : flagPort;
  return {
    ...base, port: port as number,
    ...(parsed.metricsHost === undefined ? {} : { host: parsed.metricsHost }),
    ...(token === undefined ? {} : { token }),
  };
}

function metricsToken(parsed: ParsedCommand): string | undefined {
  const fromEnv = process.env[METRICS_TOKEN_ENV];
  // The workers (and what they spawn) inherit the primary's environment; they have no use for it.
  delete process.env[METRICS_TOKEN_ENV];
  const file = parsed.metricsTokenFile;
  if (file === undefined) return fromEnv === '' ? undefined : fromEnv;
  try {
    return readFileSync(resolve(file), 'utf8').trim();
  } catch (error) {
    throw new StickyError(ErrorCode.InvalidOption, `Cannot read the metrics token file ${resolve(file)}.`, {
      cause: error, hint: 'Check the `--metrics-token-file` path and its permissions.',
    });
  }
}

interface ServePlan {
  options: ReturnType<typeof normalizeListenOptions>;
  output: Output;
  port: number;
  host: string | undefined;
  target: { name: string } | { path: string } | undefined;
  hook: PrimaryHook | undefined;
  watch: WatchSettings | undefined;
}

/** Everything `serve` needs, checked before any process starts. Failures are usage errors (exit 2). */
async function planServe(parsed: ParsedCommand): Promise<ServePlan> {
  const config = await loadConfig(parsed.config);
  const configOptions = listenOptionsOf(config);
  const app0 = parsed.positionals[0] ?? config.app;
  if (app0 === undefined) {
    throw new StickyError(ErrorCode.InvalidApp, 'No app given.',
      { hint: 'sticky-runtime serve ./app.js (or `app` in the config file).' });
  }
  const appPath = resolve(app0);
  if (!existsSync(appPath)) {
    throw new StickyError(ErrorCode.InvalidApp, `App module ${appPath} does not exist.`, { hint: 'Check the path.' });
  }
  const merged: ListenOptions = { ...configOptions, ...parsed.options, handleSignals: true };
  const metrics = metricsOf(parsed, configOptions.metrics);
  if (metrics !== undefined) merged.metrics = metrics;
  merged.env = { ...merged.env, STICKY_RUNTIME_APP: appPath };
  if (!parsed.watch && (parsed.watchPaths.length > 0 || parsed.watchIgnore.length > 0)) {
    throw new StickyError(ErrorCode.InvalidOption, '`--watch-path` and `--watch-ignore` need `--watch`.',
      { hint: 'sticky-runtime serve ./app.js --watch' });
  }
  const output = outputOf(parsed,
    { prefixOutput: config.prefixOutput, logFile: config.logFile, logDir: config.logDir } as OutputConfig);
  return {
    options: normalizeListenOptions(withOutput(merged, output)),
    output,
    port: parsePort(parsed.port ?? config.port ?? process.env.PORT ?? 3000),
    host: parsed.host ?? config.host,
    target: chosenTarget(
      { name: parsed.name, controlSocket: parsed.controlSocket },
      { name: config.name, controlSocket: config.controlSocket },
    ),
    hook: config.primary,
    watch: parsed.watch
      ? {
        paths: checkWatchPaths(parsed.watchPaths.length > 0 ? parsed.watchPaths : [dirname(appPath)]),
        ignore: parsed.watchIgnore,
      }
      : undefined,
  };
}

export async function serve(parsed: ParsedCommand): Promise<void> {
  let plan: ServePlan;
  try {
    plan = await planServe(parsed);
  } catch (error) {
    throw new CliFailure(error, EXIT_CODES.usage);
  }
  const { options, target, output } = plan;
  const name = target !== undefined && 'name' in target ? target.name : undefined;
  let socketPath: string;
  try {
    if (name !== undefined) socketPath = prepareNamedSocket(name);
    else socketPath = target !== undefined && 'path' in target ? target.path : resolve(DEFAULT_CONTROL_SOCKET);
  } catch (error) {
    throw new CliFailure(error, EXIT_CODES.startFailed);
  }

  const workerMain = fileURLToPath(new URL('./worker-main.js', import.meta.url));
  cluster.setupPrimary({ exec: workerMain, args: [], ...workerStdio(output) });
  const primary = startPrimary(options);
  const stopOutput = startOutput(primary, output, options.logger);
  const log = options.logger.child({ component: 'primary' });
  const control = new ControlServer(socketPath, primary, options.logger, name);
  let stopWatching: (() => void) | undefined;
  primary.on('shutdownStart', () => stopWatching?.());
  primary.on('shutdownEnd', () => {
    control.close();
    stopOutput();
  });
  primary.on('reloadProgress', (progress) => log.info({ ...progress }, 'reload progress'));
  // A worker that dies while the cluster first starts means the app does not load: stop at once.
  const starting = new AbortController();
  type StartExit = { expected: boolean; workerId: number; code: number | null; signal: string | null };
  const onStartExit = (exit: StartExit): void => {
    if (exit.expected) return;
    const how = `code ${String(exit.code)}, signal ${String(exit.signal)}`;
    const message = `Worker ${exit.workerId} exited during start-up (${how}).`;
    starting.abort(new StickyError(ErrorCode.WorkerStartFailed, message, { hint: 'See the error it printed above.' }));
  };
  primary.on('workerExit', onStartExit);
  try {
    // Called before anything is awaited: what the hook sets up synchronously (a `cluster.on('message')`
    // listener, as Socket.IO's `setupPrimary()`) is in place before any worker's first message.
    if (plan.hook !== undefined) await plan.hook(primary);
    starting.signal.throwIfAborted();
    await primary.listen(plan.port, plan.host);
    await control.listen();
    starting.signal.throwIfAborted();
    await primary.whenReady({ signal: starting.signal });
    primary.off('workerExit', onStartExit);
  } catch (error) {
    control.close();
    await primary.close({ waitForConnections: false });
    throw new CliFailure(error, EXIT_CODES.startFailed);
  }
  if (plan.watch !== undefined && primary.state === 'running') {
    stopWatching = watchForReload(primary, plan.watch, options.logger);
  }
  const address = primary.address();
  const named = name === undefined ? {} : { name };
  log.info({ port: address?.port, host: address?.address, workers: options.workers, ...named }, 'serving');
}
