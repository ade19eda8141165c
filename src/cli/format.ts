import { slotStateOf, type SlotStateName } from '../slot-state.js';

// Human-readable output of the CLI: the status table and reload progress lines.

export interface SlotStatus {
  slot: number;
  /** Absent from the answer of a primary of an earlier version. */
  state?: SlotStateName;
  pid: number | undefined;
  isReady: boolean;
  isFailed: boolean;
  isRespawnPending: boolean;
  uptime?: number | undefined;
  generation: number;
  queued: number;
  handoffs?: number;
  /** What the slot's workers report (`reportInterval`): % of one core, bytes, totals, open now, ms. */
  cpu?: number;
  rss?: number;
  requests?: number;
  connections?: number;
  lagMax?: number;
}

export interface StatusReply {
  pid: number;
  uptime: number;
  stats: { state: string; workers: number; readyWorkers: number; restarts: number; slots: SlotStatus[] };
}

/** 3725000 → "1h2m5s". */
export function formatDuration(ms: number | undefined): string {
  if (ms === undefined) return '-';
  const seconds = Math.floor(ms / 1000);
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return h > 0 ? `${h}h${m}m${s}s` : m > 0 ? `${m}m${s}s` : `${s}s`;
}

/** 134217728 → "128.0 MB". */
export function formatBytes(bytes: number | undefined): string {
  if (bytes === undefined) return '-';
  const units = ['B', 'KB', 'MB', 'GB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit] as string}`;
}

const numberOr = (value: unknown): number | undefined =>
  (typeof value === 'number' && Number.isFinite(value) ? value : undefined);

/** A reported figure as the table shows it: '-' while the slot's worker has not reported it. */
function figure(value: unknown, format: (value: number) => string): string {
  const number = numberOr(value);
  return number === undefined ? '-' : format(number);
}

/** The slot's state as the primary reports it, or as its facts give it (a primary of an earlier version). */
export function slotState(slot: SlotStatus): SlotStateName {
  return slot.state ?? slotStateOf({
    isFailed: slot.isFailed, hasWorker: slot.pid !== undefined, isWorkerReady: slot.isReady,
    // Such a primary routed every ready worker, as far as its answer tells.
    isRouted: slot.isReady, isProvisional: false, isRespawnPending: slot.isRespawnPending,
  });
}

export function formatStatus(status: StatusReply): string {
  const { stats } = status;
  const head = `${stats.state} · primary pid ${status.pid} · up ${formatDuration(status.uptime)}`
    + ` · ${stats.slots.length} slots, ${stats.readyWorkers} ready · ${stats.restarts} respawns\n`;
  const rows = [
    ['SLOT', 'PID', 'STATE', 'UPTIME', 'CPU', 'MEM', 'REQUESTS', 'CONNS', 'LAG', 'RESTARTS', 'QUEUED', 'HANDOFFS'],
  ];
  for (const slot of stats.slots) {
    rows.push([
      String(slot.slot), slot.pid === undefined ? '-' : String(slot.pid), slotState(slot), formatDuration(slot.uptime),
      figure(slot.cpu, (cpu) => `${cpu.toFixed(1)}%`), figure(slot.rss, formatBytes), figure(slot.requests, String),
      figure(slot.connections, String), figure(slot.lagMax, (lag) => `${lag.toFixed(0)}ms`),
      String(slot.generation), String(slot.queued), slot.handoffs === undefined ? '-' : String(slot.handoffs),
    ]);
  }
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length))) ?? [];
  const lines = rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ').trimEnd());
  return `${head}${lines.join('\n')}\n`;
}

/** One line per slot a reload walked: "reload 2/4: slot 1 replaced (worker 2 → 6)". */
export function formatProgress(progress: Readonly<Record<string, unknown>>): string {
  const workers = progress.newWorkerId === undefined
    ? ''
    : ` (worker ${String(progress.oldWorkerId ?? '-')} → ${String(progress.newWorkerId)})`;
  const reason = typeof progress.reason === 'string' ? `: ${progress.reason}` : '';
  const step = `${String(progress.done)}/${String(progress.total)}`;
  return `reload ${step}: slot ${String(progress.slot)} ${String(progress.status)}${workers}${reason}\n`;
}
