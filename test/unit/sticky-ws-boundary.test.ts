import { describe, expect, it } from 'vitest';
import { boundaryVerdict, deflateRefusal, refusalAtDeadline, type BoundaryInput } from '../../src/sticky/ws-boundary.js';

const idle: BoundaryInput = {
  isOpen: true, isReceiverAtFrame: true, isReceiverInMessage: false, isSenderBusy: false, writePending: 0,
};

describe('boundaryVerdict', () => {
  it('moves only when both directions are between frames and nothing is left to write', () => {
    expect(boundaryVerdict(idle)).toBe('boundary');
  });

  it('reads on while a client frame or fragmented message is half-read, whatever the sender does', () => {
    expect(boundaryVerdict({ ...idle, isReceiverAtFrame: false })).toBe('readMore');
    expect(boundaryVerdict({ ...idle, isReceiverInMessage: true })).toBe('readMore');
    expect(boundaryVerdict({ ...idle, isReceiverAtFrame: false, isSenderBusy: true, writePending: 9 })).toBe('readMore');
  });

  it('waits for the server output: a busy sender or bytes not yet handed to the kernel', () => {
    expect(boundaryVerdict({ ...idle, isSenderBusy: true })).toBe('flush');
    expect(boundaryVerdict({ ...idle, writePending: 1 })).toBe('flush');
  });

  it('moves nothing that is closing', () => {
    expect(boundaryVerdict({ ...idle, isOpen: false })).toBe('closed');
    expect(boundaryVerdict({ ...idle, isOpen: false, isReceiverAtFrame: false })).toBe('closed');
  });
});

describe('refusalAtDeadline', () => {
  it('names what was still half-way', () => {
    expect(refusalAtDeadline('readMore')).toBe('midFrame');
    expect(refusalAtDeadline('flush')).toBe('writePending');
    expect(refusalAtDeadline('closed')).toBe('closed');
  });
});

describe('deflateRefusal', () => {
  it('moves a connection without permessage-deflate', () => {
    expect(deflateRefusal(undefined)).toBeUndefined();
  });

  it('moves permessage-deflate only with no context takeover on both sides', () => {
    const both = { server_no_context_takeover: true, client_no_context_takeover: true };
    expect(deflateRefusal(both)).toBeUndefined();
    expect(deflateRefusal({ ...both, server_max_window_bits: 10 })).toBeUndefined();
    expect(deflateRefusal({ server_no_context_takeover: true })).toBe('deflateContext');
    expect(deflateRefusal({ client_no_context_takeover: true })).toBe('deflateContext');
    expect(deflateRefusal({})).toBe('deflateContext');
  });
});
