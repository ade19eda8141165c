import { StickyError, ErrorCode, isReloadError, listen } from '../../dist/index.js';

export const error = new StickyError(ErrorCode.InvalidOption, 'Bad option.', { hint: 'Fix it.', cause: new Error('x') });
export const check = (value: unknown): boolean => isReloadError(value) && value.report.ok;
export type Listen = typeof listen;
