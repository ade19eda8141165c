import { describe, expect, it } from 'vitest';
import { repeatedKeys } from '../helpers/json-keys.js';

describe('repeatedKeys (the log tests’ duplicate-key scanner)', () => {
  it('finds a key repeated in one object at any depth, not the same key in different objects or in strings', () => {
    expect(repeatedKeys('{"a":1,"b":{"a":2,"c":[{"a":1,"a":2}]},"s":"x\\",\\"a\\":","a":3}')).toEqual(['b.c.[].a', 'a']);
    expect(repeatedKeys('{"pid":1,"hostname":"h","component":"lifecycle","workerPid":2,"msg":"worker ready"}')).toEqual([]);
    expect(repeatedKeys('{"level":30,"pid":1,"workerId":1,"pid":2}')).toEqual(['pid']);
  });
});
