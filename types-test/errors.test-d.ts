import { expectAssignable, expectError, expectNotAssignable, expectType } from 'tsd';
import { ErrorCode, StickyError, isStickyError } from '../dist/index.js';

expectType<'STICKY_ERR_INVALID_OPTION'>(ErrorCode.InvalidOption);
expectType<'STICKY_ERR_INVALID_STATE'>(ErrorCode.InvalidState);
expectType<'STICKY_ERR_IPC_CLOSED'>(ErrorCode.IpcClosed);
expectType<'STICKY_ERR_RESPAWN_LIMIT'>(ErrorCode.RespawnLimit);
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
