import { expectAssignable, expectError, expectType } from 'tsd';
import { Server } from 'socket.io';
import {
  adoptSessions, createAdapter, handOverSessions, takeSessions, StickyClusterAdapter,
  type SocketIoSessions, type StickyAdapterOptions,
} from '../dist/socket-io/index.js';

// The adapter factory fits Socket.IO's `adapter` option; a real Server fits the helpers.
const io = new Server({ adapter: createAdapter(), connectionStateRecovery: {} });
new Server({ adapter: createAdapter({ maxPackets: 1000, heartbeatInterval: 5000, heartbeatTimeout: 10_000 }) });
expectType<StickyClusterAdapter>(createAdapter()(undefined));
expectError(createAdapter({ maxPacket: 1 }));
expectError(createAdapter({ maxPackets: '1000' }));
expectAssignable<StickyAdapterOptions>({});

expectType<void>(handOverSessions(io));
expectType<void>(handOverSessions(io, { version: '2' }));
expectType<Promise<SocketIoSessions>>(takeSessions(io));
expectType<boolean>(adoptSessions(io, await takeSessions(io)));
expectType<boolean>(adoptSessions(io, { anything: true }));
expectError(handOverSessions({}));
