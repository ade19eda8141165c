import type { MetricFamily } from '../internal/metric-families.js';

// The Prometheus text format 0.0.4, written by hand (see bench/RESULTS.md for why not by prom-client):
// families keyed by name, so that the workers' samples of a family the primary also writes (the
// `process_*` and `nodejs_*` ones) join its group, as the format asks (one HELP, one TYPE, the samples
// of a family together).

type Labels = Readonly<Record<string, string | number>>;

interface FamilyText {
  readonly type: string;
  text: string;
}

const number = (value: number | null): string =>
  (value === null ? 'NaN' : Number.isFinite(value) ? String(value) : value > 0 ? '+Inf' : value < 0 ? '-Inf' : 'NaN');

const escapeLabel = (value: string): string => value.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`));
const escapeHelp = (value: string): string => value.replace(/[\\\n]/g, (c) => (c === '\n' ? '\\n' : '\\\\'));

/** Label values of the runtime's own samples: numbers and fixed words, nothing to escape. */
function plainLabels(labels: Labels | undefined): string {
  if (labels === undefined) return '';
  let text = '';
  for (const key in labels) text += `${text === '' ? '' : ','}${key}="${labels[key] as string | number}"`;
  return `{${text}}`;
}

export class Exposition {
  readonly #families = new Map<string, FamilyText>();
  #current: FamilyText | undefined;

  /** Opens family `name` (or goes back to it); later samples join it. False: it exists with another type. */
  family(name: string, type: string, help: string): boolean {
    const existing = this.#families.get(name);
    if (existing !== undefined) {
      this.#current = existing.type === type ? existing : undefined;
      return this.#current !== undefined;
    }
    this.#current = { type, text: `# HELP ${name} ${escapeHelp(help)}\n# TYPE ${name} ${type}\n` };
    this.#families.set(name, this.#current);
    return true;
  }

  /** A sample of the runtime's own (labels need no escaping). */
  sample(name: string, value: number, labels?: Labels): this {
    if (this.#current !== undefined) this.#current.text += `${name}${plainLabels(labels)} ${number(value)}\n`;
    return this;
  }

  /** One slot's worker families, each sample labelled `slot` (a worker's own `slot` label becomes `exported_slot`). */
  workerFamilies(slot: number, families: readonly MetricFamily[]): number {
    let conflicts = 0;
    for (const family of families) {
      if (!this.family(family.name, family.type, family.help)) {
        conflicts++;
        continue;
      }
      const current = this.#current as FamilyText;
      // A series given twice would make the scraper drop the whole answer: the first one counts.
      const series = new Set<string>();
      for (const sample of family.samples) {
        let labels = `slot="${slot}"`;
        for (const key in sample.labels) {
          if (key === 'slot' && sample.labels.exported_slot !== undefined) continue;
          labels += `,${key === 'slot' ? 'exported_slot' : key}="${escapeLabel(sample.labels[key] as string)}"`;
        }
        const name = `${sample.name ?? family.name}{${labels}}`;
        if (series.has(name)) continue;
        series.add(name);
        current.text += `${name} ${number(sample.value)}\n`;
      }
    }
    return conflicts;
  }

  get text(): string {
    let text = '';
    for (const family of this.#families.values()) text += family.text;
    return text;
  }
}
