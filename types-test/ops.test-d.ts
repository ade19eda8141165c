import type { AddressInfo } from 'node:net';
import { expectAssignable, expectError, expectNotAssignable, expectType } from 'tsd';
import { createPrimary, type ListenOptions, type StickyLogger } from '../dist/index.js';

const primary = createPrimary({ workers: 2, metrics: { port: 9464, collect: () => 'app_up 1\n' } });
expectType<AddressInfo | undefined>(primary.metricsAddress());

// Loggers: pino, anything with its method shape, or false.
expectAssignable<ListenOptions>({ logger: console });
expectAssignable<ListenOptions>({ logger: false });
expectAssignable<ListenOptions>({ logLevel: 'debug' });
expectAssignable<StickyLogger>({ error() {}, warn() {}, info() {}, debug() {} });
expectNotAssignable<ListenOptions>({ logger: true });
expectNotAssignable<ListenOptions>({ logLevel: 'verbose' });
expectNotAssignable<StickyLogger>({ info() {}, warn() {}, error() {} });

// metrics needs its port; collect returns text.
expectAssignable<ListenOptions>({ metrics: { port: 0, host: '::1', collect: async () => '' } });
expectNotAssignable<ListenOptions>({ metrics: { host: '127.0.0.1' } });
expectNotAssignable<ListenOptions>({ metrics: { port: 1, collect: () => 1 } });
// A connection cap and a bearer token for /metrics.
expectAssignable<ListenOptions>({ metrics: { port: 9464, maxConnections: 16, token: 'x'.repeat(32) } });
expectNotAssignable<ListenOptions>({ metrics: { port: 1, token: 42 } });
expectNotAssignable<ListenOptions>({ metrics: { port: 1, maxConnections: '64' } });

// Recycling and shutdownDelay are numbers.
expectAssignable<ListenOptions>({ maxRequests: 10_000, maxRequestsJitter: 100, maxMemory: 2 ** 29, shutdownDelay: 5_000 });
expectNotAssignable<ListenOptions>({ maxMemory: '512mb' });

primary.on('recycle', (p) => {
  expectType<'maxRequests' | 'maxMemory'>(p.reason);
  expectType<number>(p.rss);
});
expectError(primary.on('recycle', (p) => p.nope));

primary.on('upstreamReuse', (p) => {
  expectType<number>(p.requests);
  expectType<number>(p.connections);
  expectType<string>(p.hint);
  expectType<number>(p.slot);
});
expectError(primary.on('upstreamReuse', (p) => p.reason));
expectType<number>(primary.stats().connections.upstreamReuseRequests);

// A worker whose application closed its server: which worker, in which slot.
primary.on('workerServerClose', (p) => {
  expectType<number>(p.slot);
  expectType<number>(p.workerId);
  expectType<number>(p.pid);
});
expectError(primary.on('workerServerClose', (p) => p.reason));
expectType<Promise<{ slot: number; workerId: number; pid: number }>>(primary.next('workerServerClose'));
