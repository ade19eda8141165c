import { parseArgs } from 'node:util';
import { ErrorCode, StickyError } from '../errors.js';
import type { ListenOptions } from '../options/index.js';

// Command-line flags → the library's options, one to one: `--slot-wait-timeout 500` is
// `slotWaitTimeout: 500`. Pure: no file, process or network access.

/** Options a flag maps to, by kind. Functions and objects come from the config file only. */
const INTEGER_OPTIONS = [
  'workers', 'trustedHops', 'hashSeed', 'backlog', 'maxHeadBytes', 'headTimeout', 'maxPendingHeads', 'slotQueueLimit',
  'slotWaitTimeout', 'shutdownTimeout', 'shutdownDelay', 'drainTimeout', 'readyTimeout', 'reloadConcurrency',
  'respawnDelay', 'maxRespawnDelay', 'minUptime', 'maxRestarts', 'restartWindow', 'failedSlotRetry', 'maxRequests',
  'maxRequestsJitter', 'maxMemory', 'memoryCheckInterval',
] as const;
const STRING_OPTIONS = ['proxyHeader', 'readiness', 'logLevel', 'steering'] as const;
const BOOLEAN_OPTIONS = ['proxyProtocol'] as const;
/** Options that take a list, given as one comma-separated flag: `--trusted-proxies 10.0.0.0/8,::1`. */
const LIST_OPTIONS = ['trustedProxies'] as const;

/** Flags of the CLI itself. */
const CLI_FLAGS = {
  port: { type: 'string', short: 'p' },
  host: { type: 'string', short: 'H' },
  config: { type: 'string', short: 'c' },
  'control-socket': { type: 'string' },
  'metrics-port': { type: 'string' },
  'metrics-host': { type: 'string' },
  'metrics-token-file': { type: 'string' },
  name: { type: 'string', short: 'n' },
  watch: { type: 'boolean' },
  'watch-path': { type: 'string', multiple: true },
  'watch-ignore': { type: 'string', multiple: true },
  'prefix-output': { type: 'boolean' },
  'log-file': { type: 'string' },
  'log-dir': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
} as const;

export const kebab = (name: string): string => name.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);

type FlagSpec = { type: 'string' | 'boolean'; short?: string; multiple?: boolean };

function flagSpecs(): Record<string, FlagSpec> {
  const specs: Record<string, FlagSpec> = { ...CLI_FLAGS };
  for (const name of [...INTEGER_OPTIONS, ...STRING_OPTIONS, ...LIST_OPTIONS]) specs[kebab(name)] = { type: 'string' };
  for (const name of BOOLEAN_OPTIONS) specs[kebab(name)] = { type: 'boolean' };
  specs.workers = { type: 'string', short: 'w' };
  return specs;
}

export const FLAG_NAMES: readonly string[] = Object.keys(flagSpecs());

export interface ParsedCommand {
  command: string | undefined;
  /** Arguments after the command (`serve ./app.js` → `['./app.js']`). */
  positionals: string[];
  /** Options given as flags, as the library names them. */
  options: ListenOptions;
  port: string | undefined;
  host: string | undefined;
  config: string | undefined;
  controlSocket: string | undefined;
  metricsPort: string | undefined;
  metricsHost: string | undefined;
  metricsTokenFile: string | undefined;
  /** `--name`: the cluster's name, which places its control socket. */
  name: string | undefined;
  /** `serve --watch`: reload on changes; `status --watch`: a live view. */
  watch: boolean;
  /** `--watch-path` (repeatable): what `serve --watch` watches instead of the app's directory. */
  watchPaths: string[];
  /** `--watch-ignore` (repeatable, or comma-separated): patterns ignored on top of the defaults. */
  watchIgnore: string[];
  /** `--prefix-output`: the workers' output through the primary, each line prefixed with its slot and pid. */
  prefixOutput: boolean;
  logFile: string | undefined;
  logDir: string | undefined;
  json: boolean;
  help: boolean;
  version: boolean;
}

