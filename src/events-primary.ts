import type { AddressInfo } from 'node:net';
import type { Logger } from './logger.js';
import { LogLimits } from './internal/log-limit.js';
import type { Balancer, GroupWatchEvents } from './sticky/index.js';
import type {
  ShutdownReason, ShutdownResult, Supervisor, SupervisorEvents, Topology, TopologyEvents,
} from './lifecycle/index.js';
import type { FigureBook } from './ops/index.js';

// What the primary does with its components' events: passes the public ones on, replaces a worker
// that asked to be recycled or closed its server, counts and (at most every 5 s a worker) logs upstream
// reuse, and forgets an exited worker's figures.

/** A shutdown began, for `reason`. */
export interface ShutdownStartInfo { reason: ShutdownReason; waitForConnections: boolean }

/**
 * Events of a primary, by name. `foreignListener` (kernel steering): a socket of another process
 * listens on the public port; `foreignListenerGone`: only the cluster's own sockets listen there again.
 */
export interface PrimaryEvents
  extends Omit<SupervisorEvents, 'figures' | 'workerMetrics'>, TopologyEvents, GroupWatchEvents {
  listening: AddressInfo;
  shutdownStart: ShutdownStartInfo;
  shutdownEnd: ShutdownResult;
}

export interface EventSources {
  supervisor: Supervisor;
  topology: Topology;
  balancer: Balancer;
  figures: FigureBook;
  log: Logger;
  emit: <K extends keyof PrimaryEvents>(event: K, payload: PrimaryEvents[K]) => void;
}

export function forwardPrimaryEvents({ supervisor, topology, balancer, figures, log, emit }: EventSources): void {
  /** A worker reports at most every 10 s; one that sends more is logged at most every 5 s. */
  const reuseLogs = new LogLimits<number>(5_000);
  const supervisorEvents = [
    'workerOnline', 'workerReady', 'workerExit', 'workerTimeout', 'respawnScheduled', 'slotFailed',
  ] as const;
  for (const event of supervisorEvents) {
    supervisor.on(event, (payload) => emit(event, payload));
  }
  for (const event of ['reloadStart', 'reloadProgress', 'reloadEnd', 'scaled', 'handover'] as const) {
    topology.on(event, (payload) => emit(event, payload));
  }
  supervisor.on('recycle', (payload) => {
    const { workerId, reason, requests, rss } = payload;
    log.info({ workerId, reason, requests, rss },
      'recycling worker');
    emit('recycle', payload);
    // A failed replacement is logged; the old worker keeps serving and asks again later.
    void topology.recycle(payload.slot, payload.workerId).catch(() => undefined);
  });
  supervisor.on('workerServerClose', (payload) => {
    const { workerId, slot, pid: workerPid } = payload;
    log.info({ workerId, slot, workerPid }, 'worker closed its server');
    emit('workerServerClose', payload);
    // A successor that does not start is logged; the respawn policy then fills the slot.
    void topology.replaceClosed(payload.slot, payload.workerId).catch(() => undefined);
  });
  supervisor.on('upstreamReuse', (payload) => {
    // At most one report per worker every 10 s: a warning, not a per-request log.
    balancer.countUpstreamReuse(payload.requests, payload.connections);
    const suppressed = reuseLogs.take(payload.workerId, performance.now());
    if (suppressed !== undefined) {
      const { workerId, slot, requests, connections, hint } = payload;
      log.warn({ workerId, slot, requests, connections, hint, ...(suppressed > 0 ? { suppressed } : {}) },
        'upstream connections carry several clients');
    }
    emit('upstreamReuse', payload);
  });
  supervisor.on('workerExit', ({ workerId }) => {
    reuseLogs.delete(workerId);
    figures.forget(workerId);
  });
}
