import { describe, expect, it } from 'vitest';
import { renderMetrics, type PrimaryMetrics } from '../../src/ops/index.js';

const base: PrimaryMetrics = {
  slots: [
    { slot: 0, state: 'ready', restarts: 2, handoffs: 10, queued: 0, lastReloadMs: 1500 },
    { slot: 1, state: 'starting', restarts: 0, handoffs: 0, queued: 3, lastReloadMs: undefined },
  ],
  workers: 2, readyWorkers: 1, restarts: 1,
  connections: { accepted: 13, acceptErrors: 1, pendingHeads: 4, acceptPauses: 2, acceptPaused: 1 },
  kernel: { foreignListeners: 1, intrusions: 2, groupChecks: 40, programRestores: 39, refusedScales: 1 },
  openFds: undefined, eventLoopDelay: { mean: 2, p99: 12.5, max: 40 }, startTimeSeconds: 1_700_000_000.5,
};

describe('renderMetrics', () => {
  const text = renderMetrics(base);

  it('writes one sample per slot and state, with HELP and TYPE before each family', () => {
    expect(text).toContain('# TYPE sticky_runtime_slot_state gauge\n');
    expect(text).toContain('sticky_runtime_slot_state{slot="0",state="ready"} 1\n');
    expect(text).toContain('sticky_runtime_slot_state{slot="1",state="ready"} 0\n');
    expect(text).toContain('sticky_runtime_slot_state{slot="1",state="starting"} 1\n');
    expect(text.match(/^sticky_runtime_slot_state\{slot="1",state="(\w+)"\} 0$/gm)).toHaveLength(5);
    expect(text).toContain('sticky_runtime_slot_state{slot="1",state="withdrawn"} 0\n');
    expect(text).toContain('sticky_runtime_slot_state{slot="1",state="vacant"} 0\n');
    expect(text).toContain('sticky_runtime_slot_restarts_total{slot="0"} 2\n');
    expect(text).toContain('sticky_runtime_slot_queued_connections{slot="1"} 3\n');
  });

  it('exports the kernel group checks: foreign listeners as a gauge, the rest as counters', () => {
    expect(text).toContain('# TYPE sticky_runtime_kernel_foreign_listeners gauge\nsticky_runtime_kernel_foreign_listeners 1\n');
    expect(text).toContain('# TYPE sticky_runtime_kernel_intrusions_total counter\nsticky_runtime_kernel_intrusions_total 2\n');
    expect(text).toContain('sticky_runtime_kernel_refused_scales_total 1\n');
    expect(text).toContain('sticky_runtime_kernel_program_restores_total 39\n');
  });

  it('counts slot state handovers by outcome, and the last pause in seconds', () => {
    const handovers = { adopted: 5, empty: { timeout: 1, noHandover: 2 }, lastPauseMs: 120 };
    const withHandovers = renderMetrics({ ...base, handovers });
    expect(withHandovers).toContain('# TYPE sticky_runtime_handovers_total counter\n');
    expect(withHandovers).toContain('sticky_runtime_handovers_total{result="adopted"} 5\n');
    expect(withHandovers).toContain('sticky_runtime_handovers_total{result="timeout"} 1\n');
    expect(withHandovers).toContain('sticky_runtime_handovers_total{result="noHandover"} 2\n');
    expect(withHandovers).toContain('sticky_runtime_handover_last_pause_seconds 0.12\n');
    expect(text).not.toContain('sticky_runtime_handovers_total');
  });

  it('converts ms to seconds and leaves out what is unknown', () => {
    expect(text).toContain('sticky_runtime_slot_last_reload_duration_seconds{slot="0"} 1.5\n');
    expect(text).not.toContain('sticky_runtime_slot_last_reload_duration_seconds{slot="1"}');
    expect(text).not.toContain('process_open_fds');
    expect(text).toContain('nodejs_eventloop_lag_p99_seconds 0.0125\n');
  });

  it('names counters *_total and gauges without it', () => {
    expect(text).toContain('# TYPE sticky_runtime_connections_accept_errors_total counter\nsticky_runtime_connections_accept_errors_total 1\n');
    expect(text).toContain('# TYPE sticky_runtime_connections_pending_heads gauge\nsticky_runtime_connections_pending_heads 4\n');
    expect(text).toContain('# TYPE sticky_runtime_connections_accept_pauses_total counter\nsticky_runtime_connections_accept_pauses_total 2\n');
    expect(text).toContain('# TYPE sticky_runtime_connections_accept_paused gauge\nsticky_runtime_connections_accept_paused 1\n');
  });
});
