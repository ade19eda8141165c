export {
  Supervisor, type SupervisorEvents, type WorkerInfo, type WorkerExitInfo, type SlotState, type UpstreamReuseInfo,
} from './supervisor-primary.js';
export type {
  WorkerTimeoutInfo, RespawnScheduledInfo, SlotFailedInfo, MasterCloseInfo, RecycleInfo,
} from './supervisor-events.js';
export { WorkerChannels, type ChannelStats } from './worker-channel-primary.js';
export { PrimaryShutdown, EXIT_CODE_KILLED, type ShutdownResult, type ShutdownReason } from './shutdown-primary.js';
export { installShutdownSignals, exitAfterShutdown, exitCodeOf } from './signals-primary.js';
export type { WorkerShutdown, DrainHook } from './shutdown-worker.js';
export { WorkerRuntime, workerRuntime, ready, onShutdown, onDrain } from './runtime-worker.js';
export {
  WorkerHandover, type AdoptInfo, type AdoptHook, type AdoptedState, type HandoverOptions,
} from './handover-worker.js';
export { workerHandover, onHandover, onAdopt, adoptedState, handOverWebSockets } from './handover-api-worker.js';
export type { HandoverInfo } from './handover-primary.js';
export type { WebSocketHandover, WebSocketServerOf } from './handover-sockets-worker.js';
export {
  decideRespawn, EMPTY_HISTORY, type RespawnPolicy, type CrashHistory, type RespawnDecision,
} from './respawn-policy.js';
export { transition, canTransition, closingError, isClosing, type LifecycleState } from './state.js';
export {
  Topology, type TopologyEvents, type ReloadStartInfo, type ReloadProgressInfo, type ScaledInfo, type HandoverStats,
} from './topology-primary.js';
export { planRollout, ReloadError, isReloadError, type ReloadReport, type SlotReloadReport } from './rollout.js';
