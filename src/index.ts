export { listen, type CloseMaster } from './listen.js';
export {
  createPrimary, type StickyPrimary, type PrimaryEvents, type CloseOptions, type ShutdownStartInfo,
} from './primary.js';
export type { PrimaryStats } from './stats-primary.js';
export type { SlotStateName } from './slot-state.js';
export type { ChannelStats } from './lifecycle/index.js';
export { requestMasterClose, attachWorker, generateSessionId } from './worker.js';
export type { StickyApp, FastifyLikeApp, ExpressLikeApp, KoaLikeApp } from './app-server.js';
export {
  ready, onShutdown, onDrain, onHandover, onAdopt, adoptedState, handOverWebSockets,
  type WebSocketHandover, type WebSocketServerOf, EXIT_CODE_KILLED, ReloadError, isReloadError,
  type AdoptInfo, type AdoptHook, type AdoptedState, type HandoverOptions, type HandoverInfo,
  type HandoverStats,
  type ShutdownResult, type ShutdownReason, type WorkerInfo, type WorkerExitInfo, type SlotState,
  type UpstreamReuseInfo,
  type ReloadReport, type SlotReloadReport, type WorkerTimeoutInfo, type RespawnScheduledInfo, type SlotFailedInfo,
  type MasterCloseInfo, type RecycleInfo, type ReloadStartInfo, type ReloadProgressInfo, type ScaledInfo,
} from './lifecycle/index.js';
export { ErrorCode, StickyError, isStickyError } from './errors.js';
export type {
  ListenOptions, ResolvedListenOptions, ResolvedMetricsOptions, MetricsOptions, StickyRequest, PrehashKey, RoutingMode,
  Steering,
} from './options/index.js';
export type {
  BalancerStats, SteeringState, ForeignListenerInfo, ForeignListenerGoneInfo, KernelGroupStats,
} from './sticky/index.js';
export { clientAddress, type ClientAddressSource } from './sticky/index.js';
export type { LifecycleState } from './lifecycle/index.js';
export type { StickyLogger, LogMethod, LogLevel, LogBindings } from './logger.js';
export {
  workerBus, WorkerBus, PrimaryBus, BusRemoteError,
  type BusSchema, type RequestSpec, type PrimaryMessages, type PrimaryRequests, type WorkerMessages,
  type WorkerRequests, type ChannelOf, type PayloadOf, type RequestOf, type ResponseOf, type BusRoutingKey,
  type WorkerTarget, type BusSender, type EmptyStartReason,
  type RequestOptions, type MessageListener, type Responder, type BusStats,
} from './ipc/index.js';
