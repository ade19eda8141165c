import { describe, expect, it } from 'vitest';
import { bearerChecker } from '../../src/ops/bearer.js';

describe('bearerChecker', () => {
  const token = '0123456789abcdef0123456789abcdef';
  const check = bearerChecker(token);

  it('accepts the token after the Bearer scheme, in any case of the scheme', () => {
    expect(check(`Bearer ${token}`)).toBe(true);
    expect(check(`bearer  ${token}`)).toBe(true);
    expect(check(`BEARER ${token} `)).toBe(true);
  });

  it('refuses no header, another scheme, a prefix, an extension and a different token', () => {
    expect(check(undefined)).toBe(false);
    expect(check('')).toBe(false);
    expect(check(`Basic ${token}`)).toBe(false);
    expect(check(token)).toBe(false);
    expect(check(`Bearer ${token.slice(0, -1)}`)).toBe(false);
    expect(check(`Bearer ${token}0`)).toBe(false);
    expect(check(`Bearer ${token.toUpperCase()}`)).toBe(false);
    expect(check(`Bearer ${token} extra`)).toBe(false);
    expect(check('Bearer ')).toBe(false);
  });
});
