import { lstatSync, mkdirSync, readdirSync, type Stats } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { ErrorCode, StickyError } from '../errors.js';
import { untrustedDirectoryReason } from './socket-trust.js';

// Where a cluster's control socket lives. Unnamed: `./sticky-runtime.sock`, or `--control-socket`.
// Named (`--name api`): `$XDG_RUNTIME_DIR/sticky-runtime/api.sock`, else
// `<tmpdir>/sticky-runtime-<uid>/api.sock`, in a directory of this user with mode 0700.

export const DEFAULT_CONTROL_SOCKET = 'sticky-runtime.sock';
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const SUFFIX = '.sock';

/** A control socket a command talks to; `name` is undefined for an unnamed cluster. */
export interface ControlTarget {
  name: string | undefined;
  path: string;
}

/** A status answer comes at once; a cluster that does not answer within this is reported. */
export const STATUS_TIMEOUT_MS = 10_000;

export const labelOf = (target: ControlTarget): string =>
  target.name === undefined ? `unnamed cluster (${target.path})` : `cluster ${target.name} (${target.path})`;

/** The directory of named sockets. Pure. */
export function namedSocketDirectory(
  env: Readonly<Record<string, string | undefined>>, uid: number | undefined, temp: string,
): string {
  const runtime = env.XDG_RUNTIME_DIR;
  if (runtime !== undefined && runtime !== '' && isAbsolute(runtime)) return join(runtime, 'sticky-runtime');
  return join(temp, uid === undefined ? 'sticky-runtime' : `sticky-runtime-${uid}`);
}

const socketDirectory = (): string => namedSocketDirectory(process.env, process.getuid?.(), tmpdir());

/**
 * @throws {StickyError} `STICKY_ERR_INVALID_OPTION` unless `name` is 1–64 letters, digits, `.`, `_`
 * or `-`, starting with a letter or digit.
 */
export function checkName(name: string): string {
  if (!NAME.test(name)) {
    throw new StickyError(ErrorCode.InvalidOption, 'Expected `--name` to be 1–64 letters, digits, \'.\', \'_\' or \'-\''
      + ` (starting with a letter or digit), received ${JSON.stringify(name)}.`, {
      hint: 'sticky-runtime serve ./app.js --name api',
    });
  }
  return name;
}

/**
 * The socket path a cluster named `name` listens on; creates its directory (0700) when missing.
 * @throws {StickyError} `STICKY_ERR_LISTEN_FAILED` when the directory exists but is not a 0700
 * directory of this user (it is left as it is), or cannot be created.
 */
export function prepareNamedSocket(name: string): string {
  const directory = socketDirectory();
  try {
    mkdirSync(directory, { mode: 0o700 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new StickyError(ErrorCode.ListenFailed, `Cannot create the control socket directory ${directory}.`,
        { cause: error, hint: 'See `cause`.' });
    }
  }
  // Also after mkdir(): what is there now is checked, not what was meant to be created.
  const reason = directoryReason(directory);
  if (reason !== undefined) {
    throw new StickyError(ErrorCode.ListenFailed,
      `Refusing the control socket directory ${directory}: ${reason}; it is left as it is.`,
      { hint: 'Remove it if it is yours to remove (serve creates it again, mode 0700), or set $XDG_RUNTIME_DIR.' });
  }
  return join(directory, `${name}${SUFFIX}`);
}

/**
 * The socket of the running cluster named `name`, for the control commands.
 * @throws {StickyError} `STICKY_ERR_CONTROL_UNAVAILABLE` when the directory does not exist,
 * `STICKY_ERR_CONTROL_UNTRUSTED` when it is not a 0700 directory of this user.
 */
export function namedSocket(name: string): string {
  const directory = socketDirectory();
  const reason = directoryReason(directory);
  if (reason === 'missing') {
    throw new StickyError(ErrorCode.ControlUnavailable,
      `No cluster named ${JSON.stringify(name)} runs (no ${directory}).`, {
        hint: 'Start one with `sticky-runtime serve <app> --name <name>`;'
          + ' `sticky-runtime status` lists the running ones.',
      });
  }
  if (reason !== undefined) throw untrusted(directory, reason);
  return join(directory, `${name}${SUFFIX}`);
}

/**
 * Every named socket of this user, by name, and the unnamed one in the current directory when there
 * is one. A directory of named sockets that fails the checks is reported through `onRefused`.
 */
export function discoverTargets(onRefused: (error: StickyError) => void): ControlTarget[] {
  const targets: ControlTarget[] = [];
  const directory = socketDirectory();
  const reason = directoryReason(directory);
  if (reason === undefined) {
    for (const entry of readdirSync(directory).sort()) {
      const name = entry.endsWith(SUFFIX) ? entry.slice(0, -SUFFIX.length) : '';
      if (NAME.test(name)) targets.push({ name, path: join(directory, entry) });
    }
  } else if (reason !== 'missing') {
    onRefused(untrusted(directory, reason));
  }
  const unnamed = resolve(DEFAULT_CONTROL_SOCKET);
  if (lstatOrUndefined(unnamed) !== undefined) targets.push({ name: undefined, path: unnamed });
  return targets;
}

function directoryReason(directory: string): string | undefined {
  const stat = lstatOrUndefined(directory);
  if (stat === undefined) return 'missing';
  const uid = process.getuid?.();
  return uid === undefined ? undefined : untrustedDirectoryReason(stat, uid);
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

function untrusted(directory: string, reason: string): StickyError {
  return new StickyError(ErrorCode.ControlUntrusted, `Refusing the control socket directory ${directory}: ${reason}.`, {
    hint: 'Run the command as the user that runs `sticky-runtime serve`;'
      + ' remove the directory if it is yours to remove.',
  });
}

/** The flags' or the config file's `name` / `controlSocket`: at most one of the two, flags first. */
export interface TargetChoice {
  name: string | undefined;
  controlSocket: string | undefined;
}

/**
 * The target chosen by `--name` / `--control-socket` (or the config file's `name` / `controlSocket`
 * when neither flag is given); undefined when none is.
 * @throws {StickyError} `STICKY_ERR_INVALID_OPTION` when both are given, or for a bad name.
 */
export function chosenTarget(
  flags: TargetChoice, config: TargetChoice,
): { name: string } | { path: string } | undefined {
  const from = flags.name !== undefined || flags.controlSocket !== undefined ? flags : config;
  if (from.name !== undefined && from.controlSocket !== undefined) {
    const where = from === flags ? ' (`--name`, `--control-socket`)' : ' (config file)';
    throw new StickyError(ErrorCode.InvalidOption, `Give either \`name\` or \`controlSocket\`, not both${where}.`, {
      hint: 'A named cluster has its socket in a directory of its own: `--name api`.',
    });
  }
  if (from.name !== undefined) return { name: checkName(from.name) };
  if (from.controlSocket !== undefined) return { path: resolve(from.controlSocket) };
  return undefined;
}
