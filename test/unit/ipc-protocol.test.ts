import { describe, expect, it } from 'vitest';
import {
  CONNECTION_WITHOUT_BYTES, MAX_REPORTED_REQUESTS, PROTOCOL_VERSION, TAG, decodeMessage, encodeMessage,
} from '../../src/ipc/protocol.js';

describe('encodeMessage', () => {
  it('wraps a payload in the tagged, versioned envelope', () => {
    expect(encodeMessage('sticky:masterclose', { waitForConnections: true })).toEqual({
      __sticky: 1, v: 1, type: 'sticky:masterclose', payload: { waitForConnections: true },
    });
    expect(encodeMessage('sticky:close', { waitForConnections: false, timeout: 500 })).toEqual({
      __sticky: 1, v: 1, type: 'sticky:close', payload: { waitForConnections: false, timeout: 500 },
    });
    expect(TAG).toBe('__sticky');
    expect(PROTOCOL_VERSION).toBe(1);
  });

  it('has exactly the envelope keys', () => {
    expect(Object.keys(encodeMessage('sticky:ready', {})).sort()).toEqual(['__sticky', 'payload', 'type', 'v']);
  });

  it('round-trips through decodeMessage and a JSON copy (what IPC does)', () => {
    const messages = [
      encodeMessage('sticky:connection', {}),
      encodeMessage('sticky:connection', { bytes: Buffer.from('GET / HTTP/1.1\r\n\r\n').toString('base64') }),
      encodeMessage('sticky:connection', { client: '2001:db8::7', clientPort: 4711 }),
      encodeMessage('sticky:connection', { bytes: 'R0VU', client: '198.51.100.7' }),
      encodeMessage('sticky:ready', {}),
      encodeMessage('sticky:masterclose', { waitForConnections: false }),
      encodeMessage('sticky:close', { waitForConnections: true, timeout: 0 }),
      encodeMessage('sticky:ping', {}),
      encodeMessage('sticky:pong', {}),
      encodeMessage('sticky:serverClose', {}),
      encodeMessage('sticky:unrouted', {}),
    ];
    for (const envelope of messages) {
      expect(decodeMessage(JSON.parse(JSON.stringify(envelope)))).toEqual({
        kind: 'message', message: { type: envelope.type, payload: envelope.payload },
      });
    }
  });
});

describe('CONNECTION_WITHOUT_BYTES', () => {
  it('is a frozen connection envelope with a frozen, empty payload', () => {
    expect(CONNECTION_WITHOUT_BYTES).toEqual({ __sticky: 1, v: 1, type: 'sticky:connection', payload: {} });
    expect(Object.isFrozen(CONNECTION_WITHOUT_BYTES)).toBe(true);
    expect(Object.isFrozen(CONNECTION_WITHOUT_BYTES.payload)).toBe(true);
    expect(() => { (CONNECTION_WITHOUT_BYTES as { type: string }).type = 'x'; }).toThrow(TypeError);
  });
});

