import { ErrorCode, StickyError } from '../errors.js';
import { MAX_WORKERS } from '../options/index.js';

// Rolling-restart and scaling arithmetic, pure: which slots are replaced together, in order, and
// where a scaling step leads.

/** Slots 0..count-1 in batches of `concurrency`, in slot order. */
export function planRollout(count: number, concurrency: number): number[][] {
  const batches: number[][] = [];
  for (let start = 0; start < count; start += concurrency) {
    batches.push(Array.from({ length: Math.min(concurrency, count - start) }, (_, i) => start + i));
  }
  return batches;
}

/** The slot count one scaling step of `delta` leads to from `from`: at least 1, at most MAX_WORKERS. */
export function nextScaleTarget(from: number, delta: number): number {
  return Math.min(MAX_WORKERS, Math.max(1, from + delta));
}

/** One slot's outcome in a rolling restart. */
export interface SlotReloadReport {
  slot: number;
  status: 'replaced' | 'failed' | 'skipped';
  oldWorkerId: number | undefined;
  newWorkerId: number | undefined;
  /** For `failed`: why the replacement did not take over. */
  reason?: string;
}

export interface ReloadReport {
  ok: boolean;
  slots: SlotReloadReport[];
}

/** `STICKY_ERR_RELOAD_FAILED`: a rolling restart stopped; `report` says what happened to each slot. */
export class ReloadError extends StickyError {
  declare readonly code: typeof ErrorCode.ReloadFailed;
  readonly report: ReloadReport;

  constructor(report: ReloadReport, failed: SlotReloadReport) {
    super(
      ErrorCode.ReloadFailed,
      `Rolling restart stopped at slot ${failed.slot}: ${failed.reason ?? 'unknown'}. The old workers keep serving.`,
      { hint: 'Fix the start-up error (see the worker logs) and reload again.' },
    );
    this.report = report;
  }
}

/**
 * True for the error of a failed rolling restart, also a copy rebuilt after IPC or from another copy
 * of the package: narrows `unknown` (a `catch` binding) to `ReloadError`, so `err.report` is typed.
 * @example
 * try { await primary.reload(); } catch (err) { if (isReloadError(err)) logger.error(err.report, 'reload failed'); }
 */
export const isReloadError = (value: unknown): value is ReloadError =>
  value instanceof Error && (value as Partial<ReloadError>).code === ErrorCode.ReloadFailed &&
  typeof (value as Partial<ReloadError>).report === 'object' && (value as Partial<ReloadError>).report !== null;
