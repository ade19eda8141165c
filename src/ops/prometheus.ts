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
}

export const SLOT_STATES = ['ready', 'starting', 'respawning', 'failed'] as const;
export type SlotStateName = (typeof SLOT_STATES)[number];

export interface PrimaryMetrics {
  slots: readonly SlotMetrics[];
  workers: number;
  readyWorkers: number;
  restarts: number;
  /** Cumulative connection outcomes of the balancer, by name (camelCase). */
  connections: Readonly<Record<string, number>>;
  /** Kernel steering's group checks, by name (camelCase); `foreignListeners` is a level. */
  kernel: Readonly<Record<string, number>>;
  /** Open file descriptors of the primary, when the platform tells (Linux). */
  openFds: number | undefined;
  /** Event-loop delay of the primary since the last scrape, in ms. */
  eventLoopDelay: { mean: number; p99: number; max: number } | undefined;
  startTimeSeconds: number;
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

const number = (value: number): string => (Number.isFinite(value) ? String(value) : value > 0 ? '+Inf' : value < 0 ? '-Inf' : 'NaN');

class Exposition {
  #text = '';

  family(name: string, type: 'counter' | 'gauge', help: string): this {
    this.#text += `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n`;
    return this;
  }

  sample(name: string, value: number, labels?: Readonly<Record<string, string | number>>): this {
    let label = '';
    if (labels !== undefined) {
      // Label values here are numbers and fixed words: nothing to escape.
      label = `{${Object.entries(labels).map(([key, entry]) => `${key}="${entry}"`).join(',')}}`;
    }
    this.#text += `${name}${label} ${number(value)}\n`;
    return this;
  }

  get text(): string {
    return this.#text;
  }
}

/** Renders the primary's metrics in the Prometheus text format. */
export function renderMetrics(metrics: PrimaryMetrics): string {
  const out = new Exposition();
  out.family('sticky_runtime_workers', 'gauge', 'Worker processes alive.').sample('sticky_runtime_workers', metrics.workers);
  out.family('sticky_runtime_ready_workers', 'gauge', 'Slots whose worker is ready.').sample('sticky_runtime_ready_workers', metrics.readyWorkers);
  out.family('sticky_runtime_slots', 'gauge', 'Worker slots.').sample('sticky_runtime_slots', metrics.slots.length);
  out.family('sticky_runtime_respawns_total', 'counter', 'Workers started again after an unexpected exit.').sample('sticky_runtime_respawns_total', metrics.restarts);

  out.family('sticky_runtime_slot_state', 'gauge', 'State of each slot: 1 for its current state, 0 for the others.');
  for (const slot of metrics.slots) {
    for (const state of SLOT_STATES) out.sample('sticky_runtime_slot_state', slot.state === state ? 1 : 0, { slot: slot.slot, state });
  }
  out.family('sticky_runtime_slot_restarts_total', 'counter', 'Workers installed in the slot after its first (respawns and reload replacements).');
  for (const slot of metrics.slots) out.sample('sticky_runtime_slot_restarts_total', slot.restarts, { slot: slot.slot });
  out.family('sticky_runtime_slot_handoffs_total', 'counter', 'Connections handed to the slot\'s workers.');
  for (const slot of metrics.slots) out.sample('sticky_runtime_slot_handoffs_total', slot.handoffs, { slot: slot.slot });
  out.family('sticky_runtime_slot_queued_connections', 'gauge', 'Connections waiting for the slot\'s worker to become ready.');
  for (const slot of metrics.slots) out.sample('sticky_runtime_slot_queued_connections', slot.queued, { slot: slot.slot });
  out.family('sticky_runtime_slot_last_reload_duration_seconds', 'gauge', 'Duration of the slot\'s last rolling-restart step, from fork to the old worker\'s exit.');
  for (const slot of metrics.slots) {
    if (slot.lastReloadMs !== undefined) out.sample('sticky_runtime_slot_last_reload_duration_seconds', slot.lastReloadMs / 1000, { slot: slot.slot });
  }

  for (const [key, value] of Object.entries(metrics.connections)) {
    const isGauge = CONNECTION_GAUGES.has(key);
    const name = `sticky_runtime_connections_${snake(key)}${isGauge ? '' : '_total'}`;
    out.family(name, isGauge ? 'gauge' : 'counter', `Balancer connections: ${key}.`).sample(name, value);
  }

  for (const [key, value] of Object.entries(metrics.kernel)) {
    const isGauge = KERNEL_GAUGES.has(key);
    const name = `sticky_runtime_kernel_${snake(key)}${isGauge ? '' : '_total'}`;
    out.family(name, isGauge ? 'gauge' : 'counter', KERNEL_HELP[key] ?? `Kernel steering: ${key}.`).sample(name, value);
  }

  out.family('process_start_time_seconds', 'gauge', 'Start time of the primary since the Unix epoch, in seconds.').sample('process_start_time_seconds', metrics.startTimeSeconds);
  if (metrics.openFds !== undefined) {
    out.family('process_open_fds', 'gauge', 'Open file descriptors of the primary.').sample('process_open_fds', metrics.openFds);
  }
  if (metrics.eventLoopDelay !== undefined) {
    const { mean, p99, max } = metrics.eventLoopDelay;
    out.family('nodejs_eventloop_lag_mean_seconds', 'gauge', 'Mean event-loop delay of the primary since the last scrape.').sample('nodejs_eventloop_lag_mean_seconds', mean / 1000);
    out.family('nodejs_eventloop_lag_p99_seconds', 'gauge', '99th percentile of the primary\'s event-loop delay since the last scrape.').sample('nodejs_eventloop_lag_p99_seconds', p99 / 1000);
    out.family('nodejs_eventloop_lag_max_seconds', 'gauge', 'Largest event-loop delay of the primary since the last scrape.').sample('nodejs_eventloop_lag_max_seconds', max / 1000);
  }
  return out.text;
}