describe('decodeMessage', () => {
  it.each([
    ['null', null],
    ['undefined', undefined],
    ['a string', 'sticky:masterclose'],
    ['a number', 1],
    ['a boolean', true],
    ['an empty array', []],
    ['another array', ['app:hello', true]],
    ['an object without the tag', { type: 'sticky:ready', payload: {} }],
    ['an object with another tag value', { __sticky: true, v: 1, type: 'sticky:ready', payload: {} }],
    ['an object with the tag as a string', { __sticky: '1', v: 1, type: 'sticky:ready', payload: {} }],
    ['application traffic', { cmd: 'NODE_CLUSTER', act: 'online' }],
  ])('treats %s as foreign', (_, value) => {
    expect(decodeMessage(value)).toEqual({ kind: 'foreign' });
  });

  it('drops a serverClose or unrouted message whose payload is not an object; ignores extra fields', () => {
    for (const type of ['sticky:serverClose', 'sticky:unrouted']) {
      expect(decodeMessage({ __sticky: 1, v: 1, type, payload: null })).toEqual({ kind: 'malformed' });
      expect(decodeMessage({ __sticky: 1, v: 1, type, payload: [] })).toEqual({ kind: 'malformed' });
      expect(decodeMessage({ __sticky: 1, v: 1, type })).toEqual({ kind: 'malformed' });
      expect(decodeMessage({ __sticky: 1, v: 1, type, payload: { slot: 3 } })).toEqual({ kind: 'message', message: { type, payload: {} } });
    }
  });

  it('accepts the legacy array form of masterclose', () => {
    expect(decodeMessage(['sticky:masterclose', true])).toEqual({
      kind: 'message', message: { type: 'sticky:masterclose', payload: { waitForConnections: true } },
    });
    expect(decodeMessage(['sticky:masterclose'])).toEqual({
      kind: 'message', message: { type: 'sticky:masterclose', payload: { waitForConnections: false } },
    });
    expect(decodeMessage(['sticky:masterclose', false])).toEqual({
      kind: 'message', message: { type: 'sticky:masterclose', payload: { waitForConnections: false } },
    });
    expect(decodeMessage(['sticky:masterclose', 'yes'])).toEqual({
      kind: 'message', message: { type: 'sticky:masterclose', payload: { waitForConnections: false } },
    });
  });

  it('leaves a bus batch of this version to the bus; one of another version is a version mismatch', () => {
    expect(decodeMessage({ __sticky: 1, v: 1, type: 'sticky:bus', payload: [] })).toEqual({ kind: 'bus' });
    expect(decodeMessage({ __sticky: 1, v: 2, type: 'sticky:bus', payload: [] })).toEqual({ kind: 'version', version: 2 });
  });

  it('reports another protocol version with that version', () => {
    expect(decodeMessage({ __sticky: 1, v: 2, type: 'sticky:ready', payload: {} })).toEqual({ kind: 'version', version: 2 });
    expect(decodeMessage({ __sticky: 1, v: '1', type: 'sticky:ready', payload: {} })).toEqual({ kind: 'version', version: '1' });
    expect(decodeMessage({ __sticky: 1, type: 'sticky:ready', payload: {} })).toEqual({ kind: 'version', version: undefined });
  });

  it.each([
    ['an unknown type', { type: 'sticky:nope', payload: {} }],
    ['a missing type', { payload: {} }],
    ['a missing payload', { type: 'sticky:ready' }],
    ['a null payload', { type: 'sticky:ready', payload: null }],
    ['an array payload', { type: 'sticky:masterclose', payload: [true] }],
    ['a string payload', { type: 'sticky:connection', payload: 'abc' }],
    ['non-string connection bytes', { type: 'sticky:connection', payload: { bytes: 42 } }],
    ['null connection bytes', { type: 'sticky:connection', payload: { bytes: null } }],
    ['a non-string client', { type: 'sticky:connection', payload: { client: 7 } }],
    ['a client port out of range', { type: 'sticky:connection', payload: { client: '198.51.100.7', clientPort: 70_000 } }],
    ['a fractional client port', { type: 'sticky:connection', payload: { client: '198.51.100.7', clientPort: 1.5 } }],
    ['a close without timeout', { type: 'sticky:close', payload: { waitForConnections: true } }],
    ['a close with a negative timeout', { type: 'sticky:close', payload: { waitForConnections: true, timeout: -1 } }],
    ['a close with a NaN timeout', { type: 'sticky:close', payload: { waitForConnections: true, timeout: Number.NaN } }],
    ['a close with a string timeout', { type: 'sticky:close', payload: { waitForConnections: true, timeout: '10' } }],
  ])('reports %s as malformed', (_, fields) => {
    expect(decodeMessage({ __sticky: 1, v: 1, ...fields })).toEqual({ kind: 'malformed' });
  });

  it('reads booleans strictly: anything but `true` is false', () => {
    expect(decodeMessage({ __sticky: 1, v: 1, type: 'sticky:masterclose', payload: { waitForConnections: 'true' } })).toEqual({
      kind: 'message', message: { type: 'sticky:masterclose', payload: { waitForConnections: false } },
    });
    expect(decodeMessage({ __sticky: 1, v: 1, type: 'sticky:close', payload: { waitForConnections: 1, timeout: 5 } })).toEqual({
      kind: 'message', message: { type: 'sticky:close', payload: { waitForConnections: false, timeout: 5 } },
    });
    // A removed slot is said only by `true`; an older primary never sends it.
    expect(decodeMessage({ __sticky: 1, v: 1, type: 'sticky:close', payload: { waitForConnections: true, timeout: 5, isSlotRemoved: true } })).toEqual({
      kind: 'message', message: { type: 'sticky:close', payload: { waitForConnections: true, timeout: 5, isSlotRemoved: true } },
    });
    expect(decodeMessage({ __sticky: 1, v: 1, type: 'sticky:close', payload: { waitForConnections: true, timeout: 5, isSlotRemoved: 'yes' } })).toEqual({
      kind: 'message', message: { type: 'sticky:close', payload: { waitForConnections: true, timeout: 5 } },
    });
  });

  it('keeps only known payload fields', () => {
    expect(decodeMessage({ __sticky: 1, v: 1, type: 'sticky:ready', payload: { extra: 1 } })).toEqual({
      kind: 'message', message: { type: 'sticky:ready', payload: {} },
    });
    expect(decodeMessage({ __sticky: 1, v: 1, type: 'sticky:connection', payload: { bytes: 'QQ==', extra: 1 } })).toEqual({
      kind: 'message', message: { type: 'sticky:connection', payload: { bytes: 'QQ==' } },
    });
  });

  it('never throws, even on hostile input', () => {
    const hostile = Object.create(null) as Record<string, unknown>;
    Object.defineProperty(hostile, '__sticky', { get() { return 1; }, enumerable: true });
    hostile.v = 1;
    hostile.type = 'sticky:ready';
    hostile.payload = Object.create(null);
    expect(decodeMessage(hostile)).toEqual({ kind: 'message', message: { type: 'sticky:ready', payload: {} } });
  });
});

