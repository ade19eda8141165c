import { readdirSync } from 'node:fs';
import type { BalancerStats, Balancer, KernelGroupStats, SteeringState } from './sticky/index.js';
import type {
  ChannelStats, HandoverStats, LifecycleState, SlotState, Supervisor, Topology,
} from './lifecycle/index.js';
import {
  FigureBook, MetricsServer, WorkerScrapes, type MetricsSource, type ScrapeTarget, type SlotFigures,
} from './ops/index.js';
import { encodeMessage } from './ipc/index.js';
import type { Logger } from './logger.js';
import type { ResolvedListenOptions } from './options/index.js';

// What the primary reports about itself: `stats()`, and the same figures for the metrics endpoint.

/** A snapshot of the primary's counters. */
export interface PrimaryStats {
  /** The lifecycle state, as `primary.state`. */
  state: LifecycleState;
  /** Worker processes alive now (more than the slots during a reload or a drain). */
  workers: number;
  /** Slots with a ready worker. */
  readyWorkers: number;
  /** Respawns after crashes so far, all slots together. */
  restarts: number;
  /** Workers killed by the watchdog (`workerTimeout`) so far. */
  workerTimeouts: number;
  /**
   * Per slot: its `state`, its worker, readiness, failure, restart generation, sockets waiting for it, sockets
   * handed to its worker that it has not acknowledged yet (`unacknowledged`), connections handed to
   * it, and how long its last rolling-restart step took (ms, fork to old worker gone).
   */
  slots: (SlotState & {
    queued: number; unacknowledged: number; handoffs: number; lastReloadDuration: number | undefined;
  } & Partial<SlotFigures>)[];
  /**
   * Which data plane carries IP-mode connections: `'kernel'` (workers accept on their slot's socket;
   * `connections.accepted`, `connections.routed` and each slot's `handoffs` are what the workers report
   * accepting, the other connection counters stay 0) or `'primary'`, with the reason it is not the kernel.
   */
  steering: SteeringState;
  /**
   * Kernel steering's checks of who listens on the public port: foreign listeners now and detected so
   * far, checks made, program re-attachments, scales refused (all 0 on the primary hop).
   */
  kernel: KernelGroupStats;
  /** What happened to the connections of the public port. */
  connections: BalancerStats;
  /**
   * What workers sent the primary on their IPC channels that it dropped (another protocol version, an
   * invalid runtime message) or closed (a handle nobody takes). The bus's own counters are `bus().stats()`.
   */
  ipc: ChannelStats;
  /** Slot state handovers of planned replacements: adopted, started empty (by reason), the last pause and size. */
  handovers: HandoverStats;
}

/** The parts of the primary its figures come from. */
export interface StatsSources {
  readonly balancer: Balancer;
  readonly supervisor: Supervisor;
  readonly topology: Topology;
  readonly state: () => LifecycleState;
  /** What the workers report about themselves (`reportInterval`). */
  readonly figures: FigureBook;
  readonly scrapes: WorkerScrapes;
  /** `reportInterval` is not 0: the slots carry their workers' figures. */
  readonly isReporting: boolean;
}

const ignoreSendError = (): void => {
  // The worker's channel just closed: its metrics are missing from this scrape, and counted.
};

/**
 * What `stats()` and `/metrics` read: the components, the workers' own figures (kept from their
 * reports) and their metric scrapes, and the `metrics` endpoint over them when the options ask for it.
 */
export function openStats(
  components: Pick<StatsSources, 'balancer' | 'supervisor' | 'topology' | 'state'>,
  options: Readonly<ResolvedListenOptions>, root: Logger,
): { sources: StatsSources; metrics: MetricsServer | undefined } {
  const { supervisor } = components;
  const figures = new FigureBook();
  const scrapes = new WorkerScrapes();
  const sources = { ...components, figures, scrapes, isReporting: options.reportInterval > 0 };
  supervisor.on('figures', ({ workerId, slot, report }) => figures.report(workerId, slot, report));
  supervisor.on('workerMetrics', ({ workerId, id, families }) => scrapes.answered(workerId, id, families));
  const metrics = options.metrics === undefined ? undefined
    : new MetricsServer(options.metrics, metricsSourceOf(sources, Date.now()), root);
  return { sources, metrics };
}

