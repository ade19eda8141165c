import type { Server, Socket } from 'node:net';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import {
  familiesOf, type MetricFamily, type PromClientFamily, type WorkerFiguresReport,
} from '../internal/metric-families.js';
import type { Logger } from '../logger.js';
import type { MetricsRegistry } from '../options/index.js';

// A worker's own figures, for the primary: counted here, sent every `reportInterval` ms as one small
// message (never per request). The hot path is one increment per connection and per request, and one
// shared 'close' listener per connection. When the primary serves `/metrics`, the worker also answers
// its scrapes with prom-client's default metrics (when prom-client is installed) and the application's
// own registry (`metricsRegistry`).

/** Where the figures go: the worker's composition root encodes and sends them. */
export interface FigureSinks {
  report(figures: WorkerFiguresReport): void;
  answer(id: number, families: MetricFamily[]): void;
}

export interface FiguresOptions {
  /** Ms between reports; `0`: none. */
  reportInterval: number;
  /** The primary serves `/metrics`: gather prom-client's default metrics. */
  isScraped: boolean;
  registry: MetricsRegistry | undefined;
  log: Logger;
}

export interface WorkerFigures {
  /** Reports now (the worker begins its drain: its last figures reach the primary before it exits). */
  flush(): void;
  /** Answers the primary's scrape `id` with this worker's prom-client metrics (none without prom-client). */
  answer(id: number): void;
}

/** Resolution of the event-loop delay histogram, ms; a tick is late by what it measures minus this. */
const LAG_RESOLUTION_MS = 10;

/** The subset of prom-client the runtime uses; loaded only when installed. */
interface PromClient {
  Registry: new () => MetricsRegistry;
  collectDefaultMetrics(options: { register: MetricsRegistry }): void;
}

/**
 * prom-client, when the application's dependencies hold it (an optional peer dependency), else
 * undefined. The name is a variable so that the build needs no copy of it either.
 */
export async function loadPromClient(name = 'prom-client'): Promise<PromClient | undefined> {
  try {
    const module = await import(name) as Partial<PromClient> & { default?: Partial<PromClient> };
    const client = typeof module.collectDefaultMetrics === 'function' ? module : module.default;
    const isPromClient = typeof client?.collectDefaultMetrics === 'function' && typeof client.Registry === 'function';
    return isPromClient ? client as PromClient : undefined;
  } catch {
    return undefined;
  }
}

export function startWorkerFigures(server: Server, options: FiguresOptions, sinks: FigureSinks): WorkerFigures {
  let accepted = 0;
  let requests = 0;
  let open = 0;
  const onClose = (): void => {
    open--;
  };
  server.on('connection', (socket: Socket) => {
    accepted++;
    open++;
    socket.on('close', onClose);
  });
  server.on('request', () => {
    requests++;
  });

  let report = (): void => undefined;
  if (options.reportInterval > 0) {
    const delay: IntervalHistogram = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
    delay.enable();
    let cpuBefore = process.cpuUsage();
    let before = performance.now();
    report = () => {
      const now = performance.now();
      const cpu = process.cpuUsage(cpuBefore);
      cpuBefore = process.cpuUsage();
      const elapsedMs = now - before;
      before = now;
      // The histogram reports ns; a tick that came on time measures the resolution itself.
      const lag = delay.count > 0 ? Math.max(0, delay.mean / 1e6 - LAG_RESOLUTION_MS) : 0;
      const lagMax = delay.count > 0 ? Math.max(0, delay.max / 1e6 - LAG_RESOLUTION_MS) : 0;
      delay.reset();
      sinks.report({
        accepted, requests, connections: Math.max(0, open), lag, lagMax,
        cpu: elapsedMs > 0 ? (cpu.user + cpu.system) / 10 / elapsedMs : 0,
        rss: process.memoryUsage.rss(),
      });
    };
    setInterval(report, options.reportInterval).unref();
  }

  const defaults = options.isScraped ? defaultRegistry(options.log) : Promise.resolve(undefined);
  let hasWarned = false;
  const answer = async (id: number): Promise<void> => {
    const families: MetricFamily[] = [];
    const names = new Set<string>();
    // The application's first: when it registered the default metrics itself, its own copies win.
    for (const registry of [options.registry, await defaults]) {
      if (registry === undefined) continue;
      try {
        for (const family of familiesOf(await registry.getMetricsAsJSON() as PromClientFamily[])) {
          if (names.has(family.name)) continue;
          names.add(family.name);
          families.push(family);
        }
      } catch (error) {
        if (!hasWarned) {
          options.log.warn({ err: error }, 'a metrics registry failed: its metrics are left out of the scrape');
        }
        hasWarned = true;
      }
    }
    sinks.answer(id, families);
  };
  return {
    flush: () => report(),
    answer: (id) => void answer(id),
  };
}

/** A registry of prom-client's default metrics (CPU, memory, heap, GC, event loop), if prom-client is installed. */
async function defaultRegistry(log: Logger): Promise<MetricsRegistry | undefined> {
  const client = await loadPromClient();
  if (client === undefined) {
    log.debug({}, 'prom-client is not installed: /metrics shows the runtime\'s own figures of this worker');
    return undefined;
  }
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry });
  return registry;
}
