import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ErrorCode, StickyError } from '../errors.js';
import type { ListenOptions } from '../options/index.js';
import type { StickyPrimary } from '../primary.js';
import type { OutputConfig } from './output-options.js';

// The CLI's config file: options for `serve`, the CLI's own keys, and an optional `primary(handle)`
// hook that `serve` runs in the primary (the control commands import the file, never run the hook).

const CONFIG_NAMES = ['sticky-runtime.config.js', 'sticky-runtime.config.mjs', 'sticky-runtime.config.cjs'];

/** Runs once in `serve`'s primary, after the workers are forked and before the public port opens. */
export type PrimaryHook = (primary: StickyPrimary) => void | Promise<void>;

export interface ConfigFile extends ListenOptions, OutputConfig {
  app?: string;
  port?: number | string;
  host?: string;
  controlSocket?: string;
  name?: string;
  primary?: PrimaryHook;
}

/** The config file's listen options, without the CLI's own keys. */
export function listenOptionsOf(config: ConfigFile): ListenOptions {
  const {
    app: _app, port: _port, host: _host, controlSocket: _socket, name: _name, primary: _primary,
    prefixOutput: _prefix, logFile: _file, logDir: _dir, ...options
  } = config;
  return options;
}

/**
 * Imports the config file: `explicit`, else the first `sticky-runtime.config.{js,mjs,cjs}` in the
 * current directory; `{}` when there is none.
 * @throws {StickyError} `STICKY_ERR_INVALID_OPTION` when the file is missing or exports no object,
 * or its `primary` is not a function.
 */
export async function loadConfig(explicit: string | undefined): Promise<ConfigFile> {
  const path = explicit === undefined
    ? CONFIG_NAMES.map((name) => resolve(name)).find((name) => existsSync(name))
    : resolve(explicit);
  if (path === undefined) return {};
  if (!existsSync(path)) {
    throw new StickyError(ErrorCode.InvalidOption, `Config file ${path} does not exist.`,
      { hint: 'Check the `--config` path.' });
  }
  const module = await import(pathToFileURL(path).href) as { default?: unknown };
  const config = module.default;
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new StickyError(ErrorCode.InvalidOption,
      `Config file ${path} must export an object of options (default export).`,
      { hint: 'export default { workers: 4, shutdownDelay: 5000 }' });
  }
  const hook = (config as ConfigFile).primary;
  if (hook !== undefined && typeof hook !== 'function') {
    throw new StickyError(ErrorCode.InvalidOption,
      `\`primary\` in the config file ${path} must be a function, received ${typeof hook}.`,
      { hint: 'export default { primary(primary) { setupPrimary(); } }' });
  }
  return config as ConfigFile;
}