/** `--workers 4` arrives as "4": a number when it reads as one, else the string, which validation names. */
const integerOrRaw = (value: string): number | string => (/^-?\d+$/.test(value) ? Number(value) : value);

/**
 * Parses argv (without node and the script).
 * @throws {StickyError} `STICKY_ERR_INVALID_OPTION` for an unknown flag or a flag without its value.
 */
export function parseCommandLine(argv: readonly string[]): ParsedCommand {
  let parsed: ReturnType<typeof parseArgs<{ options: Record<string, FlagSpec>; allowPositionals: true; strict: true }>>;
  try {
    parsed = parseArgs({ args: [...argv], options: flagSpecs(), allowPositionals: true, strict: true });
  } catch (error) {
    throw flagError(error);
  }
  const values = parsed.values as Record<string, string | boolean | string[] | undefined>;
  const options: Record<string, unknown> = {};
  for (const name of INTEGER_OPTIONS) {
    const value = values[kebab(name)];
    if (typeof value === 'string') options[name] = integerOrRaw(value);
  }
  for (const name of STRING_OPTIONS) {
    const value = values[kebab(name)];
    if (typeof value === 'string') options[name] = value;
  }
  for (const name of BOOLEAN_OPTIONS) if (values[kebab(name)] === true) options[name] = true;
  for (const name of LIST_OPTIONS) {
    const value = values[kebab(name)];
    // Empty items (`a,,b`, a trailing comma) are dropped; an empty list is the option's own error.
    if (typeof value === 'string') {
      options[name] = value.split(',').map((item) => item.trim()).filter((item) => item !== '');
    }
  }
  const text = (name: string): string | undefined =>
    (typeof values[name] === 'string' ? values[name] as string : undefined);
  const list = (name: string): string[] => (Array.isArray(values[name]) ? values[name] as string[] : []);
  const [command, ...positionals] = parsed.positionals;
  return {
    command,
    positionals,
    options: options as ListenOptions,
    port: text('port'),
    host: text('host'),
    config: text('config'),
    controlSocket: text('control-socket'),
    metricsPort: text('metrics-port'),
    metricsHost: text('metrics-host'),
    metricsTokenFile: text('metrics-token-file'),
    name: text('name'),
    watch: values.watch === true,
    watchPaths: list('watch-path'),
    watchIgnore: list('watch-ignore').flatMap((item) => item.split(','))
      .map((item) => item.trim()).filter((item) => item !== ''),
    prefixOutput: values['prefix-output'] === true,
    logFile: text('log-file'),
    logDir: text('log-dir'),
    json: values.json === true,
    help: values.help === true,
    version: values.version === true,
  };
}

const FLAGS_HINT = 'Run `sticky-runtime --help` for the flags.';

function flagError(error: unknown): StickyError {
  const message = error instanceof Error ? error.message : String(error);
  const unknown = /Unknown option '(-{1,2}[^']+)'/.exec(message)?.[1];
  if (unknown !== undefined) {
    const suggestion = closestFlag(unknown.replace(/^-+/, ''));
    return new StickyError(ErrorCode.InvalidOption, `Unknown flag \`${unknown}\`.`, {
      hint: suggestion === undefined ? FLAGS_HINT : `Did you mean \`--${suggestion}\`?`,
    });
  }
  return new StickyError(ErrorCode.InvalidOption, message.replace(/^.*?: /, ''), { hint: FLAGS_HINT });
}

/** The known flag within two edits of `name`, if any. */
export function closestFlag(name: string): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const flag of FLAG_NAMES) {
    const distance = editDistance(name, flag);
    if (distance < bestDistance) {
      best = flag;
      bestDistance = distance;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      const deletion = (previous[j] as number) + 1;
      const insertion = (current[j - 1] as number) + 1;
      current[j] = Math.min(deletion, insertion, (previous[j - 1] as number) + cost);
    }
    previous = current;
  }
  return previous[b.length] as number;
}
