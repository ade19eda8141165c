import { readdirSync } from 'node:fs';
import type { BalancerStats, Balancer, KernelGroupStats, SteeringState } from './sticky/index.js';
import type { ChannelStats, LifecycleState, SlotState, Supervisor, Topology } from './lifecycle/index.js';
import type { MetricsSource, SlotStateName } from './ops/index.js';

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
   * Per slot: its worker, readiness, failure, restart generation, sockets waiting for it, sockets
   * handed to its worker that it has not acknowledged yet (`unacknowledged`), connections handed to
   * it, and how long its last rolling-restart step took (ms, fork to old worker gone).
   */
  slots: (SlotState & { queued: number; unacknowledged: number; handoffs: number; lastReloadDuration: number | undefined })[];
  /**
   * Which data plane carries IP-mode connections: `'kernel'` (workers accept on their slot's socket;
   * the primary's connection counters stay 0) or `'primary'`, with the reason it is not the kernel.
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
}

/** The parts of the primary its figures come from. */
export interface StatsSources {
  readonly balancer: Balancer;
  readonly supervisor: Supervisor;
  readonly topology: Topology;
  readonly state: () => LifecycleState;
}

export function collectStats({ balancer, supervisor, topology, state }: StatsSources): PrimaryStats {
  const table = balancer.slots;
  const slots = supervisor.slotStates().map((slot) => ({
    ...slot,
    queued: table.queueDepth(slot.slot),
    handoffs: table.handoffs(slot.slot),
    lastReloadDuration: topology.lastReloadDuration(slot.slot),
    unacknowledged: supervisor.current(slot.slot)?.link.unacknowledged ?? 0,
  }));
  return {
    state: state(),
    workers: supervisor.workers().length,
    readyWorkers: supervisor.readyCount(),
    restarts: supervisor.restarts,
    workerTimeouts: supervisor.workerTimeouts,
    slots,
    steering: { ...balancer.steering },
    kernel: balancer.kernelStats(),
    connections: balancer.stats(),
    ipc: { ...supervisor.channels.stats },
  };
}

/** The metrics endpoint's view: the same figures as `stats()`, plus the process's own. */
export function metricsSourceOf(sources: StatsSources, startedAt: number): MetricsSource {
  return {
    metrics: () => {
      const stats = collectStats(sources);
      return {
        slots: stats.slots.map((slot) => ({
          slot: slot.slot, state: slotStateName(slot), restarts: slot.generation, handoffs: slot.handoffs,
          queued: slot.queued, lastReloadMs: slot.lastReloadDuration,
        })),
        workers: stats.workers,
        readyWorkers: stats.readyWorkers,
        restarts: stats.restarts,
        connections: { ...stats.connections },
        kernel: { ...stats.kernel },
        openFds: openFds(),
        startTimeSeconds: startedAt / 1000,
      };
    },
    readiness: () => {
      const state = sources.state();
      // A slot that scaling up is still adding is routed no client yet: the cluster serves as before.
      const notReadySlots = sources.supervisor.slots.views()
        .filter((slot) => !slot.isProvisional && slot.current?.isReady !== true).map((slot) => slot.index);
      // Out of file descriptors, the primary hop closed its public port for a while: not ready.
      const isAccepting = sources.balancer.stats().acceptPaused === 0;
      return { isReady: state === 'running' && notReadySlots.length === 0 && isAccepting, state, notReadySlots, isAccepting };
    },
  };
}

function slotStateName(slot: SlotState): SlotStateName {
  if (slot.isReady) return 'ready';
  if (slot.isFailed) return 'failed';
  return slot.workerId === undefined ? 'respawning' : 'starting';
}

function openFds(): number | undefined {
  try {
    // Linux: one entry per open descriptor (plus the one readdir itself opens).
    return readdirSync('/proc/self/fd').length - 1;
  } catch {
    return undefined;
  }
}
