import type { AddressInfo } from 'node:net';
import { expectError, expectType } from 'tsd';
import {
  createPrimary, type CloseMaster, type ForeignListenerGoneInfo, type ForeignListenerInfo, type KernelGroupStats, type LifecycleState,
  type PrimaryStats, type ShutdownResult, type StickyError, type StickyPrimary, type WorkerExitInfo, type WorkerInfo,
  type ChannelStats,
} from '../dist/index.js';

declare const closeMaster: CloseMaster;
const primary = closeMaster.primary;
expectType<StickyPrimary>(primary);
expectError(closeMaster.primary = createPrimary());
expectType<StickyPrimary>(createPrimary({ workers: 2 }));
expectError(createPrimary({ workers: '2' }));

// Events: names and payloads are checked.
primary.on('workerReady', (p) => expectType<number>(p.workerId));
primary.on('workerOnline', (p) => expectType<WorkerInfo>(p));
primary.on('workerExit', (p) => {
  expectType<WorkerExitInfo>(p);
  expectType<boolean>(p.expected);
  expectType<number | null>(p.code);
});
primary.on('listening', (address) => expectType<AddressInfo>(address));
primary.once('shutdownEnd', (result) => expectType<ShutdownResult>(result));
primary.on('respawnScheduled', (p) => expectType<number>(p.delay));
primary.on('slotFailed', (p) => expectType<number>(p.retryIn));
primary.on('foreignListener', (p) => {
  expectType<ForeignListenerInfo>(p);
  expectType<number>(p.count);
  expectType<number[]>(p.inodes);
  expectType<StickyError>(p.error);
});
primary.on('foreignListenerGone', (p) => expectType<ForeignListenerGoneInfo>(p));
expectError(primary.on('foreignListener', (p) => p.pid));
expectType<KernelGroupStats>(primary.stats().kernel);
expectType<number>(primary.stats().kernel.foreignListeners);
expectError(primary.on('workerReady', (p: string) => p));
expectError(primary.on('workerReady', (p) => p.nope));
expectError(primary.on('workerReadyy', () => {}));
expectError(primary.on('nope', () => {}));
expectError(primary.once('connection', () => {}));
expectType<Promise<WorkerInfo>>(primary.next('workerReady'));
expectError(primary.next('nope'));

// stats() and the rest of the handle.
const stats = primary.stats();
expectType<PrimaryStats>(stats);
expectType<number>(stats.readyWorkers);
expectType<number>(stats.workers);
expectType<LifecycleState>(stats.state);
expectType<number | undefined>(stats.slots[0]?.workerId);
expectType<number | undefined>(stats.slots[0]?.cpu);
expectType<number | undefined>(stats.slots[0]?.requests);
expectType<ChannelStats>(stats.ipc);
expectType<number>(stats.ipc.closedHandles);
expectError(stats.nope);
expectError(primary.stats(true));
expectType<LifecycleState>(primary.state);
expectError(primary.state = 'closed');
expectType<Promise<ShutdownResult>>(primary.close());
expectType<Promise<ShutdownResult>>(primary.close({ waitForConnections: false }));
expectError(primary.close({ waitForConnections: 'no' }));
expectError(primary.close({ drainTimout: 1 }));
expectType<Promise<void>>(primary.whenReady());
expectType<AddressInfo | undefined>(primary.address());

// Internals stay out of the declarations (StickyPrimary is exported as a type: createPrimary() and listen() make it).
expectError(primary.closeMaster('api', true));

// Kernel steering: the option's values and the stats it reports.
createPrimary({ steering: 'auto' });
createPrimary({ steering: 'kernel' });
expectError(createPrimary({ steering: 'fast' }));
expectType<'kernel' | 'primary'>(createPrimary().stats().steering.plane);
expectType<string | undefined>(createPrimary().stats().steering.reason);

// The types public events carry and `primary.options` have public names.
import type {
  MasterCloseInfo, RecycleInfo, ReloadProgressInfo, ReloadStartInfo, ResolvedListenOptions, RespawnScheduledInfo, ScaledInfo,
  ShutdownStartInfo, SlotFailedInfo, WorkerTimeoutInfo,
} from '../dist/index.js';
expectType<Readonly<ResolvedListenOptions>>(primary.options);
expectType<number>(primary.options.slotWaitTimeout);
expectError(primary.options.workers = 2);
primary.on('workerTimeout', (info) => expectType<WorkerTimeoutInfo>(info));
primary.on('respawnScheduled', (info) => expectType<RespawnScheduledInfo>(info));
primary.on('slotFailed', (info) => expectType<SlotFailedInfo>(info));
primary.on('masterclose', (info) => expectType<MasterCloseInfo>(info));
primary.on('recycle', (info) => expectType<RecycleInfo>(info));
primary.on('reloadStart', (info) => expectType<ReloadStartInfo>(info));
primary.on('reloadProgress', (info) => expectType<ReloadProgressInfo>(info));
primary.on('scaled', (info) => expectType<ScaledInfo>(info));
primary.on('shutdownStart', (info) => expectType<ShutdownStartInfo>(info));
declare const timeout: WorkerTimeoutInfo;
expectType<number>(timeout.workerId);
