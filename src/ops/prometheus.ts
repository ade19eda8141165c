import type { MetricFamily } from '../internal/metric-families.js';
import { SLOT_STATES, type SlotStateName } from '../slot-state.js';
import { Exposition } from './exposition.js';

// Prometheus text exposition format 0.0.4, pure: a snapshot of the primary's counters in, text out.
// Names follow Prometheus conventions: a `sticky_runtime_` prefix, `_total` on counters, base units
// (seconds) in the name. See https://prometheus.io/docs/instrumenting/writing_exporters/.

/** What the exposition needs to know about one slot. */
export interface SlotMetrics {
  slot: number;
  state: SlotStateName;
  /** Workers installed in the slot after its first (crash respawns and reload replacements). */
  restarts: number;
  /** Connections handed to the slot's workers. */
  handoffs: number;
  /** Connections waiting for the slot's worker now. */
  queued: number;
  /** Ms the slot's last rolling-restart step took (fork to old worker gone), if it had one. */
  lastReloadMs: number | undefined;
  /** What the slot's workers reported about themselves (absent: `reportInterval: 0`). */
  figures?: SlotFigureMetrics;
  /** Scrapes that went out without this slot's prom-client metrics (its worker did not answer in time). */
  scrapesMissed?: number;
}

/** A slot's figures as its workers report them: totals over its workers, the rest of its current worker. */
export interface SlotFigureMetrics {
  requests: number;
  accepted: number;
  /** Undefined until the slot's current worker reported. */
  connections: number | undefined;
  lag: number | undefined;
  lagMax: number | undefined;
  cpu: number | undefined;
  rss: number | undefined;
}

export interface PrimaryMetrics {
  slots: readonly SlotMetrics[];
  workers: number;
  readyWorkers: number;
  restarts: number;
  /** Cumulative connection outcomes of the balancer, by name (camelCase). */
  connections: Readonly<Record<string, number>>;
  /** Kernel steering's group checks, by name (camelCase); `foreignListeners` is a level. */
  kernel: Readonly<Record<string, number>>;
  /** Slot state handovers: adopted, started empty by reason, the last pause (ms). */
  handovers?: {
    adopted: number; empty: Readonly<Record<string, number | undefined>>; lastPauseMs: number | undefined;
  };
  /** Open file descriptors of the primary, when the platform tells (Linux). */
  openFds: number | undefined;
  /** Event-loop delay of the primary since the last scrape, in ms. */
  eventLoopDelay: { mean: number; p99: number; max: number } | undefined;
  startTimeSeconds: number;
  /** Each slot's prom-client metrics, gathered from its worker for this scrape. */
  workerFamilies?: readonly WorkerFamilies[];
}

/** One slot's prom-client metrics, from its worker. */
export interface WorkerFamilies {
  slot: number;
  families: readonly MetricFamily[];
}

/** The balancer's gauges; every other connection counter is exported as a `_total` counter. */
const CONNECTION_GAUGES = new Set(['pendingHeads', 'acceptPaused']);
const KERNEL_GAUGES = new Set(['foreignListeners']);
const KERNEL_HELP: Readonly<Record<string, string>> = {
  foreignListeners: 'Sockets of another process listening on the public port now (kernel steering).',
  intrusions: 'Foreign listening sockets detected on the public port.',
  groupChecks: 'Checks of the listeners on the public port.',
  programRestores: 'Times a check attached the routing program again.',
  refusedScales: 'Scales refused because the new slot\'s socket could not be placed safely.',
};

const snake = (name: string): string => name.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);

type MetricType = 'counter' | 'gauge';

