#!/usr/bin/env node
import cluster from 'node:cluster';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ErrorCode, StickyError, isStickyError } from '../errors.js';
import { normalizeListenOptions, parsePort, type ListenOptions } from '../options.js';
import { startPrimary } from '../primary.js';
import { parseCommandLine, type ParsedCommand } from './args.js';
import { ControlServer, type ControlReply } from './control-primary.js';
import { sendControl } from './control-client.js';
import { formatProgress, formatStatus, type StatusReply } from './format.js';
import { outputOf, startOutput, withOutput, workerStdio, type Output, type OutputConfig } from './output-options.js';
import { EXIT_CODES, HELP } from './help.js';
import { stripControl, terminalJson } from './terminal-text.js';

// `sticky-runtime serve ./app.js --workers 4 --port 3000` and the control commands.

const CONFIG_NAMES = ['sticky-runtime.config.js', 'sticky-runtime.config.mjs', 'sticky-runtime.config.cjs'];
const DEFAULT_CONTROL_SOCKET = 'sticky-runtime.sock';
const METRICS_TOKEN_ENV = 'STICKY_RUNTIME_METRICS_TOKEN';
/** A reload may take long: every slot forks, gets ready and drains. */
const CONTROL_TIMEOUT_MS = 10 * 60_000;

const write = (stream: NodeJS.WriteStream, text: string): void => void stream.write(text);

/** Exit code of a failed step: usage errors are the caller's, the rest depend on the step. */
class CliFailure extends Error {
  readonly exitCode: number;
  constructor(error: unknown, exitCode: number) {
    super('cli failure', { cause: error });
    this.exitCode = exitCode;
  }
}

function printError(error: unknown): void {
  // A message may quote a path or a value it was given: no control sequence of theirs reaches the terminal.
  if (isStickyError(error)) write(process.stderr, stripControl(`sticky-runtime: ${error.code}: ${error.message}\n`));
  else write(process.stderr, stripControl(`sticky-runtime: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`));
}

interface ConfigFile extends ListenOptions, OutputConfig {
  app?: string;
  port?: number | string;
  host?: string;
  controlSocket?: string;
}

async function loadConfig(explicit: string | undefined): Promise<ConfigFile> {
  const path = explicit === undefined ? CONFIG_NAMES.map((name) => resolve(name)).find((name) => existsSync(name)) : resolve(explicit);
  if (path === undefined) return {};
  if (!existsSync(path)) {
    throw new StickyError(ErrorCode.InvalidOption, `Config file ${path} does not exist.`, { hint: 'Check the `--config` path.' });
  }
  const module = await import(pathToFileURL(path).href) as { default?: unknown };
  const config = module.default;
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new StickyError(ErrorCode.InvalidOption, `Config file ${path} must export an object of options (default export).`, {
      hint: 'export default { workers: 4, shutdownDelay: 5000 }',
    });
  }
  return config as ConfigFile;
}

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

function controlSocketOf(parsed: ParsedCommand, config: ConfigFile): string {
  return resolve(parsed.controlSocket ?? config.controlSocket ?? DEFAULT_CONTROL_SOCKET);
}

async function serve(parsed: ParsedCommand): Promise<void> {
  let config: ConfigFile;
  let options: ReturnType<typeof normalizeListenOptions>;
  let port: number;
  let appPath: string;
  let host: string | undefined;
  let output: Output;
  try {
    config = await loadConfig(parsed.config);
    const { app, port: configPort, host: configHost, controlSocket: _cs, prefixOutput, logFile, logDir, ...configOptions } = config;
    const app0 = parsed.positionals[0] ?? app;
    if (app0 === undefined) {
      throw new StickyError(ErrorCode.InvalidApp, 'No app given.', { hint: 'sticky-runtime serve ./app.js (or `app` in the config file).' });
    }
    appPath = resolve(app0);
    if (!existsSync(appPath)) throw new StickyError(ErrorCode.InvalidApp, `App module ${appPath} does not exist.`, { hint: 'Check the path.' });
    const merged: ListenOptions = { ...configOptions, ...parsed.options, handleSignals: true };
    const metrics = metricsOf(parsed, configOptions.metrics);
    if (metrics !== undefined) merged.metrics = metrics;
    merged.env = { ...merged.env, STICKY_RUNTIME_APP: appPath };
    output = outputOf(parsed, { prefixOutput, logFile, logDir } as OutputConfig);
    options = normalizeListenOptions(withOutput(merged, output));
    port = parsePort(parsed.port ?? configPort ?? process.env.PORT ?? 3000);
    host = parsed.host ?? configHost;
  } catch (error) {
    throw new CliFailure(error, EXIT_CODES.usage);
  }

  cluster.setupPrimary({ exec: fileURLToPath(new URL('./worker-main.js', import.meta.url)), args: [], ...workerStdio(output) });
  const primary = startPrimary(options);
  const stopOutput = startOutput(primary, output, options.logger);
  const log = options.logger.child({ component: 'primary' });
  const control = new ControlServer(controlSocketOf(parsed, config), primary, options.logger);
  primary.on('shutdownEnd', () => { control.close(); stopOutput(); });
  primary.on('reloadProgress', (progress) => log.info({ ...progress }, 'reload progress'));
  // A worker that dies while the cluster first starts means the app does not load: stop at once.
  const starting = new AbortController();
  const onStartExit = (exit: { expected: boolean; workerId: number; code: number | null; signal: string | null }): void => {
    if (exit.expected) return;
    starting.abort(new StickyError(ErrorCode.WorkerStartFailed, `Worker ${exit.workerId} exited during start-up (code ${String(exit.code)}, signal ${String(exit.signal)}).`, {
      hint: 'See the error it printed above.',
    }));
  };
  primary.on('workerExit', onStartExit);
  try {
    await primary.listen(port, host);
    await control.listen();
    starting.signal.throwIfAborted();
    await primary.whenReady({ signal: starting.signal });
    primary.off('workerExit', onStartExit);
  } catch (error) {
    control.close();
    await primary.close({ waitForConnections: false });
    throw new CliFailure(error, EXIT_CODES.startFailed);
  }
  const address = primary.address();
  log.info({ port: address?.port, host: address?.address, workers: options.workers }, 'serving');
}

