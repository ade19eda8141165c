import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { Logger } from '../logger.js';
import type { ResolvedMetricsOptions } from '../options.js';
import { renderMetrics, type PrimaryMetrics } from './prometheus.js';

// The primary's operations endpoint, on its own port (loopback by default): /metrics in the
// Prometheus text format, /healthz (the primary is alive) and /readyz (every slot has a ready
// worker), so an orchestrator's probe sees the whole cluster and not the one slot a probe's
// address hashes to.

/** What the endpoint asks the primary for, at each request. */
export interface MetricsSource {
  metrics(): Omit<PrimaryMetrics, 'eventLoopDelay'>;
  /** `ready`: accepting, and every slot has a ready worker; otherwise the slots that have none. */
  readiness(): { isReady: boolean; state: string; notReadySlots: number[] };
}

const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export class MetricsServer {
  readonly #options: ResolvedMetricsOptions;
  readonly #source: MetricsSource;
  readonly #log: Logger;
  readonly #server: Server;
  readonly #delay: IntervalHistogram;

  constructor(options: ResolvedMetricsOptions, source: MetricsSource, log: Logger) {
    this.#options = options;
    this.#source = source;
    this.#log = log.child({ component: 'metrics' });
    this.#server = createServer((request, response) => void this.#answer(request, response));
    // Samples the primary's loop every 10 ms; reset at each scrape so a scrape shows its interval.
    this.#delay = monitorEventLoopDelay({ resolution: 10 });
  }

  listen(): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen({ port: this.#options.port, host: this.#options.host }, () => {
        this.#server.removeListener('error', reject);
        // A broken client connection must not crash the primary.
        this.#server.on('clientError', (_error, socket) => socket.destroy());
        this.#delay.enable();
        const address = this.#server.address() as AddressInfo;
        this.#log.info({ port: address.port, host: address.address }, 'metrics endpoint listening');
        resolve(address);
      });
    });
  }

  address(): AddressInfo | undefined {
    return (this.#server.address() ?? undefined) as AddressInfo | undefined;
  }

  close(): Promise<void> {
    this.#delay.disable();
    return new Promise((resolve) => {
      if (!this.#server.listening) {
        resolve();
        return;
      }
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }

  async #answer(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = (request.url ?? '/').split('?')[0];
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      send(response, 405, 'text/plain', 'method not allowed\n', { allow: 'GET, HEAD' });
      return;
    }
    if (path === '/healthz') {
      send(response, 200, 'text/plain', 'ok\n');
    } else if (path === '/readyz') {
      const readiness = this.#source.readiness();
      send(response, readiness.isReady ? 200 : 503, 'application/json', `${JSON.stringify({
        ready: readiness.isReady, state: readiness.state, notReadySlots: readiness.notReadySlots,
      })}\n`);
    } else if (path === '/metrics') {
      send(response, 200, CONTENT_TYPE, await this.#scrape());
    } else {
      send(response, 404, 'text/plain', 'not found: try /metrics, /healthz or /readyz\n');
    }
  }

  async #scrape(): Promise<string> {
    const delay = this.#delay;
    // The histogram reports ns; it has no samples before the first 10 ms tick.
    const eventLoopDelay = delay.count > 0
      ? { mean: delay.mean / 1e6, p99: delay.percentile(99) / 1e6, max: delay.max / 1e6 }
      : undefined;
    delay.reset();
    let text = renderMetrics({ ...this.#source.metrics(), eventLoopDelay });
    const collect = this.#options.collect;
    if (collect !== undefined) {
      try {
        const extra = await collect();
        if (extra.length > 0) text += extra.endsWith('\n') ? extra : `${extra}\n`;
      } catch (error) {
        // The runtime's own metrics still go out; the application's are missing from this scrape.
        this.#log.warn({ err: error }, 'metrics collect hook failed');
      }
    }
    return text;
  }
}

function send(response: ServerResponse, status: number, type: string, body: string, headers: Record<string, string> = {}): void {
  response.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', ...headers });
  response.end(body);
}
