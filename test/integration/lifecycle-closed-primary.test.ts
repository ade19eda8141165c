import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { pEvent } from 'p-event';
import { spawnCluster } from '../helpers/cluster.js';
import type { ClosedProbe } from '../helpers/protocol.js';
import { portBelowEphemeralRange } from '../helpers/client.js';

// The primary's handle refuses what does not fit its state, with STICKY_ERR_INVALID_STATE and a hint,
// instead of binding a port nobody closes or forking workers for a cluster that is going away.


const codes = ({ listen, reload, scale, whenReady }: ClosedProbe): Record<string, string> =>
  ({ listen: listen.code, reload: reload.code, scale: scale.code, whenReady: whenReady.code });

/** Resolves with whether something accepts connections on the port. */
function isListening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

describe('primary handle', () => {
  it('cannot be constructed directly (nor its bus), keeps its internals out of reach, and listens once', async () => {
    const cluster = await spawnCluster('closed-primary.mjs');
    const probe = await cluster.ask('probe');
    expect(probe.construct).toEqual({ code: 'STICKY_ERR_INVALID_STATE', message: expect.stringContaining('Hint: Call `createPrimary(options)`') });
    expect(probe.busConstruct).toEqual({ code: 'STICKY_ERR_INVALID_STATE', message: expect.stringContaining('Hint: Use `primary.bus()`.') });
    // What only the primary itself calls is out of reach: not a method of the handle or of its bus.
    expect(probe.internals).toEqual([]);
    expect(probe.listen).toEqual({ code: 'STICKY_ERR_INVALID_STATE', message: expect.stringContaining('already listens') });
  });

  it.each(['auto', 'primary'])('closed while listen() binds its port (steering %s): listen() rejects, close() ends, nothing stays open', async (steering) => {
    const cluster = await spawnCluster('closed-primary.mjs', { env: { RACE: '1', STEERING: steering } });
    const exited = pEvent(cluster.child, 'exit', { timeout: 10_000, multiArgs: true });
    expect(cluster.ready).toMatchObject({ listen: { code: 'STICKY_ERR_INVALID_STATE', message: expect.stringContaining('closed while it was binding') }, close: { code: 'ok' }, state: 'closed' });
    // A port left listening would keep the process alive.
    expect(await exited).toEqual([0, null]);
  });

  it('rejects listen(), reload(), scale() and whenReady() once close() was called, and binds no port after it', async () => {
    // Below the ephemeral range: once closed, nothing running alongside takes the port.
    const cluster = await spawnCluster('closed-primary.mjs', { env: { PORT: String(await portBelowEphemeralRange()) } });
    const { closing, closed } = await cluster.ask('close');
    const invalid = { listen: 'STICKY_ERR_INVALID_STATE', reload: 'STICKY_ERR_INVALID_STATE', scale: 'STICKY_ERR_INVALID_STATE', whenReady: 'STICKY_ERR_INVALID_STATE' };
    expect(closing.state).toBe('closing');
    expect(codes(closing)).toEqual(invalid);
    expect(closing.reload.message).toMatch(/^`reload\(\)` cannot run: the cluster is shutting down\. Hint: /);
    expect(closed.state).toBe('closed');
    expect(codes(closed)).toEqual(invalid);
    expect(closed.listen.message).toMatch(/^`listen\(\)` cannot run: the cluster is shut down\. Hint: /);
    expect(await isListening(cluster.port)).toBe(false);
  });
});
