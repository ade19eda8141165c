// What a worker tells the primary about itself: its figures, and its prom-client metrics as they cross
// the IPC channel (what `registry.getMetricsAsJSON()` gives, in the wire shape `familiesOf` makes) with
// the bounds the primary holds them to. Pure. Whatever a worker sends, the primary renders valid
// exposition text or drops that worker's metrics from the scrape.

/**
 * What a worker reports about itself every `reportInterval` ms (`sticky:figures`). `accepted` and
 * `requests` are running totals of this worker; `connections` are open now; `lag` and `lagMax` the mean
 * and the largest event-loop delay since the last report (ms); `cpu` the CPU time used since then, in %
 * of one core; `rss` the resident memory (bytes).
 */
export interface WorkerFiguresReport {
  accepted: number;
  requests: number;
  connections: number;
  lag: number;
  lagMax: number;
  cpu: number;
  rss: number;
}

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface MetricSample {
  /** The sample's own name when it differs from the family's (`_bucket`, `_sum`, `_count`). */
  name?: string;
  /** Label values as strings (prom-client gives numbers for `le` and `quantile`). */
  labels: Readonly<Record<string, string>>;
  /** `null` stands for NaN and the infinities, which JSON cannot carry. */
  value: number | null;
}

export interface MetricFamily {
  name: string;
  help: string;
  type: MetricType;
  samples: MetricSample[];
}

/** Bounds of one worker's answer: far above what prom-client's default metrics and an app's own make. */
export const FAMILY_LIMITS = {
  families: 2_000,
  samples: 50_000,
  labels: 32,
  nameLength: 200,
  helpLength: 4_096,
  labelValueLength: 1_024,
} as const;

const TYPES: ReadonlySet<string> = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const isMetricName = (value: unknown): value is string =>
  typeof value === 'string' && value.length <= FAMILY_LIMITS.nameLength && METRIC_NAME.test(value);

function decodeLabels(value: unknown): Record<string, string> | undefined {
  if (value === undefined) return {};
  if (!isRecord(value)) return undefined;
  const keys = Object.keys(value);
  if (keys.length > FAMILY_LIMITS.labels) return undefined;
  const labels: Record<string, string> = {};
  for (const key of keys) {
    // `__`-prefixed names are Prometheus's own.
    if (key.length > FAMILY_LIMITS.nameLength || !LABEL_NAME.test(key) || key.startsWith('__')) return undefined;
    const text = value[key];
    if (typeof text !== 'string' || text.length > FAMILY_LIMITS.labelValueLength) return undefined;
    labels[key] = text;
  }
  return labels;
}

function decodeSample(value: unknown, family: string): MetricSample | undefined {
  if (!isRecord(value)) return undefined;
  const { name, labels, value: number } = value;
  if (number !== null && typeof number !== 'number') return undefined;
  // `_bucket`, `_sum`, `_count` of a histogram or summary: the family's name and a suffix.
  if (name !== undefined && (!isMetricName(name) || !name.startsWith(family))) return undefined;
  const decoded = decodeLabels(labels);
  if (decoded === undefined) return undefined;
  return { ...(name === undefined ? {} : { name }), labels: decoded, value: number };
}

/** The families in `value` (as `familiesOf` made them), or undefined when anything is out of bounds. */
export function decodeFamilies(value: unknown): MetricFamily[] | undefined {
  if (!Array.isArray(value) || value.length > FAMILY_LIMITS.families) return undefined;
  const families: MetricFamily[] = [];
  let total = 0;
  for (const entry of value) {
    if (!isRecord(entry)) return undefined;
    const { name, help, type, samples: values } = entry;
    if (!isMetricName(name) || typeof type !== 'string' || !TYPES.has(type) || !Array.isArray(values)) return undefined;
    if (typeof help !== 'string' || help.length > FAMILY_LIMITS.helpLength) return undefined;
    total += values.length;
    if (total > FAMILY_LIMITS.samples) return undefined;
    const samples: MetricSample[] = [];
    for (const sample of values) {
      const decoded = decodeSample(sample, name);
      if (decoded === undefined) return undefined;
      samples.push(decoded);
    }
    families.push({ name, help, type: type as MetricType, samples });
  }
  return families;
}

/** One family as prom-client's `getMetricsAsJSON()` gives it (v14 and v15). */
export interface PromClientFamily {
  name: string;
  help: string;
  type: string;
  values: { value: number; labels?: Readonly<Record<string, string | number>>; metricName?: string }[];
}

const labelText = (value: string | number): string =>
  (typeof value === 'string' ? value : value === Infinity ? '+Inf' : value === -Infinity ? '-Inf' : String(value));

/** prom-client's JSON in the wire shape: label values as text, NaN and the infinities as `null`. */
export function familiesOf(json: readonly PromClientFamily[]): MetricFamily[] {
  return json.map(({ name, help, type, values }) => ({
    name, help, type: (TYPES.has(type) ? type : 'untyped') as MetricType,
    samples: values.map(({ value, labels, metricName }) => {
      const text: Record<string, string> = {};
      if (labels !== undefined) {
        for (const key of Object.keys(labels)) text[key] = labelText(labels[key] as string | number);
      }
      const ownName = metricName === undefined ? {} : { name: metricName };
      return { ...ownName, labels: text, value: Number.isFinite(value) ? value : null };
    }),
  }));
}
