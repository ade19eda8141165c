import { createServer } from 'node:http';
import type { Socket } from 'node:net';
import { expectAssignable, expectError, expectNotAssignable, expectType } from 'tsd';
import { listen, type CloseMaster, type ListenOptions, type PrehashKey, type StickyError, type StickyRequest } from '../dist/index.js';
import { Registry } from 'prom-client';

const server = createServer();

// listen(): every drop-in call form returns closeMaster in the primary, null in a worker.
expectType<CloseMaster | null>(listen(server, 3000));
expectType<CloseMaster | null>(listen(server, '3000'));
expectType<CloseMaster | null>(listen(server, 3000, 'localhost'));
expectType<CloseMaster | null>(listen(server, 3000, { workers: 4 }));
expectType<CloseMaster | null>(listen(server, 3000, 'localhost', { proxyHeader: 'x-forwarded-for' }));
expectType<CloseMaster | null>(listen(server, 3000, undefined, { proxyProtocol: true, trustedProxies: ['10.0.0.0/8'] }));
expectError(listen(server));
expectError(listen());
expectError(listen(server, true));
expectError(listen(server, 3000, 4));
expectError(listen(server, 3000, { workers: 4 }, { workers: 4 }));
expectError(listen({}, 3000));

// closeMaster(callback?, waitForConnections?)
declare const closeMaster: CloseMaster;
expectType<void>(closeMaster());
expectType<void>(closeMaster((error) => expectType<StickyError | undefined>(error), true));
expectType<void>(closeMaster(undefined, false));
expectError(closeMaster('x'));
expectError(closeMaster(() => {}, 'yes'));
expectError(closeMaster(() => {}, true, 1));

// ListenOptions: types of values, and unknown keys (a typo must not compile).
expectAssignable<ListenOptions>({});
expectAssignable<ListenOptions>({ workers: 4, proxyHeader: 'x-forwarded-for', trustedHops: 1, drainTimeout: 5_000 });
// `undefined` removes a variable the workers would inherit from the primary.
expectAssignable<ListenOptions>({ env: { NODE_ENV: 'production', UNSET: undefined } });
expectAssignable<ListenOptions>({ env: { ...process.env, SECRET: undefined } });
expectNotAssignable<ListenOptions>({ env: { SECRET: null } });
expectNotAssignable<ListenOptions>({ workers: '4' });
expectNotAssignable<ListenOptions>({ proxyHeader: 1 });
expectNotAssignable<ListenOptions>({ proxyProtocol: 'yes' });
expectAssignable<ListenOptions>({ proxyHeader: 'x-forwarded-for', trustedProxies: ['10.0.0.0/8', '::1'] as const });
expectNotAssignable<ListenOptions>({ proxyProtocol: true, trustedProxies: '10.0.0.0/8' });
expectNotAssignable<ListenOptions>({ env: { PORT: 8080 } });
expectError(listen(server, 3000, { drainTimout: 5_000 }));
expectError(listen(server, 3000, { num: 4 }));
expectError(listen(server, 3000, { workers: '4' }));
expectError(listen(server, 3000, 'localhost', { proxyHeader: 1 }));
expectError<ListenOptions>({ drainTimout: 5_000 });

// Key functions: what they receive and what they may return.
listen(server, 3000, {
  generatePrehashArray(req, socket) {
    expectType<StickyRequest>(req);
    expectType<Record<string, string>>(req.headers);
    expectType<string>(req.method);
    expectType<string[]>(req.rawHeaders);
    expectType<Socket>(socket);
    return req.headers['x-user'] ?? '';
  },
});
listen(server, 3000, {
  generatePrehashArrayNoParsing(socket) {
    expectType<Socket>(socket);
    return [socket.remotePort ?? 0];
  },
});
expectAssignable<PrehashKey>([1, 2, 3]);
expectAssignable<PrehashKey>('key');
expectAssignable<PrehashKey>(new Uint8Array([1]));
expectAssignable<PrehashKey>(Buffer.from('key'));
expectNotAssignable<PrehashKey>({ key: 1 });
expectNotAssignable<PrehashKey>(['a', 'b']);
expectNotAssignable<PrehashKey>(1);
expectAssignable<ListenOptions>({ generatePrehashArray: () => [1, 2] });
expectAssignable<ListenOptions>({ generatePrehashArray: () => new Uint8Array(4) });
expectNotAssignable<ListenOptions>({ generatePrehashArray: () => ({ key: 1 }) });
expectNotAssignable<ListenOptions>({ generatePrehashArray: () => 42 });
expectNotAssignable<ListenOptions>({ generatePrehashArrayNoParsing: () => ({ key: 1 }) });
expectNotAssignable<ListenOptions>({ generatePrehashArray: (req: { headers: number }) => String(req.headers) });
expectError(listen(server, 3000, { generatePrehashArray: (req) => req.headers.host?.length }));
expectError(listen(server, 3000, { generatePrehashArray: (req) => req.nope }));

// Apps of the common frameworks are accepted as they are.
import Fastify from 'fastify';
import { attachWorker as attachApp, type ExpressLikeApp, type KoaLikeApp, type StickyApp } from '../dist/index.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
const fastifyApp = Fastify();
expectType<CloseMaster | null>(listen(fastifyApp, 3000));
expectType<void>(attachApp(fastifyApp));
expectAssignable<StickyApp>(fastifyApp);
declare const expressApp: ExpressLikeApp;
expectType<CloseMaster | null>(listen(expressApp, 3000, { workers: 2 }));
declare const koaApp: KoaLikeApp;
expectType<void>(attachApp(koaApp));
expectAssignable<StickyApp>({ callback: () => (_req: IncomingMessage, _res: ServerResponse) => undefined, use: () => undefined });
expectError(listen({}, 3000));
expectError(attachApp({ listen: () => undefined }));
expectError(listen(() => undefined, 3000));

// Every worker's figures and an application's prom-client registry.
expectAssignable<ListenOptions>({ reportInterval: 0 });
expectAssignable<ListenOptions>({ metricsRegistry: new Registry(), reportInterval: 2_000 });
expectNotAssignable<ListenOptions>({ metricsRegistry: {} });
expectNotAssignable<ListenOptions>({ reportInterval: '1s' });
