export {
  TAG, PROTOCOL_VERSION, CONNECTION_WITHOUT_BYTES, EMPTY_START_REASONS, encodeMessage, decodeMessage,
  type EmptyStartReason,
  type RuntimeMessageMap, type RuntimeMessageType, type RuntimeMessage, type Envelope, type DecodeResult,
} from './protocol.js';
export {
  PrimaryBus, openPrimaryBus, type BusDirectory, type PrimaryBusOptions, type PrimaryBusControl,
} from './bus-primary.js';
export { WorkerBus, workerBus } from './bus-worker.js';
export { BusRemoteError, type WireKey } from './bus-protocol.js';
export type {
  BusSchema, RequestSpec, PrimaryMessages, PrimaryRequests, WorkerMessages, WorkerRequests, ChannelOf, PayloadOf,
  RequestOf, ResponseOf, BusRoutingKey, WorkerTarget, BusSender, RequestOptions, MessageListener, Responder, BusStats,
} from './bus-types.js';
export { FIGURE_LIMITS } from './protocol.js';
export { tellPrimary } from './tell-primary-worker.js';
