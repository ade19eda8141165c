import { expectError, expectType } from 'tsd';
import { onDrain, onShutdown, ready, requestMasterClose } from '../dist/index.js';

expectType<Promise<void>>(requestMasterClose(true));
expectType<Promise<void>>(requestMasterClose());
expectError(requestMasterClose('true'));
expectError(requestMasterClose(true, 1));

expectType<void>(onShutdown(async () => {}));
expectType<void>(onShutdown(() => {}));
expectType<void>(onShutdown(() => 1));
expectError(onShutdown(1));
expectError(onShutdown());
expectError(onShutdown((done: () => void) => done()));

expectType<void>(onDrain(async () => {}));
expectError(onDrain('close'));

expectType<void>(ready());
expectError(ready(true));

// clientAddress takes a request (anything with `socket` and `headers`) or a socket.
import { clientAddress } from '../dist/index.js';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
declare const req: IncomingMessage;
declare const socket: Socket;
expectType<string | undefined>(clientAddress(req));
expectType<string | undefined>(clientAddress(socket));
expectType<string | undefined>(clientAddress({ socket }));
expectError(clientAddress('127.0.0.1'));
expectError(clientAddress({ headers: {} }));
expectError(clientAddress());

// Session ids for Socket.IO: engine.io's generateId shape.
import { generateSessionId, listen as listenSessions } from '../dist/index.js';
expectType<string>(generateSessionId());
const generateId: (req: IncomingMessage) => string = generateSessionId;
expectType<(req: IncomingMessage) => string>(generateId);
declare const httpServer: import('node:net').Server;
listenSessions(httpServer, 3000, { socketIoSessions: true });
expectError(listenSessions(httpServer, 3000, { socketIoSessions: 'sid' }));
