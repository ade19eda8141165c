import { describe, expect, it } from 'vitest';
import { ErrorCode, StickyError, isStickyError } from '../../src/errors.js';
import { ReloadError, isReloadError } from '../../src/lifecycle/index.js';

describe('ErrorCode', () => {
  it('has only STICKY_ERR_ codes, each used once', () => {
    const codes = Object.values(ErrorCode);
    expect(codes.length).toBeGreaterThan(0);
    for (const code of codes) expect(code).toMatch(/^STICKY_ERR_[A-Z_]+$/);
    expect(new Set(codes).size).toBe(codes.length);
  });

  it('keeps the documented codes', () => {
    expect(ErrorCode.InvalidOption).toBe('STICKY_ERR_INVALID_OPTION');
    expect(ErrorCode.InvalidState).toBe('STICKY_ERR_INVALID_STATE');
    expect(ErrorCode.IpcClosed).toBe('STICKY_ERR_IPC_CLOSED');
    expect(ErrorCode.RespawnLimit).toBe('STICKY_ERR_RESPAWN_LIMIT');
  });
});

describe('StickyError', () => {
  it('carries code, name, message and no hint by default', () => {
    const error = new StickyError(ErrorCode.IpcClosed, 'The channel is closed.');
    expect(error).toBeInstanceOf(Error);
    expect(error.code).toBe('STICKY_ERR_IPC_CLOSED');
    expect(error.name).toBe('StickyError');
    expect(error.message).toBe('The channel is closed.');
    expect(error.hint).toBeUndefined();
    expect(error.cause).toBeUndefined();
    expect(String(error)).toBe('StickyError: The channel is closed.');
    expect(error.stack).toMatch(/^StickyError: The channel is closed\./);
  });

  it('appends the hint to the message and keeps it as a field', () => {
    const error = new StickyError(ErrorCode.InvalidOption, 'Unknown option `num`.', { hint: 'Use `workers` instead.' });
    expect(error.hint).toBe('Use `workers` instead.');
    expect(error.message).toBe('Unknown option `num`. Hint: Use `workers` instead.');
  });

  it('keeps a wrapped error as `cause`', () => {
    const cause = Object.assign(new Error('write EPIPE'), { code: 'EPIPE' });
    const error = new StickyError(ErrorCode.IpcClosed, 'The channel is closed.', { cause, hint: 'Retry.' });
    expect(error.cause).toBe(cause);
    expect(error.hint).toBe('Retry.');
  });

  it('does not make `name` an own enumerable key', () => {
    const error = new StickyError(ErrorCode.InvalidState, 'x');
    expect(Object.keys(error)).not.toContain('name');
    expect(Object.prototype.hasOwnProperty.call(error, 'name')).toBe(false);
    expect(Object.keys(error)).toContain('code');
    expect(JSON.parse(JSON.stringify(error))).toEqual({ code: 'STICKY_ERR_INVALID_STATE' });
  });
});

describe('isStickyError', () => {
  it('is true for a StickyError', () => {
    expect(isStickyError(new StickyError(ErrorCode.DrainTimeout, 'x'))).toBe(true);
  });

  it('is true for a plain Error carrying a STICKY_ERR_ code (rebuilt after IPC, or another copy)', () => {
    expect(isStickyError(Object.assign(new Error('x'), { code: 'STICKY_ERR_IPC_TIMEOUT' }))).toBe(true);
    expect(isStickyError(Object.assign(new TypeError('x'), { code: 'STICKY_ERR_SOMETHING_NEW' }))).toBe(true);
  });

  it.each([
    ['an Error without code', new Error('x')],
    ["an Error with Node's code", Object.assign(new Error('x'), { code: 'ERR_IPC_CHANNEL_CLOSED' })],
    ['an Error with a code that only contains the prefix', Object.assign(new Error('x'), { code: 'X_STICKY_ERR_A' })],
    ['an Error with a numeric code', Object.assign(new Error('x'), { code: 1 })],
    ['a plain object with the code', { code: 'STICKY_ERR_INVALID_OPTION', message: 'x', name: 'StickyError' }],
    ['a string', 'STICKY_ERR_INVALID_OPTION'],
    ['null', null],
    ['undefined', undefined],
  ])('is false for %s', (_, value) => {
    expect(isStickyError(value)).toBe(false);
  });
});

describe('isReloadError', () => {
  const report = { ok: false, slots: [{ slot: 0, status: 'failed' as const, oldWorkerId: 1, newWorkerId: 2, reason: 'x' }] };

  it('is true for a ReloadError and for a copy from another package instance', () => {
    expect(isReloadError(new ReloadError(report, report.slots[0]!))).toBe(true);
    const copy = Object.assign(new Error('stopped'), { code: 'STICKY_ERR_RELOAD_FAILED', report });
    expect(isReloadError(copy)).toBe(true);
  });

  it('is false for other errors, a reload error without its report, and non-errors', () => {
    expect(isReloadError(new StickyError(ErrorCode.InvalidState, 'closed'))).toBe(false);
    expect(isReloadError(Object.assign(new Error('x'), { code: 'STICKY_ERR_RELOAD_FAILED' }))).toBe(false);
    expect(isReloadError({ code: 'STICKY_ERR_RELOAD_FAILED', report })).toBe(false);
    expect(isReloadError(undefined)).toBe(false);
  });
});

describe('StickyError options', () => {
  it('keeps a cause of any type and sets no own `cause` without one', () => {
    expect(new StickyError(ErrorCode.InvalidOption, 'x', { cause: 'text' }).cause).toBe('text');
    expect(Object.hasOwn(new StickyError(ErrorCode.InvalidOption, 'x', { hint: 'h' }), 'cause')).toBe(false);
  });
});
