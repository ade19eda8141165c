// The data planes, each a pair: a primary half and a worker half, chosen once (open-plane-primary.ts).
//   hop-primary.ts    / hop-worker.ts     the primary accepts and hands each connection over IPC
//   kernel-primary.ts / kernel-worker.ts  one SO_REUSEPORT socket per slot; the worker accepts itself
export { openDataPlane, steeringBeforeListen, type OpenedPlane, type SteeringState } from './open-plane-primary.js';
export type { HopCounts } from './hop-primary.js';
export type {
  ForeignListenerInfo, ForeignListenerGoneInfo, GroupWatchEmit, GroupWatchEvents, KernelGroupStats,
} from './group-watch-primary.js';
export { HopWorker } from './hop-worker.js';
export { loadFdPassing, type FdPassing, type FdWatch } from './reuseport-native.js';
export { KernelWorker } from './kernel-worker.js';
