import { expectAssignable, expectError, expectNotAssignable, expectType } from 'tsd';
import { ErrorCode, ReloadError, StickyError, isReloadError, isStickyError, type ReloadReport } from '../dist/index.js';

expectType<'STICKY_ERR_INVALID_OPTION'>(ErrorCode.InvalidOption);
expectType<'STICKY_ERR_INVALID_STATE'>(ErrorCode.InvalidState);
expectType<'STICKY_ERR_IPC_CLOSED'>(ErrorCode.IpcClosed);
expectType<'STICKY_ERR_RESPAWN_LIMIT'>(ErrorCode.RespawnLimit);
expectType<'STICKY_ERR_FOREIGN_LISTENER'>(ErrorCode.ForeignListener);
expectError(ErrorCode.Nope);
expectError(ErrorCode.InvalidOption = 'STICKY_ERR_INVALID_STATE');

expectAssignable<ErrorCode>('STICKY_ERR_DRAIN_TIMEOUT');
expectAssignable<`STICKY_ERR_${string}`>(ErrorCode.ListenFailed as ErrorCode);
expectNotAssignable<ErrorCode>('ERR_IPC_CHANNEL_CLOSED');
expectNotAssignable<ErrorCode>('STICKY_ERR_NOPE');
expectNotAssignable<ErrorCode>('sticky_err_invalid_option');

const error = new StickyError(ErrorCode.InvalidOption, 'Bad option.', { hint: 'Fix it.', cause: new Error('x') });
expectType<ErrorCode>(error.code);
expectType<string | undefined>(error.hint);
expectType<string>(error.name);
expectAssignable<Error>(error);
expectError(error.code = ErrorCode.InvalidState);
expectError(new StickyError('STICKY_ERR_NOPE', 'x'));
expectError(new StickyError('ERR_IPC_CHANNEL_CLOSED', 'x'));
expectError(new StickyError(ErrorCode.InvalidOption));
expectError(new StickyError(ErrorCode.InvalidOption, 'x', { hint: 1 }));

declare const caught: unknown;
if (isStickyError(caught)) {
  expectType<StickyError>(caught);
  expectType<ErrorCode>(caught.code);
}
expectError(isStickyError());

// A failed reload narrows through its guard: `report` is typed, and `code` is the literal.
if (isReloadError(caught)) {
  expectType<ReloadError>(caught);
  expectType<ReloadReport>(caught.report);
  expectType<'STICKY_ERR_RELOAD_FAILED'>(caught.code);
  expectAssignable<StickyError>(caught);
}
declare const failure: StickyError;
if (isReloadError(failure)) expectType<ReloadReport>(failure.report);
expectError(failure.report);
expectError(isReloadError());

// Options are the package's own, not lib es2022's ErrorOptions: `cause` is any value.
expectAssignable<ConstructorParameters<typeof StickyError>[2]>({ cause: 'text', hint: 'h' });
expectError(new StickyError(ErrorCode.InvalidOption, 'x', { nope: 1 }));
