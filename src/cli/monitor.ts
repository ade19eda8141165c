import { ErrorCode, StickyError, isStickyError } from '../errors.js';
import { sendControl } from './control-client.js';
import { printError, write } from './failure.js';
import type { StatusReply } from './format.js';
import { EXIT_CODES } from './help.js';
import { renderFrame, type ClusterSnapshot, type Samples } from './monitor-view.js';
import { STATUS_TIMEOUT_MS, labelOf, type ControlTarget } from './socket-path.js';
import { stripControl } from './terminal-text.js';

// `sticky-runtime status --watch`: polls the clusters' status every second and draws it. On a
// terminal the frame is redrawn in place (alternate screen, cursor home, clear to end) and q or
// Ctrl-C quits; otherwise every frame is printed as plain text, one after the other.

const POLL_INTERVAL_MS = 1000;
const ESC = '\x1b[';

async function snapshot(target: ControlTarget): Promise<ClusterSnapshot> {
  const label = labelOf(target);
  try {
    const reply = await sendControl(target.path, { command: 'status' }, () => undefined, STATUS_TIMEOUT_MS);
    const slots = (reply.stats as { slots?: unknown } | null | undefined)?.slots;
    if (reply.type !== 'result' || typeof reply.stats !== 'object' || !Array.isArray(slots)) {
      return { label, error: reply.type === 'error' ? String(reply.message) : 'not a status reply' };
    }
    return { label, reply: reply as unknown as StatusReply };
  } catch (error) {
    return { label, error: isStickyError(error) ? error.message.replace(/ Hint: .*$/, '') : String(error) };
  }
}

/** Runs until q, Ctrl-C or a signal; resolves with the exit code (4 when the first poll finds no cluster). */
export function monitor(targets: () => ControlTarget[], isList: boolean): Promise<number> {
  const isTty = process.stdout.isTTY;
  let previous: Samples = new Map();
  let timer: NodeJS.Timeout | undefined;
  let isFirst = true;
  let isStopped = false;
  return new Promise((resolve) => {
    const stop = (code: number): void => {
      if (isStopped) return;
      isStopped = true;
      clearTimeout(timer);
      if (process.stdin.isTTY) {
        process.stdin.setRawMode(false);
        process.stdin.pause();
      }
      if (isTty) write(process.stdout, `${ESC}?25h${ESC}?1049l`);
      resolve(code);
    };
    const poll = async (): Promise<void> => {
      let clusters: ClusterSnapshot[];
      try {
        clusters = await Promise.all(targets().map(snapshot));
      } catch (error) {
        clusters = [{ label: 'control socket', error: isStickyError(error) ? error.message : String(error) }];
      }
      if (isStopped) return;
      if (isFirst && !clusters.some((cluster) => cluster.reply !== undefined)) {
        const detail = clusters[0]?.error ?? 'none found';
        const where = isList ? '' : ` at ${clusters[0]?.label ?? ''}`;
        const message = `No sticky-runtime cluster answers${where}: ${detail}`;
        printError(new StickyError(ErrorCode.ControlUnavailable, message, {
          hint: 'Start one with `sticky-runtime serve`, or pass the `--name` / `--control-socket` it uses.',
        }));
        stop(EXIT_CODES.unavailable);
        return;
      }
      if (isFirst && isTty) write(process.stdout, `${ESC}?1049h${ESC}?25l`);
      isFirst = false;
      const next: Samples = new Map();
      const lines = renderFrame(clusters, Date.now(), previous, next).map((line) => stripControl(line));
      previous = next;
      const frame = isTty
        ? `${ESC}H${lines.map((line) => `${line}${ESC}K`).join('\n')}\n${ESC}J`
        : `${lines.join('\n')}\n\n`;
      write(process.stdout, frame);
      timer = setTimeout(() => void poll(), POLL_INTERVAL_MS);
    };
    if (process.stdin.isTTY) {
      process.stdin.setRawMode(true);
      process.stdin.resume();
      process.stdin.on('data', (key: Buffer) => {
        if (key.includes(0x71) || key.includes(0x51) || key.includes(0x03)) stop(EXIT_CODES.ok);
      });
    }
    process.once('SIGINT', () => stop(EXIT_CODES.ok));
    process.once('SIGTERM', () => stop(EXIT_CODES.ok));
    void poll();
  });
}
