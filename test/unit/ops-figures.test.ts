import { describe, expect, it, vi } from 'vitest';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { FigureBook, WorkerScrapes, renderMetrics, type PrimaryMetrics } from '../../src/ops/index.js';
import { FAMILY_LIMITS, decodeFamilies, familiesOf, type MetricFamily } from '../../src/internal/metric-families.js';
import { decodeMessage, encodeMessage, FIGURE_LIMITS } from '../../src/ipc/protocol.js';
import { formatStatus } from '../../src/cli/format.js';

const report = (accepted: number, requests: number, extra: Partial<Record<string, number>> = {}) => ({
  accepted, requests, connections: 1, lag: 0.5, lagMax: 3, cpu: 12.5, rss: 1000, ...extra,
});

describe('FigureBook', () => {
  it('keeps each slot\'s totals over its workers: a replaced worker\'s requests stay counted', () => {
    const book = new FigureBook();
    book.report(1, 0, report(2, 5));
    book.report(1, 0, report(3, 9));
    // Worker 2 replaces worker 1 in slot 0 (a reload): its totals start at 0 and add up.
    book.report(2, 0, report(1, 4, { connections: 2, cpu: 50 }));
    book.forget(1);
    book.report(3, 1, report(7, 7));
    expect(book.ofSlot(0, 2)).toEqual({ requests: 13, accepted: 4, connections: 2, lag: 0.5, lagMax: 3, cpu: 50, rss: 1000 });
    expect(book.acceptedBy(1)).toBe(7);
    expect(book.accepted).toBe(11);
  });

  it('counts open connections of every worker still in the slot (one draining), the gauges of its current one', () => {
    const book = new FigureBook();
    book.report(1, 0, report(5, 5, { connections: 3, cpu: 1 }));
    book.report(2, 0, report(1, 1, { connections: 1, cpu: 7 }));
    expect(book.ofSlot(0, 2)).toMatchObject({ connections: 4, cpu: 7 });
    expect(book.ofSlot(1, undefined)).toEqual({
      requests: 0, accepted: 0, connections: undefined, lag: undefined, lagMax: undefined, cpu: undefined, rss: undefined,
    });
  });

  it('a report whose totals went down adds nothing, and later growth counts from the highest', () => {
    const book = new FigureBook();
    book.report(1, 0, report(10, 10));
    book.report(1, 0, report(0, 0));
    book.report(1, 0, report(12, 11));
    expect(book.ofSlot(0, 1)).toMatchObject({ accepted: 12, requests: 11 });
  });
});

