// The options of the primary's operations endpoint (`/metrics`, `/healthz`, `/readyz`) and of the
// application's metrics registry, as users pass them (`listen({ metrics, metricsRegistry })`) and as
// they are after validation.

/** The primary's operations endpoint: `/metrics`, `/healthz`, `/readyz`. */
export interface MetricsOptions {
  /** Port of the endpoint; `0` picks a free one (see `primary.metricsAddress()`). */
  port: number;
  /** Address to bind. Keep it off the public network, or firewall it. @default '127.0.0.1' */
  host?: string;
  /**
   * Application metrics, appended to every `/metrics` answer: return Prometheus text (for example
   * gathered from the workers over IPC). A failure is logged and leaves them out of that scrape.
   */
  collect?: () => string | Promise<string>;
  /**
   * Connections the endpoint holds at once; one more is closed as soon as it is accepted. Each
   * connection costs the primary a file descriptor, which the public port needs too.
   * @default 64
   */
  maxConnections?: number;
  /**
   * Bearer token that `/metrics` asks for (`Authorization: Bearer <token>`; 401 otherwise).
   * `/healthz` and `/readyz` stay open to probes. At least 16 visible ASCII characters.
   * @default none: `/metrics` is open to whoever reaches the port
   */
  token?: string;
}

export interface ResolvedMetricsOptions {
  port: number;
  host: string;
  collect: (() => string | Promise<string>) | undefined;
  maxConnections: number;
  token: string | undefined;
}

/** What the runtime asks of an application's metrics registry: prom-client's `Registry` has it. */
export interface MetricsRegistry {
  getMetricsAsJSON(): unknown;
}