describe('upstream-reuse reports', () => {
  const report = (payload: unknown): unknown => ({ __sticky: 1, v: 1, type: 'sticky:upstreamReuse', payload });

  it('accepts counts in bounds', () => {
    expect(decodeMessage(encodeMessage('sticky:upstreamReuse', { requests: 3, connections: 1 }))).toEqual({
      kind: 'message', message: { type: 'sticky:upstreamReuse', payload: { requests: 3, connections: 1 } },
    });
    expect(decodeMessage(report({ requests: MAX_REPORTED_REQUESTS, connections: MAX_REPORTED_REQUESTS })).kind).toBe('message');
    expect(decodeMessage(report({ requests: 0, connections: 0 })).kind).toBe('message');
  });

  it.each([
    ['a negative count', { requests: -1, connections: 0 }],
    ['NaN as a string', { requests: 'NaN', connections: 1 }],
    ['NaN', { requests: Number.NaN, connections: 1 }],
    ['Infinity', { requests: Number.POSITIVE_INFINITY, connections: 1 }],
    ['1e308', { requests: 1e308, connections: 1 }],
    ['an unsafe integer', { requests: 2 ** 53, connections: 1 }],
    ['a count past the bound', { requests: MAX_REPORTED_REQUESTS + 1, connections: 1 }],
    ['a fraction', { requests: 1.5, connections: 1 }],
    ['objects', { requests: {}, connections: [] }],
    ['a bigint', { requests: 5n, connections: 1 }],
    ['more connections than requests', { requests: 5, connections: 6 }],
    ['a missing count', { requests: 5 }],
  ])('refuses %s', (_, payload) => {
    expect(decodeMessage(report(payload))).toEqual({ kind: 'malformed' });
  });

  it('refuses recycle requests with counts that are not counts', () => {
    for (const payload of [{ reason: 'maxRequests', requests: -1, rss: 0 }, { reason: 'maxMemory', requests: 1, rss: Number.NaN }]) {
      expect(decodeMessage({ __sticky: 1, v: 1, type: 'sticky:recycle', payload })).toEqual({ kind: 'malformed' });
    }
  });
});

describe('kernel steering messages', () => {
  it('decodes sticky:listen and sticky:unlisten, and refuses bad slots and backlogs', () => {
    expect(decodeMessage(encodeMessage('sticky:listen', { backlog: 511, slot: 2 }))).toEqual({ kind: 'message', message: { type: 'sticky:listen', payload: { backlog: 511, slot: 2 } } });
    expect(decodeMessage(encodeMessage('sticky:unlisten', { slot: 0 }))).toEqual({ kind: 'message', message: { type: 'sticky:unlisten', payload: { slot: 0 } } });
    for (const payload of [{ backlog: 0, slot: 1 }, { backlog: 10, slot: -1 }, { backlog: 1.5, slot: 0 }, { backlog: 10 }]) {
      expect(decodeMessage({ __sticky: 1, v: 1, type: 'sticky:listen', payload }).kind).toBe('malformed');
    }
    expect(decodeMessage({ __sticky: 1, v: 1, type: 'sticky:unlisten', payload: { slot: 'a' } }).kind).toBe('malformed');
  });
});

describe('slot state handover messages', () => {
  const raw = (type: string, payload: unknown): unknown => ({ __sticky: 1, v: 1, type, payload });

  it('decodes each of them as sent', () => {
    for (const message of [
      encodeMessage('sticky:handoverOffer', {}),
      encodeMessage('sticky:handoverChannel', { role: 'give', maxBytes: 1024 }),
      encodeMessage('sticky:handoverChannel', { role: 'take', maxBytes: 0 }),
      encodeMessage('sticky:handoverBegin', { timeout: 1000 }),
      encodeMessage('sticky:startEmpty', { reason: 'crashed' }),
      encodeMessage('sticky:adopted', { isAdopted: true, bytes: 10 }),
      encodeMessage('sticky:adopted', { isAdopted: false, reason: 'tooLarge', bytes: 0 }),
    ]) {
      expect(decodeMessage(message)).toEqual({ kind: 'message', message: { type: message.type, payload: message.payload } });
    }
  });

  it.each([
    ['a channel of another role', 'sticky:handoverChannel', { role: 'steal', maxBytes: 1 }],
    ['a negative size', 'sticky:handoverChannel', { role: 'take', maxBytes: -1 }],
    ['a fractional deadline', 'sticky:handoverBegin', { timeout: 0.5 }],
    ['an unknown reason', 'sticky:startEmpty', { reason: 'because' }],
    ['an adoption without a boolean', 'sticky:adopted', { isAdopted: 'yes', bytes: 1 }],
    ['an adoption with an unknown reason', 'sticky:adopted', { isAdopted: false, reason: 'x', bytes: 0 }],
    ['an adoption of an uncountable size', 'sticky:adopted', { isAdopted: true, bytes: Number.NaN }],
  ])('refuses %s', (_, type, payload) => {
    expect(decodeMessage(raw(type, payload))).toEqual({ kind: 'malformed' });
  });
});