describe('WorkerScrapes', () => {
  it('resolves once every worker answered, by slot, and ignores answers it did not ask for', async () => {
    const scrapes = new WorkerScrapes();
    const sent: number[] = [];
    const pending = scrapes.collect([
      { slot: 1, workerId: 7, send: (id) => sent.push(id) },
      { slot: 0, workerId: 3, send: (id) => sent.push(id) },
    ], 10_000);
    const family: MetricFamily = { name: 'x', help: '', type: 'gauge', samples: [] };
    const id = sent[0] as number;
    scrapes.answered(9, id, [family]);
    scrapes.answered(7, id + 1, [family]);
    scrapes.answered(7, id, [family]);
    scrapes.answered(7, id, []);
    scrapes.answered(3, id, []);
    expect(await pending).toEqual([{ slot: 0, families: [] }, { slot: 1, families: [family] }]);
    expect(scrapes.missed.size).toBe(0);
  });

  it('at the deadline, goes without the silent workers and counts them per slot', async () => {
    vi.useFakeTimers();
    try {
      const scrapes = new WorkerScrapes();
      let id = 0;
      const pending = scrapes.collect([
        { slot: 0, workerId: 1, send: (sent) => { id = sent; } },
        { slot: 1, workerId: 2, send: () => undefined },
      ], 2_000);
      scrapes.answered(1, id, []);
      await vi.advanceTimersByTimeAsync(2_000);
      expect(await pending).toEqual([{ slot: 0, families: [] }]);
      expect([...scrapes.missed]).toEqual([[1, 1]]);
      scrapes.answered(2, id, []);
      expect([...scrapes.missed]).toEqual([[1, 1]]);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('a worker\'s metric families on the wire', () => {
  const json = [
    { name: 'app_hits_total', help: 'Hits.', type: 'counter', values: [{ value: 3, labels: { route: '/a"b\\c\nd', slot: 'x' } }] },
    { name: 'app_seconds', help: 'Time.', type: 'histogram', values: [
      { value: 1, labels: { le: 0.5 }, metricName: 'app_seconds_bucket' },
      { value: 2, labels: { le: Infinity }, metricName: 'app_seconds_bucket' },
      { value: Number.NaN, labels: {}, metricName: 'app_seconds_sum' },
      { value: 2, labels: {}, metricName: 'app_seconds_count' },
    ] },
  ];

  it('round-trips prom-client\'s JSON through the IPC codec', () => {
    const families = familiesOf(json);
    expect(families[1]?.samples[1]).toEqual({ name: 'app_seconds_bucket', labels: { le: '+Inf' }, value: 2 });
    expect(families[1]?.samples[2]?.value).toBeNull();
    const wire = JSON.parse(JSON.stringify(encodeMessage('sticky:metrics', { id: 4, families })));
    expect(decodeMessage(wire)).toEqual({ kind: 'message', message: { type: 'sticky:metrics', payload: { id: 4, families } } });
  });

  it.each([
    ['a name Prometheus cannot read', [{ name: 'bad name', help: '', type: 'gauge', samples: [] }]],
    ['an unknown type', [{ name: 'x', help: '', type: 'timer', samples: [] }]],
    ['a label named __name__', [{ name: 'x', help: '', type: 'gauge', samples: [{ labels: { __name__: 'y' }, value: 1 }] }]],
    ['a label value that is not text', [{ name: 'x', help: '', type: 'gauge', samples: [{ labels: { a: 1 }, value: 1 }] }]],
    ['a sample of another family', [{ name: 'x', help: '', type: 'gauge', samples: [{ name: 'y', labels: {}, value: 1 }] }]],
    ['a value that is not a number', [{ name: 'x', help: '', type: 'gauge', samples: [{ labels: {}, value: '1' }] }]],
    ['too many samples', [{ name: 'x', help: '', type: 'gauge', samples: Array.from({ length: FAMILY_LIMITS.samples + 1 }, () => ({ labels: {}, value: 1 })) }]],
    ['a help text too long', [{ name: 'x', help: 'h'.repeat(FAMILY_LIMITS.helpLength + 1), type: 'gauge', samples: [] }]],
    ['not a list', { name: 'x' }],
  ])('refuses %s', (_, families) => {
    expect(decodeFamilies(families)).toBeUndefined();
    expect(decodeMessage({ __sticky: 1, v: 1, type: 'sticky:metrics', payload: { id: 1, families } })).toEqual({ kind: 'malformed' });
  });

  const metrics: PrimaryMetrics = {
    slots: [{ slot: 0, state: 'ready', restarts: 0, handoffs: 1, queued: 0, lastReloadMs: undefined }],
    workers: 1, readyWorkers: 1, restarts: 0, connections: {}, kernel: {}, openFds: 9, eventLoopDelay: undefined, startTimeSeconds: 1,
    workerFamilies: [
      { slot: 0, families: [...familiesOf(json), { name: 'process_open_fds', help: 'fds', type: 'gauge', samples: [{ labels: {}, value: 20 }] }] },
      { slot: 1, families: [
        { name: 'app_hits_total', help: 'Hits.', type: 'counter', samples: [{ labels: {}, value: 1 }, { labels: {}, value: 2 }] },
        { name: 'process_open_fds', help: 'fds', type: 'counter', samples: [{ labels: {}, value: 1 }] },
      ] },
    ],
  };

  it('renders them labelled by slot, escaped, grouped with the primary\'s family of the same name; a parser reads it', () => {
    const text = renderMetrics(metrics);
    expect(text).toContain('app_hits_total{slot="0",route="/a\\"b\\\\c\\nd",exported_slot="x"} 3\n');
    expect(text).toContain('app_seconds_bucket{slot="0",le="+Inf"} 2\napp_seconds_sum{slot="0"} NaN\n');
    // One family, the primary's sample and the worker's together; slot 1's counter of that name is left out.
    expect(text).toContain('# TYPE process_open_fds gauge\nprocess_open_fds 9\nprocess_open_fds{slot="0"} 20\n# HELP');
    // A series a worker gives twice goes out once.
    expect(text.match(/app_hits_total\{slot="1"\}/g)).toHaveLength(1);
    const families = parsePrometheusTextFormat(text) as { name: string; metrics: unknown[] }[];
    expect(families.filter((family) => family.name === 'process_open_fds')).toHaveLength(1);
    expect(families.find((family) => family.name === 'app_hits_total')?.metrics).toHaveLength(2);
  });
});

describe('sticky:figures', () => {
  it('round-trips a report', () => {
    const figures = report(1, 2);
    expect(decodeMessage(JSON.parse(JSON.stringify(encodeMessage('sticky:figures', figures))))).toEqual({
      kind: 'message', message: { type: 'sticky:figures', payload: figures },
    });
  });

  it.each([
    ['a negative CPU', { cpu: -1 }],
    ['a CPU above its bound', { cpu: FIGURE_LIMITS.cpu + 1 }],
    ['a lag of NaN (null over IPC)', { lag: null }],
    ['a fractional total', { requests: 1.5 }],
    ['a total beyond a safe integer', { accepted: 2 ** 53 }],
    ['an rss beyond its bound', { rss: FIGURE_LIMITS.rss + 1 }],
    ['a missing figure', { connections: undefined }],
  ])('drops a report with %s', (_, change) => {
    expect(decodeMessage({ __sticky: 1, v: 1, type: 'sticky:figures', payload: { ...report(1, 1), ...change } })).toEqual({ kind: 'malformed' });
  });
});

describe('status', () => {
  it('shows each slot\'s figures, "-" for a slot whose worker has not reported', () => {
    const slots = [
      { slot: 0, pid: 11, isReady: true, isFailed: false, isRespawnPending: false, uptime: 4000, generation: 0, queued: 0, handoffs: 3,
        cpu: 12.34, rss: 64 * 1024 * 1024, requests: 3, connections: 1, lagMax: 201.7 },
      { slot: 1, pid: 12, isReady: true, isFailed: false, isRespawnPending: false, uptime: 4000, generation: 0, queued: 0, handoffs: 0 },
    ];
    const text = formatStatus({ pid: 10, uptime: 5000, stats: { state: 'running', workers: 2, readyWorkers: 2, restarts: 0, slots } });
    expect(text.split('\n').slice(1, 4)).toEqual([
      'SLOT  PID  STATE  UPTIME  CPU    MEM      REQUESTS  CONNS  LAG    RESTARTS  QUEUED  HANDOFFS',
      '0     11   ready  4s      12.3%  64.0 MB  3         1      202ms  0         0       3',
      '1     12   ready  4s      -      -        -         -      -      0         0       0',
    ]);
  });
});
