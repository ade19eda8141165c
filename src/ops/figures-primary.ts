import type { MetricFamily, WorkerFiguresReport } from '../internal/metric-families.js';
import type { SlotFigureMetrics } from './prometheus.js';

// The primary's side of the workers' figures: the latest report of each worker, and per slot the
// totals over all the workers it had (a counter must not fall back when a reload replaces a worker).
// And the scrape of the workers' prom-client metrics: one request per worker, answered within a
// deadline; a worker that does not answer in time is left out of that scrape and counted.

/** A slot's figures in `stats().slots`; the gauges are its current worker's, undefined until it reported. */
export type SlotFigures = SlotFigureMetrics;

interface Latest {
  readonly slot: number;
  report: WorkerFiguresReport;
}

export class FigureBook {
  readonly #latest = new Map<number, Latest>();
  readonly #totals = new Map<number, { accepted: number; requests: number }>();
  /** Connections accepted by every worker, all slots together (what the kernel plane's counters show). */
  accepted = 0;

  /** A worker's report. Its running totals only grow: a report lower than the last adds nothing. */
  report(workerId: number, slot: number, report: WorkerFiguresReport): void {
    const last = this.#latest.get(workerId);
    const accepted = Math.max(0, report.accepted - (last?.report.accepted ?? 0));
    const requests = Math.max(0, report.requests - (last?.report.requests ?? 0));
    let totals = this.#totals.get(slot);
    if (totals === undefined) {
      totals = { accepted: 0, requests: 0 };
      this.#totals.set(slot, totals);
    }
    totals.accepted += accepted;
    totals.requests += requests;
    this.accepted += accepted;
    if (last === undefined) this.#latest.set(workerId, { slot, report });
    else {
      last.report = {
        ...report,
        accepted: Math.max(report.accepted, last.report.accepted),
        requests: Math.max(report.requests, last.report.requests),
      };
    }
  }

  /** The worker exited: its last report stays in its slot's totals. */
  forget(workerId: number): void {
    this.#latest.delete(workerId);
  }

  /** Open connections: every worker of the slot (a replaced one still drains); the rest: its current worker's. */
  ofSlot(slot: number, currentWorkerId: number | undefined): SlotFigures {
    const totals = this.#totals.get(slot);
    const current = currentWorkerId === undefined ? undefined : this.#latest.get(currentWorkerId)?.report;
    let connections: number | undefined;
    for (const latest of this.#latest.values()) {
      if (latest.slot === slot) connections = (connections ?? 0) + latest.report.connections;
    }
    return {
      requests: totals?.requests ?? 0, accepted: totals?.accepted ?? 0, connections,
      lag: current?.lag, lagMax: current?.lagMax, cpu: current?.cpu, rss: current?.rss,
    };
  }

  /** Connections the slot's workers accepted, all of them together. */
  acceptedBy(slot: number): number {
    return this.#totals.get(slot)?.accepted ?? 0;
  }
}

/** A worker asked for its metrics: `send(id)` sends it the request. */
export interface ScrapeTarget {
  slot: number;
  workerId: number;
  send(id: number): void;
}

interface PendingScrape {
  /** Worker id → slot, for the workers that have not answered yet. */
  readonly waiting: Map<number, number>;
  readonly results: { slot: number; families: MetricFamily[] }[];
  done(): void;
}

export class WorkerScrapes {
  readonly #pending = new Map<number, PendingScrape>();
  /** Scrapes that went out without a slot's metrics, by slot. */
  readonly missed = new Map<number, number>();
  #nextId = 1;

  /** Asks each target for its metrics; resolves with those that answered within `timeout` ms, by slot. */
  collect(targets: readonly ScrapeTarget[], timeout: number): Promise<{ slot: number; families: MetricFamily[] }[]> {
    if (targets.length === 0) return Promise.resolve([]);
    const id = this.#nextId++;
    return new Promise((resolve) => {
      const waiting = new Map(targets.map((target) => [target.workerId, target.slot]));
      const results: PendingScrape['results'] = [];
      const done = (): void => {
        clearTimeout(timer);
        this.#pending.delete(id);
        for (const slot of waiting.values()) this.missed.set(slot, (this.missed.get(slot) ?? 0) + 1);
        resolve(results.sort((a, b) => a.slot - b.slot));
      };
      const timer = setTimeout(done, timeout);
      this.#pending.set(id, { waiting, results, done });
      for (const target of targets) target.send(id);
    });
  }

  /** A worker's answer; one it was not asked for, or gives twice, is ignored. */
  answered(workerId: number, id: number, families: MetricFamily[]): void {
    const pending = this.#pending.get(id);
    const slot = pending?.waiting.get(workerId);
    if (pending === undefined || slot === undefined) return;
    pending.waiting.delete(workerId);
    pending.results.push({ slot, families });
    if (pending.waiting.size === 0) pending.done();
  }
}
