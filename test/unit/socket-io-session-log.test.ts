import { serialize, deserialize } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { SessionLog, type LoggedPacket } from '../../src/socket-io/session-log.js';
import { resolveAdapterOptions } from '../../src/socket-io/adapter-options.js';

// The per-worker memory of Socket.IO's connection state recovery, and its handover merge.

const MINUTE = 60_000;
const packet = (id: string, emittedAt: number, rooms: string[] = [], except: string[] = []): LoggedPacket =>
  ({ id, rooms, except, data: ['tick', id, id], emittedAt });
const session = (pid: string, rooms: string[]) => ({ sid: `sid-${pid}`, pid, rooms, data: { name: pid } });
const ids = (missed: unknown[][] | undefined): unknown[] => (missed ?? []).map((data) => data[1]);

describe('SessionLog', () => {
  it('restores a session once, with the packets after its offset that reach its rooms, in order', () => {
    const log = new SessionLog({ maxDisconnection: MINUTE, maxPackets: 100 });
    log.record(packet('a', 0));
    log.record(packet('b', 1, ['r1']));
    log.persist(session('p1', ['sid-p1', 'r1']), 2);
    log.record(packet('c', 3, ['r2']));
    log.record(packet('d', 4, ['r1']));
    log.record(packet('e', 5, [], ['r1']));
    log.record(packet('f', 6));
    const restored = log.restore('p1', 'b', 10);
    expect(restored).toMatchObject({ sid: 'sid-p1', pid: 'p1', rooms: ['sid-p1', 'r1'], data: { name: 'p1' } });
    expect(ids(restored?.missedPackets)).toEqual(['d', 'f']);
    expect(log.restore('p1', 'b', 10)).toBeNull();
  });

  it('restores nothing for an unknown session, an expired one, or an offset not in the log', () => {
    const log = new SessionLog({ maxDisconnection: MINUTE, maxPackets: 100 });
    log.record(packet('a', 0));
    log.persist(session('p1', []), 0);
    log.persist(session('p2', []), 0);
    expect(log.restore('nobody', 'a', 1)).toBeNull();
    expect(log.restore('p1', 'a', MINUTE + 1)).toBeNull();
    expect(log.restore('p2', 'z', 1)).toBeNull();
  });

  it('keeps at most maxPackets (the oldest go) and sweeps what is older than maxDisconnection', () => {
    const log = new SessionLog({ maxDisconnection: MINUTE, maxPackets: 3 });
    for (let i = 0; i < 200; i++) log.record(packet(`p${i}`, i));
    expect(log.packetCount).toBe(3);
    expect(log.exportState().packets.map((p) => p.id)).toEqual(['p197', 'p198', 'p199']);
    log.persist(session('old', []), 0);
    log.persist(session('new', []), MINUTE);
    log.sweep(MINUTE + 198);
    expect(log.exportState().packets.map((p) => p.id)).toEqual(['p198', 'p199']);
    expect(log.exportState().sessions.map((s) => s.pid)).toEqual(['new']);
  });

  it('adopts a predecessor\'s state: its packets first, then its own not in it; its sessions unless it has the same', () => {
    const before = new SessionLog({ maxDisconnection: MINUTE, maxPackets: 100 });
    for (const id of ['a', 'b', 'c', 'd']) before.record(packet(id, 1));
    before.persist(session('p1', []), 2);
    before.persist(session('p2', ['x']), 2);
    // Through the handover's serialisation, as the successor receives it.
    const state = deserialize(serialize(before.exportState())) as ReturnType<SessionLog['exportState']>;
    const after = new SessionLog({ maxDisconnection: MINUTE, maxPackets: 100 });
    // Broadcasts of another worker reached the successor too while the slot changed hands: c, d, e.
    for (const id of ['c', 'd', 'e']) after.record(packet(id, 3));
    after.persist(session('p2', ['own']), 3);
    after.adopt(state, 4);
    expect(after.exportState().packets.map((p) => p.id)).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(ids(after.restore('p1', 'b', 5)?.missedPackets)).toEqual(['c', 'd', 'e']);
    expect(after.restore('p2', 'a', 5)?.rooms).toEqual(['own']);
  });

  it('trims an adopted log to maxPackets and drops what expired', () => {
    const log = new SessionLog({ maxDisconnection: MINUTE, maxPackets: 2 });
    log.adopt({ sessions: [{ ...session('p', []), disconnectedAt: 0 }], packets: [packet('a', 0), packet('b', MINUTE), packet('c', MINUTE), packet('d', MINUTE)] }, MINUTE + 1);
    expect(log.exportState()).toEqual({ sessions: [], packets: [packet('c', MINUTE), packet('d', MINUTE)] });
  });
});

describe('createAdapter options', () => {
  it('applies defaults, takes valid values, and rejects unknown keys and bad values by name', () => {
    expect(resolveAdapterOptions({})).toEqual({ maxPackets: 10_000, heartbeatInterval: 5_000, heartbeatTimeout: 10_000 });
    expect(resolveAdapterOptions({ maxPackets: 0, heartbeatInterval: 100 })).toMatchObject({ maxPackets: 0, heartbeatInterval: 100 });
    expect(() => resolveAdapterOptions({ maxPacket: 1 } as never)).toThrow(expect.objectContaining({
      code: 'STICKY_ERR_INVALID_OPTION', message: expect.stringContaining('Unknown option `maxPacket`'),
    }));
    expect(() => resolveAdapterOptions({ heartbeatTimeout: -1 })).toThrow('Expected `heartbeatTimeout` to be an integer from 1 to 2147483647 (ms), received -1 (number).');
    expect(() => resolveAdapterOptions(null as never)).toThrow(expect.objectContaining({ code: 'STICKY_ERR_INVALID_OPTION' }));
  });
});
