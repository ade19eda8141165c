import { expect, it } from 'vitest';
import { spawnCluster, until, type MessageOf } from '../helpers/cluster.js';
import { request } from '../helpers/client.js';

// A worker process attaches one server: a second listen() in the same worker is refused with
// STICKY_ERR_INVALID_STATE and a hint, and the first server keeps its connections and readiness.

it('refuses a second server in a worker and keeps serving with the first', async () => {
  const cluster = await spawnCluster('app.mjs', { env: { WORKERS: '2', ATTACH_TWICE: '1', OPTIONS: JSON.stringify({ logger: false }) } });
  const reports = (): MessageOf<'report'>[] => cluster.all('report', (message) => message.event === 'attachTwice');
  await until(() => reports().length === 2);
  expect(reports().map(({ workerId, code, hint }) => ({ workerId, code, hint })).sort((a, b) => Number(a.workerId) - Number(b.workerId))).toEqual([1, 2].map((workerId) => ({
    workerId, code: 'STICKY_ERR_INVALID_STATE', hint: 'Call `listen()` (or `attachWorker()`) once per worker; put several apps behind one server.',
  })));
  const { status, reply } = await request({ port: cluster.port });
  expect(status).toBe(200);
  expect([1, 2]).toContain(reply.workerId);
});

it('removes from the workers a variable the primary has when `env` sets it to undefined', async () => {
  // The primary is started with both; its options unset SECRET only.
  const env = { WORKERS: '2', SECRET: 'primary-only', KEPT: 'inherited', UNSET_IN_WORKERS: 'SECRET', REPORT_ENV: 'SECRET,KEPT' };
  const cluster = await spawnCluster('app.mjs', { env });
  const replies = new Map<number, Record<string, string | null> | undefined>();
  // Distinct source addresses until both workers answered (IP mode spreads them over the slots).
  for (let n = 2; replies.size < 2 && n < 250; n++) {
    const { reply } = await request({ port: cluster.port, localAddress: `127.0.0.${n}` });
    replies.set(reply.workerId, reply.env);
  }
  expect([...replies.values()]).toEqual([{ SECRET: null, KEPT: 'inherited' }, { SECRET: null, KEPT: 'inherited' }]);
});
