import { describe, expect, it } from 'vitest';
import { LineSplitter } from '../../src/cli/line-splitter.js';

describe('LineSplitter (a worker’s output → whole lines)', () => {
  it('keeps a partial line until its newline, across chunks, and counts \\r\\n as one newline', () => {
    const lines = new LineSplitter(100);
    expect(lines.push('one\ntw')).toEqual(['one']);
    expect(lines.push('o')).toEqual([]);
    expect(lines.push('\r\nthree\n\nfour')).toEqual(['two', 'three', '']);
    expect(lines.end()).toEqual(['four']);
    expect(lines.end()).toEqual([]);
  });

  it('joins a UTF-8 character cut between two chunks', () => {
    const lines = new LineSplitter(100);
    const bytes = Buffer.from('grüße\n');
    expect(lines.push(bytes.subarray(0, 3))).toEqual([]);
    expect(lines.push(bytes.subarray(3))).toEqual(['grüße']);
  });

  it('cuts a line longer than maxLine into pieces, so a line without newline is never held whole', () => {
    const lines = new LineSplitter(4);
    expect(lines.push('abcdefghij')).toEqual(['abcd', 'efgh']);
    expect(lines.push('kl\n')).toEqual(['ijkl']);
    expect(lines.push('x'.repeat(9))).toEqual(['xxxx', 'xxxx']);
    expect(lines.end()).toEqual(['x']);
  });
});
