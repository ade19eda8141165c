import { expectAssignable, expectError, expectNotAssignable, expectType } from 'tsd';
import {
  workerBus, type BusSender, type BusStats, type PrimaryBus, type StickyPrimary, type WorkerBus, type WorkerTarget,
} from '../dist/index.js';

interface Task { id: number; input: string }
interface AppBus {
  primary: {
    messages: { 'metrics:report': { requests: number }; 'task:progress': { id: number; percent: number } };
    requests: { 'task:next': { request: { slot: number }; response: Task | null } };
  };
  worker: {
    messages: { 'cache:purge': { key: string } };
    requests: { 'session:get': { request: { user: string }; response: { visits: number } | null } };
  };
}

declare const primary: StickyPrimary;
const bus = primary.bus<AppBus>();
expectType<PrimaryBus<AppBus>>(bus);

// Primary: listens to what workers send, answers their requests.
bus.on('metrics:report', (payload, from) => {
  expectType<{ requests: number }>(payload);
  expectType<BusSender>(from);
});
bus.once('task:progress', (payload) => expectType<number>(payload.percent));
bus.handle('task:next', (payload, from) => {
  expectType<{ slot: number }>(payload);
  expectType<BusSender>(from);
  return { id: 1, input: 'x' };
});
bus.handle('task:next', async () => null);
expectError(bus.on('cache:purge', () => {}));                   // a worker-side channel
expectError(bus.on('metrics:report', (p: { requests: string }) => p));
expectError(bus.on('metrics:reprot', () => {}));
expectError(bus.handle('task:next', () => ({ id: '1', input: 'x' })));
expectError(bus.handle('metrics:report', () => 1));              // a message, not a request

// Primary → workers.
expectType<Promise<void>>(bus.sendTo({ slot: 0 }, 'cache:purge', { key: 'a' }));
expectType<Promise<void>>(bus.sendTo({ workerId: 3 }, 'cache:purge', { key: 'a' }));
expectType<Promise<void>>(bus.sendTo({ key: '203.0.113.7' }, 'cache:purge', { key: 'a' }));
expectType<Promise<number>>(bus.broadcast('cache:purge', { key: 'a' }));
expectType<Promise<{ visits: number } | null>>(bus.requestTo({ key: '203.0.113.7' }, 'session:get', { user: 'ann' }));
expectType<Promise<{ visits: number } | null>>(bus.requestTo({ slot: 1 }, 'session:get', { user: 'ann' }, { timeout: 500, signal: AbortSignal.timeout(100) }));
expectError(bus.sendTo({ slot: 0 }, 'cache:purge', { key: 1 }));
expectError(bus.sendTo({ slot: 0 }, 'cache:purge', {}));
expectError(bus.sendTo({ slot: 0 }, 'metrics:report', { requests: 1 })); // goes to the primary, not to workers
expectError(bus.sendTo({ slot: '0' }, 'cache:purge', { key: 'a' }));
expectError(bus.sendTo({ worker: 1 }, 'cache:purge', { key: 'a' }));
expectError(bus.broadcast('nope', {}));
expectError(bus.requestTo({ slot: 1 }, 'session:get', { user: 1 }));
expectError(bus.requestTo({ slot: 1 }, 'session:get', { user: 'a' }, { timeout: '1s' }));
expectError(bus.requestTo({ slot: 1 }, 'cache:purge', { key: 'a' }));
expectType<BusStats>(bus.stats());
expectType<number>(bus.stats().foreignResponses);

// Worker side of the same schema.
const wbus = workerBus<AppBus>();
expectType<WorkerBus<AppBus>>(wbus);
expectType<Promise<void>>(wbus.send('metrics:report', { requests: 3 }));
expectType<Promise<Task | null>>(wbus.request('task:next', { slot: 0 }));
expectType<Promise<void>>(wbus.sendTo({ key: [1, 2, 3] }, 'cache:purge', { key: 'k' }));
expectType<Promise<number>>(wbus.broadcast('cache:purge', { key: 'k' }, { includeSelf: true }));
expectType<Promise<{ visits: number } | null>>(wbus.requestTo({ key: new Uint8Array([1]) }, 'session:get', { user: 'bo' }));
wbus.on('cache:purge', (payload, from) => {
  expectType<{ key: string }>(payload);
  expectType<BusSender>(from);
  if (from.kind === 'worker') expectType<number>(from.slot);
});
wbus.handle('session:get', ({ user }) => (user === 'ann' ? { visits: 1 } : null));
expectError(wbus.send('cache:purge', { key: 'k' }));              // workers receive it, the primary does not
expectError(wbus.send('metrics:report', { requests: '3' }));
expectError(wbus.send('metrics:report'));
expectError(wbus.request('task:next', { slot: 'a' }));
expectError(wbus.handle('session:get', () => ({ visits: 'many' })));
expectError(wbus.on('task:progress', () => {}));
expectError(wbus.broadcast('cache:purge', { key: 'k' }, { includeSelf: 'yes' }));

// Listeners and responders come from one base over each side's own maps and return that side's bus.
expectType<PrimaryBus<AppBus>>(bus.off('metrics:report', () => {}).unhandle('task:next'));
expectType<WorkerBus<AppBus>>(wbus.once('cache:purge', () => {}).unhandle('session:get'));
expectError(bus.unhandle('session:get'));
expectError(wbus.unhandle('task:next'));
expectError(wbus.off('metrics:report', () => {}));

// What only the primary does with its bus is not part of it.
expectError(bus.close());
expectError(bus.slotReady(0));

// A schema without a side has no channels there.
const onlyPrimary = workerBus<{ primary: { messages: { up: { ok: boolean } } } }>();
expectType<Promise<void>>(onlyPrimary.send('up', { ok: true }));
expectError(onlyPrimary.sendTo({ slot: 0 }, 'up', { ok: true }));
expectError(onlyPrimary.request('up', { ok: true }));

expectAssignable<WorkerTarget>({ key: 'user:42' });
expectNotAssignable<WorkerTarget>({ key: 42 });
expectNotAssignable<WorkerTarget>({});