export function collectStats(
  { balancer, supervisor, topology, state, figures, isReporting }: StatsSources,
): PrimaryStats {
  const table = balancer.slots;
  // The kernel plane hands the primary no connection: what it knows, it knows from the workers' reports.
  const isKernel = balancer.steering.plane === 'kernel';
  const slots = supervisor.slotStates().map((slot) => ({
    ...slot,
    queued: table.queueDepth(slot.slot),
    handoffs: isKernel ? figures.acceptedBy(slot.slot) : table.handoffs(slot.slot),
    lastReloadDuration: topology.lastReloadDuration(slot.slot),
    unacknowledged: supervisor.current(slot.slot)?.link.unacknowledged ?? 0,
    ...(isReporting ? figures.ofSlot(slot.slot, slot.workerId) : {}),
  }));
  const connections = balancer.stats();
  if (isKernel) {
    connections.accepted = figures.accepted;
    connections.routed = figures.accepted;
  }
  return {
    state: state(),
    workers: supervisor.workers().length,
    readyWorkers: supervisor.readyCount(),
    restarts: supervisor.restarts,
    workerTimeouts: supervisor.workerTimeouts,
    slots,
    steering: { ...balancer.steering },
    kernel: balancer.kernelStats(),
    connections,
    ipc: { ...supervisor.channels.stats },
    handovers: topology.handoverStats(),
  };
}

/** The metrics endpoint's view: the same figures as `stats()`, plus the process's own. */
export function metricsSourceOf(sources: StatsSources, startedAt: number): MetricsSource {
  return {
    metrics: () => {
      const stats = collectStats(sources);
      return {
        slots: stats.slots.map((slot) => ({
          slot: slot.slot, state: slot.state, restarts: slot.generation, handoffs: slot.handoffs,
          queued: slot.queued, lastReloadMs: slot.lastReloadDuration,
          ...(sources.isReporting ? { figures: sources.figures.ofSlot(slot.slot, slot.workerId) } : {}),
          scrapesMissed: sources.scrapes.missed.get(slot.slot) ?? 0,
        })),
        workers: stats.workers,
        readyWorkers: stats.readyWorkers,
        restarts: stats.restarts,
        connections: { ...stats.connections },
        kernel: { ...stats.kernel },
        handovers: {
          adopted: stats.handovers.adopted, empty: { ...stats.handovers.empty },
          lastPauseMs: stats.handovers.lastPauseMs,
        },
        openFds: openFds(),
        startTimeSeconds: startedAt / 1000,
      };
    },
    workerFamilies: (timeout) => sources.scrapes.collect(scrapeTargets(sources.supervisor), timeout),
    readiness: () => {
      const state = sources.state();
      // A slot that scaling up is still adding is routed no client yet: the cluster serves as before.
      const notReadySlots = sources.supervisor.slots.views()
        .filter((slot) => !slot.isProvisional && slot.current?.isReady !== true).map((slot) => slot.index);
      // Out of file descriptors, the primary hop closed its public port for a while: not ready.
      const isAccepting = sources.balancer.stats().acceptPaused === 0;
      const isReady = state === 'running' && notReadySlots.length === 0 && isAccepting;
      return { isReady, state, notReadySlots, isAccepting };
    },
  };
}

/** The ready slots' current workers, each asked for its prom-client metrics. */
function scrapeTargets(supervisor: Supervisor): ScrapeTarget[] {
  const targets: ScrapeTarget[] = [];
  for (const slot of supervisor.slotStates()) {
    const tracked = supervisor.current(slot.slot);
    if (!slot.isReady || tracked === undefined || !tracked.worker.isConnected()) continue;
    targets.push({
      slot: slot.slot, workerId: tracked.worker.id,
      send: (id) => tracked.worker.send(encodeMessage('sticky:metricsRequest', { id }), ignoreSendError),
    });
  }
  return targets;
}

function openFds(): number | undefined {
  try {
    // Linux: one entry per open descriptor (plus the one readdir itself opens).
    return readdirSync('/proc/self/fd').length - 1;
  } catch {
    return undefined;
  }
}
