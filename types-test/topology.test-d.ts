import { expectAssignable, expectError, expectNotAssignable, expectType } from 'tsd';
import {
  ReloadError, StickyError, attachWorker, ready, type CloseMaster, type ReloadReport, type SlotReloadReport, type ErrorCode,
  type SlotStateName,
} from '../dist/index.js';
import http from 'node:http';

declare const closeMaster: CloseMaster;
const { primary } = closeMaster;

// Rolling restart and scaling.
expectType<Promise<ReloadReport>>(primary.reload());
expectError(primary.reload(2));
expectType<Promise<void>>(primary.scale(5));
expectError(primary.scale('5'));
expectError(primary.scale());
expectType<Promise<void>>(primary.whenReady({ timeout: 1_000, signal: AbortSignal.timeout(2_000) }));
expectError(primary.whenReady({ timeout: '1s' }));

// Reload events carry the per-slot report.
primary.on('reloadStart', (p) => expectType<number>(p.slots));
primary.on('reloadProgress', (p) => {
  expectType<SlotReloadReport['status']>(p.status);
  expectType<number>(p.done);
});
primary.on('reloadEnd', (report) => expectType<boolean>(report.ok));
primary.on('scaled', (p) => expectType<number>(p.to));
primary.on('slotFailed', (p) => expectType<StickyError>(p.error));
expectError(primary.on('reloadProgress', (p) => p.nope));
expectError(primary.on('reloaded', () => {}));

// The failure of a reload is a StickyError with a typed report.
declare const failure: ReloadError;
expectAssignable<StickyError>(failure);
expectType<ReloadReport>(failure.report);
expectType<'STICKY_ERR_RELOAD_FAILED'>(failure.code);
expectAssignable<ErrorCode>(failure.code);
expectAssignable<'replaced' | 'failed' | 'skipped'>(failure.report.slots[0]!.status);
expectError<SlotReloadReport>({ slot: 0, status: 'done', oldWorkerId: 1, newWorkerId: 2 });

// Stats per slot.
const slot = primary.stats().slots[0]!;
expectType<number>(slot.generation);
expectType<boolean>(slot.isRespawnPending);
expectType<SlotStateName>(slot.state);
expectAssignable<SlotStateName>('withdrawn');
expectNotAssignable<SlotStateName>('respawnPending');
expectType<number>(slot.queued);

// Worker side of the typed entry point and manual readiness.
expectType<void>(attachWorker(http.createServer(), { readiness: 'manual' }));
expectError(attachWorker(http.createServer(), { readiness: 'later' }));
expectError(attachWorker());
expectType<void>(ready());
expectError(ready(true));
