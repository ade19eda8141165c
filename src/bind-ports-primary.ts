import type { AddressInfo } from 'node:net';
import { ErrorCode, StickyError, isStickyError } from './errors.js';
import type { ResolvedListenOptions } from './options/index.js';
import type { MetricsServer } from './ops/index.js';
import type { Balancer } from './sticky/index.js';

// Binding the primary's ports: the `metrics` endpoint's first, then the public port; a failure of
// either says which port and why.

/** Binds the metrics endpoint (unless it already listens) and the public port; the public address. */
export async function bindPorts(
  balancer: Balancer, metrics: MetricsServer | undefined, options: Readonly<ResolvedListenOptions>,
  port: number, host: string | undefined,
): Promise<AddressInfo> {
  if (metrics !== undefined && metrics.address() === undefined) {
    const { port: metricsPort, host: metricsHost } = options.metrics ?? { port: 0, host: '' };
    await metrics.listen().catch((error: unknown) => {
      throw listenFailed(error, metricsHost, metricsPort, 'the `metrics` endpoint');
    });
  }
  try {
    return await balancer.listen(port, host);
  } catch (error) {
    if (isStickyError(error)) throw error;
    throw listenFailed(error, host ?? '*', port, 'the public port');
  }
}

function listenFailed(error: unknown, host: string, port: number, what: string): StickyError {
  return new StickyError(ErrorCode.ListenFailed, `Could not listen on ${host}:${port} (${what}).`, {
    cause: error,
    hint: (error as NodeJS.ErrnoException).code === 'EADDRINUSE'
      ? 'Another process uses this port; pick another one or stop it.' : 'See `cause`.',
  });
}
