import { resolve } from 'node:path';
import { ErrorCode, StickyError, isStickyError } from '../errors.js';
import type { ParsedCommand } from './args.js';
import { loadConfig } from './config-file.js';
import { sendControl } from './control-client.js';
import type { ControlReply } from './control-primary.js';
import { CliFailure, printError, write } from './failure.js';
import { formatProgress, formatStatus, type StatusReply } from './format.js';
import { EXIT_CODES } from './help.js';
import { monitor } from './monitor.js';
import {
  DEFAULT_CONTROL_SOCKET, STATUS_TIMEOUT_MS, chosenTarget, discoverTargets, labelOf, namedSocket, type ControlTarget,
} from './socket-path.js';
import { stripControl, terminalJson } from './terminal-text.js';

// `sticky-runtime status | reload | scale N`: requests to running clusters over their control sockets.
// The config file is imported for its `name` / `controlSocket`; its `primary` hook never runs here.

/** A reload may take long: every slot forks, gets ready and drains. */
const CONTROL_TIMEOUT_MS = 10 * 60_000;

/**
 * The clusters a command talks to: the one chosen by name or socket path; else, for `status`, every
 * named cluster of this user and the unnamed one here (`list` is then true); else `./sticky-runtime.sock`.
 */
async function targetsOf(parsed: ParsedCommand): Promise<{ targets: () => ControlTarget[]; isList: boolean }> {
  const config = await loadConfig(parsed.config);
  const chosen = chosenTarget(
    { name: parsed.name, controlSocket: parsed.controlSocket },
    { name: config.name, controlSocket: config.controlSocket },
  );
  if (chosen !== undefined) {
    // Looked up when used: a missing or refused directory is exit 4, not a usage error.
    const target = (): ControlTarget => ('name' in chosen
      ? { name: chosen.name, path: namedSocket(chosen.name) }
      : { name: undefined, path: chosen.path });
    return { targets: () => [target()], isList: false };
  }
  if (parsed.command !== 'status') {
    return { targets: () => [{ name: undefined, path: resolve(DEFAULT_CONTROL_SOCKET) }], isList: false };
  }
  return {
    isList: true,
    targets: () => {
      const found = discoverTargets(printError);
      return found.length > 0 ? found : [{ name: undefined, path: resolve(DEFAULT_CONTROL_SOCKET) }];
    },
  };
}

function requestOf(parsed: ParsedCommand): object {
  if (parsed.command !== 'scale') return { command: parsed.command };
  const count = parsed.positionals[0];
  if (count === undefined || !/^\d+$/.test(count)) {
    throw new StickyError(ErrorCode.InvalidOption,
      `Expected a worker count after \`scale\`, received ${JSON.stringify(count ?? '')}.`,
      { hint: 'sticky-runtime scale 4' });
  }
  return { command: 'scale', workers: Number(count) };
}

export async function control(parsed: ParsedCommand): Promise<void> {
  let request: object;
  let plan: Awaited<ReturnType<typeof targetsOf>>;
  try {
    request = requestOf(parsed);
    plan = await targetsOf(parsed);
    if (parsed.watch && parsed.command !== 'status') {
      throw new StickyError(ErrorCode.InvalidOption,
        `\`--watch\` is for \`status\` and \`serve\`, not \`${String(parsed.command)}\`.`,
        { hint: 'sticky-runtime status --watch' });
    }
  } catch (error) {
    throw new CliFailure(error, EXIT_CODES.usage);
  }
  if (parsed.command === 'status' && parsed.watch) {
    process.exitCode = await monitor(plan.targets, plan.isList);
    return;
  }
  let target: ControlTarget;
  let reply: ControlReply;
  try {
    const targets = plan.targets();
    // Only the unnamed cluster here: the same output as `status --control-socket ./sticky-runtime.sock`.
    if (plan.isList && (targets.length > 1 || targets[0]?.name !== undefined)) {
      process.exitCode = await statusOfAll(targets, parsed.json);
      return;
    }
    target = targets[0] as ControlTarget;
    reply = await sendControl(target.path, request, (progress) => {
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
  write(process.stdout, replyText(parsed, reply, target.path));
}

/** `status` of every cluster found: exit 0 when at least one answered, 4 when none did. */
async function statusOfAll(targets: ControlTarget[], isJson: boolean): Promise<number> {
  const results = await Promise.all(targets.map(async (target) => {
    try {
      const reply = await sendControl(target.path, { command: 'status' }, () => undefined, STATUS_TIMEOUT_MS);
      return { target, reply };
    } catch (error) {
      return { target, error };
    }
  }));
  let answered = 0;
  for (const { target, reply, error } of results) {
    if (reply === undefined || reply.type !== 'result') {
      printError(error
        ?? new StickyError(ErrorCode.ControlUnavailable, `${labelOf(target)}: ${String(reply?.message)}`));
      continue;
    }
    let text: string;
    try {
      text = isJson ? `${terminalJson({ ...reply, name: target.name ?? null, controlSocket: target.path })}\n`
        : stripControl(`${labelOf(target)}\n${formatStatus(reply as unknown as StatusReply)}`);
    } catch (cause) {
      printError(notStatus(target.path, cause));
      continue;
    }
    write(process.stdout, answered > 0 && !isJson ? `\n${text}` : text);
    answered++;
  }
  return answered > 0 ? EXIT_CODES.ok : EXIT_CODES.unavailable;
}

const notStatus = (path: string, cause: unknown): StickyError =>
  new StickyError(ErrorCode.ControlUnavailable,
    `The answer at the control socket ${path} is not a sticky-runtime cluster's status reply.`,
    { cause, hint: 'Check the `--control-socket` path.' });

/** The text a successful reply prints; whatever the server sent, no terminal control sequence survives. */
function replyText(parsed: ParsedCommand, reply: ControlReply, path: string): string {
  try {
    if (parsed.command === 'status') {
      return parsed.json ? `${terminalJson(reply)}\n` : stripControl(formatStatus(reply as unknown as StatusReply));
    }
    if (parsed.command === 'scale') {
      return stripControl(`scaled from ${String(reply.from)} to ${String(reply.to)} workers\n`);
    }
    const report = reply.report as { slots: unknown[] };
    return `reloaded ${Number(report.slots.length)} slots\n`;
  } catch (error) {
    throw new CliFailure(isStickyError(error) ? error : new StickyError(ErrorCode.ControlUnavailable,
      `The answer at the control socket is not a sticky-runtime cluster's ${String(parsed.command)} reply.`, {
        cause: error, hint: `Check the \`--control-socket\` path (${path}).`,
      }), EXIT_CODES.unavailable);
  }
}
