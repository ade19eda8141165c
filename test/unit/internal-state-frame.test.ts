import { describe, expect, it } from 'vitest';
import { MAX_HEADER_BYTES, STATE_PROTOCOL, encodeStateHeader, readStateHeader } from '../../src/internal/state-frame.js';

describe('slot state frame', () => {
  it('reads back the header it wrote and says how many bytes it used', () => {
    const frame = encodeStateHeader({ protocol: STATE_PROTOCOL, status: 'ok', bytes: 42, version: '3.1' });
    const read = readStateHeader(Buffer.concat([frame, Buffer.from('state')]));
    expect(read).toEqual({ kind: 'header', header: { protocol: 1, status: 'ok', bytes: 42, version: '3.1' }, used: frame.length });
  });

  it('asks for more while the length or the header is incomplete', () => {
    const frame = encodeStateHeader({ protocol: STATE_PROTOCOL, status: 'tooLarge', bytes: 9 });
    for (let cut = 0; cut < frame.length; cut++) expect(readStateHeader(frame.subarray(0, cut))).toEqual({ kind: 'more' });
  });

  it.each([
    ['a length past the bound', (() => { const b = Buffer.alloc(8); b.writeUInt32BE(MAX_HEADER_BYTES + 1); return b; })()],
    ['no JSON', Buffer.concat([Buffer.from([0, 0, 0, 3]), Buffer.from('abc')])],
    ['an unknown status', encodeStateHeader({ protocol: 1, status: 'lost' as 'ok', bytes: 1 })],
    ['a negative size', encodeStateHeader({ protocol: 1, status: 'ok', bytes: -1 })],
    ['a version that is no string', encodeStateHeader({ protocol: 1, status: 'ok', bytes: 1, version: 2 as unknown as string })],
  ])('refuses %s', (_, buffer) => {
    expect(readStateHeader(buffer)).toEqual({ kind: 'invalid' });
  });
});
