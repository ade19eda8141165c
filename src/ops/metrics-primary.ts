import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { settlesWithin } from '../internal/deadline.js';
import type { Logger } from '../logger.js';
import type { ResolvedMetricsOptions } from '../options/index.js';
import { bearerChecker } from './bearer.js';
import { renderMetrics, type PrimaryMetrics, type WorkerFamilies } from './prometheus.js';

// The primary's operations endpoint, on its own port (loopback by default): /metrics in the
// Prometheus text format, /healthz (the primary is alive) and /readyz (every slot has a ready
// worker), so an orchestrator's probe sees the whole cluster and not the one slot a probe's
// address hashes to.
//
// Every connection here costs the primary a file descriptor, and the public port needs those too:
// the endpoint holds at most `maxConnections` at once and closes any connection idle for
// `ENDPOINT_LIMITS.idle` ms (one that never sent a byte too), so whoever reaches this port cannot
// starve the public one.

/** What the endpoint asks the primary for, at each request. */
export interface MetricsSource {
  metrics(): Omit<PrimaryMetrics, 'eventLoopDelay'>;
  /** Each ready slot's prom-client metrics, from the workers that answer within `timeout` ms. */
  workerFamilies(timeout: number): Promise<readonly WorkerFamilies[]>;
  /**
   * `ready`: running, accepting on the public port, and every slot has a ready worker; otherwise the
   * slots that have none, and whether the public port accepts.
   */
  readiness(): { isReady: boolean; state: string; notReadySlots: number[]; isAccepting: boolean };
}

/** Time limits of the endpoint's connections, ms. A scrape or a probe takes a few ms. */
export const ENDPOINT_LIMITS = {
  /** A connection with no byte in or out for this long is closed (per-socket timer, exact). */
  idle: 5_000,
  /** The request head, and the whole request, must arrive within this. */
  request: 5_000,
  /** A kept-alive connection waits this long for its next request. */
  keepAlive: 5_000,
  /** How often Node checks the request deadlines above (its default is 30 s). */
  check: 1_000,
  /** `collect` has this long; later, the scrape goes out without the application's metrics. */
  collect: 4_000,
  /** Each worker has this long to send its prom-client metrics; later, the scrape goes out without them. */
  workers: 2_000,
} as const;

const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export class MetricsServer {
  readonly #options: ResolvedMetricsOptions;
  readonly #source: MetricsSource;
  readonly #log: Logger;
  readonly #server: Server;
  readonly #delay: IntervalHistogram;
  /** Checks `/metrics`'s Authorization header; undefined when no token is set. */
  readonly #isAuthorized: ((authorization: string | undefined) => boolean) | undefined;

  constructor(options: ResolvedMetricsOptions, source: MetricsSource, log: Logger) {
    this.#options = options;
    this.#source = source;
    this.#log = log.child({ component: 'metrics' });
    this.#server = createServer({
      headersTimeout: ENDPOINT_LIMITS.request,
      requestTimeout: ENDPOINT_LIMITS.request,
      connectionsCheckingInterval: ENDPOINT_LIMITS.check,
    }, (request, response) => void this.#answer(request, response));
    // Node closes a connection beyond the cap right after accepting it: its descriptor is freed at once.
    this.#server.maxConnections = options.maxConnections;
    this.#server.keepAliveTimeout = ENDPOINT_LIMITS.keepAlive;
    // The request deadlines are only checked every `check` ms; the socket's own inactivity timer
    // closes a silent connection (one that never sent a byte too) on time.
    this.#server.timeout = ENDPOINT_LIMITS.idle;
    this.#isAuthorized = options.token === undefined ? undefined : bearerChecker(options.token);
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
        accepting: readiness.isAccepting,
      })}\n`);
    } else if (path === '/metrics') {
      if (this.#isAuthorized !== undefined && !this.#isAuthorized(request.headers.authorization)) {
        const challenge = request.headers.authorization === undefined
          ? 'Bearer realm="metrics"'
          : 'Bearer realm="metrics", error="invalid_token"';
        send(response, 401, 'text/plain', 'unauthorized: send Authorization: Bearer <token>\n',
          { 'www-authenticate': challenge });
        return;
      }
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
    const workerFamilies = await this.#source.workerFamilies(ENDPOINT_LIMITS.workers);
    let text = renderMetrics({ ...this.#source.metrics(), eventLoopDelay, workerFamilies });
    const collect = this.#options.collect;
    if (collect !== undefined) {
      try {
        const pending = Promise.resolve().then(collect);
        if (!await settlesWithin(pending, ENDPOINT_LIMITS.collect)) {
          // Settling later changes nothing: this scrape went out without it.
          pending.catch(() => undefined);
          throw new Error(`metrics.collect did not settle within ${ENDPOINT_LIMITS.collect} ms`);
        }
        const extra = await pending;
        if (extra.length > 0) text += extra.endsWith('\n') ? extra : `${extra}\n`;
      } catch (error) {
        // The runtime's own metrics still go out; the application's are missing from this scrape.
        this.#log.warn({ err: error }, 'metrics collect hook failed');
      }
    }
    return text;
  }
}

function send(
  response: ServerResponse, status: number, type: string, body: string, headers: Record<string, string> = {},
): void {
  response.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', ...headers });
  response.end(body);
}