async function control(parsed: ParsedCommand): Promise<void> {
  let config: ConfigFile;
  let request: object;
  try {
    config = await loadConfig(parsed.config);
    if (parsed.command === 'scale') {
      const count = parsed.positionals[0];
      if (count === undefined || !/^\d+$/.test(count)) {
        throw new StickyError(ErrorCode.InvalidOption, `Expected a worker count after \`scale\`, received ${JSON.stringify(count ?? '')}.`, { hint: 'sticky-runtime scale 4' });
      }
      request = { command: 'scale', workers: Number(count) };
    } else {
      request = { command: parsed.command };
    }
  } catch (error) {
    throw new CliFailure(error, EXIT_CODES.usage);
  }
  let reply;
  try {
    reply = await sendControl(controlSocketOf(parsed, config), request, (progress) => {
      write(process.stderr, stripControl(formatProgress(progress)));
    }, CONTROL_TIMEOUT_MS);
  } catch (error) {
    throw new CliFailure(error, EXIT_CODES.unavailable);
  }
  if (reply.type === 'error') {
    write(process.stderr, stripControl(`sticky-runtime: ${String(reply.code)}: ${String(reply.message)}\n`));
    process.exitCode = reply.code === ErrorCode.InvalidOption ? EXIT_CODES.usage : EXIT_CODES.failed;
    return;
  }
  let text: string;
  try {
    text = replyText(parsed, reply);
  } catch (error) {
    throw new CliFailure(new StickyError(ErrorCode.ControlUnavailable, `The answer at the control socket is not a sticky-runtime cluster's ${String(parsed.command)} reply.`, {
      cause: error, hint: 'Check the `--control-socket` path.',
    }), EXIT_CODES.unavailable);
  }
  write(process.stdout, text);
}

/** The text a successful reply prints; whatever the server sent, no terminal control sequence survives. */
function replyText(parsed: ParsedCommand, reply: ControlReply): string {
  if (parsed.command === 'status') {
    return parsed.json ? `${terminalJson(reply)}\n` : stripControl(formatStatus(reply as unknown as StatusReply));
  }
  if (parsed.command === 'scale') return stripControl(`scaled from ${String(reply.from)} to ${String(reply.to)} workers\n`);
  const report = reply.report as { slots: unknown[] };
  return `reloaded ${Number(report.slots.length)} slots\n`;
}

async function main(argv: readonly string[]): Promise<void> {
  let parsed: ParsedCommand;
  try {
    parsed = parseCommandLine(argv);
  } catch (error) {
    throw new CliFailure(error, EXIT_CODES.usage);
  }
  if (parsed.version) {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    write(process.stdout, `${pkg.version}\n`);
    return;
  }
  if (parsed.help || parsed.command === undefined || parsed.command === 'help') {
    write(parsed.command === undefined && !parsed.help ? process.stderr : process.stdout, HELP);
    if (parsed.command === undefined && !parsed.help) process.exitCode = EXIT_CODES.usage;
    return;
  }
  switch (parsed.command) {
    case 'serve': return serve(parsed);
    case 'reload': case 'scale': case 'status': return control(parsed);
    default:
      throw new CliFailure(new StickyError(ErrorCode.InvalidOption, `Unknown command \`${parsed.command}\`.`, {
        hint: 'Commands: serve, reload, scale, status. Run `sticky-runtime --help`.',
      }), EXIT_CODES.usage);
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  const failure = error instanceof CliFailure ? error : new CliFailure(error, EXIT_CODES.failed);
  printError(failure.cause);
  process.exitCode = failure.exitCode;
});
