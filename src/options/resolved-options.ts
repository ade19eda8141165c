import type { Socket } from 'node:net';
import type { LogLevel, Logger } from '../logger.js';
import type { AddressRanges } from '../internal/address-ranges.js';
import type { MetricsRegistry, ResolvedMetricsOptions } from './metrics-options.js';
import type { PrehashKey, RoutingMode, Steering, StickyRequest } from './routing-options.js';

// What internal code receives after normalizeListenOptions(): every option required, validated,
// frozen (the user's side, documented, is listen-options.ts).

export interface ResolvedListenOptions {
  workers: number;
  mode: RoutingMode;
  /** Route by Socket.IO session ids: the `socketIoSessions` mode, or after the header in `proxyProtocol` mode. */
  socketIoSessions: boolean;
  proxyHeader: string;
  trustedHops: number;
  /** The peers whose PROXY header or forwarding header counts; undefined: every peer (the count form). */
  trustedProxies: AddressRanges | undefined;
  generatePrehashArray: ((req: StickyRequest, socket: Socket) => PrehashKey) | undefined;
  generatePrehashArrayNoParsing: ((socket: Socket) => PrehashKey) | undefined;
  env: Readonly<Record<string, string | undefined>>;
  hashSeed: number;
  backlog: number;
  steering: Steering;
  nativeHandoff: boolean;
  groupCheckInterval: number;
  maxHeadBytes: number;
  headTimeout: number;
  maxPendingHeads: number;
  slotQueueLimit: number;
  slotWaitTimeout: number;
  shutdownTimeout: number;
  shutdownDelay: number;
  drainTimeout: number;
  handoverTimeout: number;
  handoverMaxBytes: number;
  handleSignals: boolean;
  readyTimeout: number;
  workerTimeout: number;
  readiness: 'listen' | 'manual';
  reloadConcurrency: number;
  maxRequests: number;
  maxRequestsJitter: number;
  maxMemory: number;
  memoryCheckInterval: number;
  reportInterval: number;
  metricsRegistry: MetricsRegistry | undefined;
  respawnDelay: number;
  maxRespawnDelay: number;
  minUptime: number;
  maxRestarts: number;
  restartWindow: number;
  failedSlotRetry: number;
  logLevel: LogLevel;
  ipcTimeout: number;
  logger: Logger;
  metrics: Readonly<ResolvedMetricsOptions> | undefined;
}
