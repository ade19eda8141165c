import { describe, expect, it } from 'vitest';
import { formatSessionId, slotOfSessionUrl } from '../../src/sticky/routing/session-id.js';

describe('session ids that carry their slot', () => {
  it('round-trip through the sid query parameter, wherever it stands', () => {
    for (const slot of [0, 1, 7, 42, 1023]) {
      const sid = formatSessionId(slot);
      expect(sid).toMatch(/^[A-Za-z0-9_-]{20}\.\d+$/);
      expect(slotOfSessionUrl(`/socket.io/?EIO=4&transport=polling&sid=${sid}`, 1024)).toBe(slot);
      expect(slotOfSessionUrl(`/socket.io/?sid=${sid}&EIO=4&transport=websocket`, 1024)).toBe(slot);
    }
    expect(formatSessionId(1)).not.toBe(formatSessionId(1));
  });

  it('ignores requests without a session, ids of other formats, and slots that no longer exist', () => {
    const cases = [
      '/socket.io/?EIO=4&transport=polling&t=abc',   // the handshake
      '/',
      '/socket.io/?EIO=4&sid=IdWithoutSlot-_xyz',      // engine.io's own id format
      '/socket.io/?EIO=4&sid=abc.',
      '/socket.io/?EIO=4&sid=abc.x1',
      '/socket.io/?EIO=4&sid=abc.12345',
      '/socket.io/?EIO=4&xsid=abc.1',
      '/socket.io/?EIO=4&sid=abc.3',                   // slot 3 of 3 slots: gone after a scale-down
      '/socket.io/sid=abc.1',
    ];
    for (const url of cases) expect({ url, slot: slotOfSessionUrl(url, 3) }).toEqual({ url, slot: undefined });
    expect(slotOfSessionUrl('/socket.io/?xsid=abc.9&sid=abc.2', 3)).toBe(2);
  });
});
