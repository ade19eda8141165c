import { formatBytes, formatDuration, formatStatus, slotState, type SlotStatus, type StatusReply } from './format.js';

export { formatBytes } from './format.js';

// The frames of `status --watch`: one table per cluster, one row per slot of its `stats().slots`.
// Pure: the caller polls, keeps the previous samples and draws.

/** One cluster as the last poll found it: its status, or why there is none. */
export interface ClusterSnapshot {
  label: string;
  reply?: StatusReply;
  error?: string;
}

/**
 * Figures a worker reports about itself, when a status reply carries them for its slot (`cpu`: % of
 * one core, `rss`: bytes, `requests`: served so far). The one place that reads them: a column stays
 * '-' while its figure is absent.
 */
export interface WorkerFigures {
  cpu: number | undefined;
  rss: number | undefined;
  requests: number | undefined;
}

const numberOr = (value: unknown): number | undefined =>
  (typeof value === 'number' && Number.isFinite(value) ? value : undefined);

export function figuresOf(slot: SlotStatus): WorkerFigures {
  const raw = slot as unknown as Record<string, unknown>;
  return { cpu: numberOr(raw.cpu), rss: numberOr(raw.rss), requests: numberOr(raw.requests) };
}

/** The previous poll's request count per worker pid, for requests/s. */
export type Samples = Map<number, { at: number; requests: number }>;

export const MONITOR_COLUMNS = [
  'SLOT', 'PID', 'STATE', 'UPTIME', 'CPU', 'MEM', 'REQ/S', 'RESTARTS', 'QUEUED', 'HANDOFFS',
];

function rateOf(
  pid: number | undefined, requests: number | undefined, now: number, previous: Samples, next: Samples,
): string {
  if (pid === undefined || requests === undefined) return '-';
  next.set(pid, { at: now, requests });
  const before = previous.get(pid);
  if (before === undefined || now <= before.at) return '-';
  return ((requests - before.requests) * 1000 / (now - before.at)).toFixed(1);
}

function slotRows(reply: StatusReply, now: number, previous: Samples, next: Samples): string[][] {
  return reply.stats.slots.map((slot) => {
    const figures = figuresOf(slot);
    return [
      String(slot.slot), slot.pid === undefined ? '-' : String(slot.pid), slotState(slot), formatDuration(slot.uptime),
      figures.cpu === undefined ? '-' : `${figures.cpu.toFixed(1)}%`, formatBytes(figures.rss),
      rateOf(slot.pid, figures.requests, now, previous, next),
      String(slot.generation), String(slot.queued), slot.handoffs === undefined ? '-' : String(slot.handoffs),
    ];
  });
}

export function table(rows: string[][]): string[] {
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length))) ?? [];
  return rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ').trimEnd());
}

/** The lines of one frame; `next` receives this poll's samples. */
export function renderFrame(
  clusters: readonly ClusterSnapshot[], now: number, previous: Samples, next: Samples,
): string[] {
  const lines = [`sticky-runtime status --watch · ${new Date(now).toISOString().slice(11, 19)} · q or Ctrl-C quits`];
  if (clusters.length === 0) lines.push('', 'no running cluster found');
  for (const cluster of clusters) {
    lines.push('', cluster.label);
    if (cluster.reply === undefined) {
      lines.push(`  not answering: ${cluster.error ?? 'no answer'}`);
      continue;
    }
    lines.push(formatStatus(cluster.reply).split('\n')[0] as string);
    lines.push(...table([MONITOR_COLUMNS, ...slotRows(cluster.reply, now, previous, next)]));
  }
  return lines;
}
