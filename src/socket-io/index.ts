// `sticky-runtime/socket.io`: the Socket.IO adapter for sticky-runtime workers and the helpers that
// hand Socket.IO sessions to a slot's next worker. Only this entry imports socket.io-adapter (an
// optional peer dependency); the package's main entry never does.
export { StickyClusterAdapter, createAdapter } from './adapter-worker.js';
export type { StickyAdapterOptions } from './adapter-options.js';
export {
  adoptSessions, handOverSessions, takeSessions,
  type EngineSocketLike, type SocketIoServerLike, type SocketIoSessions,
} from './handover-worker.js';
export type { LoggedPacket, SessionLogState, StoredSession } from './session-log.js';