/** Renders the primary's metrics in the Prometheus text format. */
export function renderMetrics(metrics: PrimaryMetrics): string {
  const out = new Exposition();
  const single = (name: string, type: MetricType, help: string, value: number): void => {
    out.family(name, type, help);
    out.sample(name, value);
  };
  type PerSlot = (slot: SlotMetrics) => number | undefined;
  const perSlot = (name: string, type: MetricType, help: string, value: PerSlot): void => {
    out.family(name, type, help);
    for (const slot of metrics.slots) {
      const sample = value(slot);
      if (sample !== undefined) out.sample(name, sample, { slot: slot.slot });
    }
  };
  single('sticky_runtime_workers', 'gauge', 'Worker processes alive.', metrics.workers);
  single('sticky_runtime_ready_workers', 'gauge', 'Slots whose worker is ready.', metrics.readyWorkers);
  single('sticky_runtime_slots', 'gauge', 'Worker slots.', metrics.slots.length);
  single('sticky_runtime_respawns_total', 'counter', 'Workers started again after an unexpected exit.',
    metrics.restarts);

  out.family('sticky_runtime_slot_state', 'gauge', 'State of each slot: 1 for its current state, 0 for the others.');
  for (const slot of metrics.slots) {
    for (const state of SLOT_STATES) {
      out.sample('sticky_runtime_slot_state', slot.state === state ? 1 : 0, { slot: slot.slot, state });
    }
  }
  perSlot('sticky_runtime_slot_restarts_total', 'counter',
    'Workers installed in the slot after its first (respawns and reload replacements).', (slot) => slot.restarts);
  perSlot('sticky_runtime_slot_handoffs_total', 'counter',
    'Connections handed to the slot\'s workers (kernel steering: accepted by them, as they report).',
    (slot) => slot.handoffs);
  perSlot('sticky_runtime_slot_queued_connections', 'gauge',
    'Connections waiting for the slot\'s worker to become ready.', (slot) => slot.queued);
  perSlot('sticky_runtime_slot_last_reload_duration_seconds', 'gauge',
    'Duration of the slot\'s last rolling-restart step, from fork to the old worker\'s exit.',
    (slot) => (slot.lastReloadMs === undefined ? undefined : slot.lastReloadMs / 1000));
  renderFigures(out, metrics);
  if (metrics.slots.some((slot) => slot.scrapesMissed !== undefined)) {
    perSlot('sticky_runtime_slot_metrics_missed_total', 'counter',
      'Scrapes that went out without the slot\'s prom-client metrics (its worker did not answer in time).',
      (slot) => slot.scrapesMissed);
  }

  for (const [key, value] of Object.entries(metrics.connections)) {
    const isGauge = CONNECTION_GAUGES.has(key);
    const name = `sticky_runtime_connections_${snake(key)}${isGauge ? '' : '_total'}`;
    single(name, isGauge ? 'gauge' : 'counter', `Balancer connections: ${key}.`, value);
  }
  for (const [key, value] of Object.entries(metrics.kernel)) {
    const isGauge = KERNEL_GAUGES.has(key);
    const name = `sticky_runtime_kernel_${snake(key)}${isGauge ? '' : '_total'}`;
    single(name, isGauge ? 'gauge' : 'counter', KERNEL_HELP[key] ?? `Kernel steering: ${key}.`, value);
  }

  renderHandovers(out, metrics.handovers);

  single('process_start_time_seconds', 'gauge', 'Start time of the primary since the Unix epoch, in seconds.',
    metrics.startTimeSeconds);
  if (metrics.openFds !== undefined) {
    single('process_open_fds', 'gauge', 'Open file descriptors of the primary.', metrics.openFds);
  }
  if (metrics.eventLoopDelay !== undefined) {
    const { mean, p99, max } = metrics.eventLoopDelay;
    single('nodejs_eventloop_lag_mean_seconds', 'gauge',
      'Mean event-loop delay of the primary since the last scrape.', mean / 1000);
    single('nodejs_eventloop_lag_p99_seconds', 'gauge',
      '99th percentile of the primary\'s event-loop delay since the last scrape.', p99 / 1000);
    single('nodejs_eventloop_lag_max_seconds', 'gauge',
      'Largest event-loop delay of the primary since the last scrape.', max / 1000);
  }
  // The workers' prom-client families last; one the primary wrote (process_*, nodejs_*) gets their samples too.
  for (const { slot, families } of metrics.workerFamilies ?? []) out.workerFamilies(slot, families);
  return out.text;
}

/** Planned replacements by outcome: `adopted`, or the reason the successor started empty. */
function renderHandovers(out: Exposition, handovers: PrimaryMetrics['handovers']): void {
  if (handovers === undefined) return;
  const name = 'sticky_runtime_handovers_total';
  out.family(name, 'counter',
    'Planned replacements by slot state outcome: adopted, or why the successor started empty.');
  out.sample(name, handovers.adopted, { result: 'adopted' });
  for (const [reason, count] of Object.entries(handovers.empty)) {
    if (count !== undefined) out.sample(name, count, { result: reason });
  }
  if (handovers.lastPauseMs === undefined) return;
  const pause = 'sticky_runtime_handover_last_pause_seconds';
  out.family(pause, 'gauge', 'How long the slot of the last handover kept its new clients waiting.');
  out.sample(pause, handovers.lastPauseMs / 1000);
}

/** The slots' own figures, as their workers reported them. */
function renderFigures(out: Exposition, metrics: PrimaryMetrics): void {
  type Figure = (figures: SlotFigureMetrics) => number | undefined;
  const figures = (name: string, type: MetricType, help: string, value: Figure): void => {
    out.family(name, type, help);
    for (const slot of metrics.slots) {
      const sample = slot.figures === undefined ? undefined : value(slot.figures);
      if (sample !== undefined) out.sample(name, sample, { slot: slot.slot });
    }
  };
  if (!metrics.slots.some((slot) => slot.figures !== undefined)) return;
  figures('sticky_runtime_slot_requests_total', 'counter',
    'Requests the slot\'s workers served (HTTP servers), as they report.', (f) => f.requests);
  figures('sticky_runtime_slot_accepted_connections_total', 'counter',
    'Connections the slot\'s workers took, as they report.', (f) => f.accepted);
  figures('sticky_runtime_slot_open_connections', 'gauge',
    'Connections open in the slot\'s workers, at their last report.', (f) => f.connections);
  figures('sticky_runtime_slot_event_loop_lag_seconds', 'gauge',
    'Mean event-loop delay of the slot\'s worker over its last report interval.',
    (f) => (f.lag === undefined ? undefined : f.lag / 1000));
  figures('sticky_runtime_slot_event_loop_lag_max_seconds', 'gauge',
    'Largest event-loop delay of the slot\'s worker over its last report interval.',
    (f) => (f.lagMax === undefined ? undefined : f.lagMax / 1000));
  figures('sticky_runtime_slot_cpu_usage_ratio', 'gauge',
    'CPU time of the slot\'s worker over its last report interval, as a fraction of one core.',
    (f) => (f.cpu === undefined ? undefined : f.cpu / 100));
  figures('sticky_runtime_slot_resident_memory_bytes', 'gauge',
    'Resident memory of the slot\'s worker at its last report.', (f) => f.rss);
}
