export { Balancer, type BalancerStats } from './balancer-primary.js';
export { SlotTable } from './slot-table-primary.js';
export { WorkerLink } from './worker-link-primary.js';
export type { ConnectionGate, DrainRequest, WorkerPlane } from './data-plane.js';
export {
  HopWorker, KernelWorker, type ForeignListenerInfo, type ForeignListenerGoneInfo, type GroupWatchEvents,
  type KernelGroupStats, type SteeringState, loadFdPassing, type FdPassing, type FdWatch,
} from './planes/index.js';
export {
  adoptSocket, listenForHandoffs, clientAddress, reportedClientOf, type ClientAddressSource,
} from './receiver-worker.js';
export {
  slotOfAddress, slotOfKey, nextLiveSlot, hashString, jumpHash, normalizeAddress, parseAddressEntry,
  clientAddressFromHeader, parseRequestHead, findHeadEnd, parseProxyHeader, formatSessionId, slotOfSessionUrl,
  keyRuleOf, watchUpstreamReuse,
  type ProxyHeaderResult, type UpstreamReuseCounts,
} from './routing/index.js';
export {
  freezeWebSocket, type FreezeOptions, type FrozenWebSocket, type MoveRefused, type WebSocketDescription,
} from './ws-freeze-worker.js';
export { thawWebSocket, type ThawOptions } from './ws-thaw-worker.js';
export { boundaryVerdict, deflateRefusal, type MoveRefusal } from './ws-boundary.js';
export { MAX_FDS, type FramedFd, type FrameEnd } from './fd-frames.js';
export { FrameSender } from './fd-frame-sender.js';
export { FrameReceiver, type FrameArrival, type FrameRejection } from './fd-frame-receiver.js';
