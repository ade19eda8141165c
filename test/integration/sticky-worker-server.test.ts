import http from 'node:http';
import { describe, expect, it } from 'vitest';
import { pEvent } from 'p-event';
import { isMessage, spawnCluster, until, useSharedCluster, type FixtureMessage } from '../helpers/cluster.js';
import { rawExchange, request, requestHead, sendInParts } from '../helpers/client.js';

// A worker's server treats handed-off sockets like sockets it accepted itself: its headersTimeout and
// requestTimeout apply, and server.close(cb) waits for them and then calls back without an error.

const HEADERS_TIMEOUT = 500;
const REQUEST_TIMEOUT = 1_000;
// Node's own defaults are 60 s and 300 s: a 408 before the client gives up (within the test's own
// deadline) is the worker's settings at work, however busy the machine.
const CLIENT_DEADLINE = 15_000;
const TIMEOUT_ENV = { WORKERS: '1', WORKER_HEADERS_TIMEOUT: String(HEADERS_TIMEOUT), WORKER_REQUEST_TIMEOUT: String(REQUEST_TIMEOUT) };

const statusLine = (text: string): string => text.slice(0, text.indexOf('\r\n'));

describe.each(['ip', 'proxyHeader'] as const)('worker server timeouts in %s mode', (mode) => {
  const cluster = useSharedCluster('app.mjs', { env: { ...TIMEOUT_ENV, MODE: mode } });

  // Only in ip mode does a partial head reach the worker: the primary reads nothing. In header mode
  // the primary's own headTimeout governs (see sticky-bad-input).
  if (mode === 'ip') it('answers 408 to a partial head after the worker\'s headersTimeout', async () => {
    const started = performance.now();
    const result = await rawExchange(cluster().port, 'GET / HTTP/1.1\r\nHost: x\r\n', { timeout: CLIENT_DEADLINE });
    const elapsed = performance.now() - started;
    expect(statusLine(result.text)).toBe('HTTP/1.1 408 Request Timeout');
    expect(elapsed).toBeGreaterThanOrEqual(HEADERS_TIMEOUT - 50);
  });

  it('answers 408 to a request whose body stalls, after the worker\'s requestTimeout', async () => {
    const head = requestHead('POST', '/slow', { 'content-length': 10, 'x-forwarded-for': '198.51.100.9' });
    const started = performance.now();
    const result = await rawExchange(cluster().port, `${head}ab`, { timeout: CLIENT_DEADLINE });
    const elapsed = performance.now() - started;
    expect(statusLine(result.text)).toBe('HTTP/1.1 408 Request Timeout');
    expect(elapsed).toBeGreaterThanOrEqual(REQUEST_TIMEOUT - 50);
    // The worker is fine afterwards.
    const response = await sendInParts(cluster().port, [requestHead('GET', '/after', { 'x-forwarded-for': '198.51.100.9' })]);
    expect(response.status).toBe(200);
  });
});

it('lets a worker close its server: idle handed-off connections close, the callback waits for busy ones and gets no error', async () => {
  // Handed-off connections: the primary hop.
  const cluster = await spawnCluster('app.mjs', { env: { WORKERS: '1', MODE: 'ip', CLOSE_ON_REQUEST: '1', OPTIONS: JSON.stringify({ steering: 'primary' }) } });
  const { port, messages } = cluster;
  const isServerClosed = (m: FixtureMessage): boolean => m.type === 'report' && m.event === 'serverClosed';

  // An idle keep-alive connection, and a request the worker is still busy with.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const idle = await request({ port, agent, path: '/idle' });
  expect(idle.status).toBe(200);
  const [idleSocket] = Object.values(agent.freeSockets).flat();
  expect(idleSocket).toBeDefined();
  const idleClosed = pEvent(idleSocket as NonNullable<typeof idleSocket>, 'close', { timeout: 3_000 });
  const routedBefore = ((await cluster.ask('stats')).stats as { connections: { routed: number } }).connections.routed;
  const busy = request({ port, path: '/busy', headers: { 'x-delay': '1500' } });
  await until(async () => ((await cluster.ask('stats')).stats as { connections: { routed: number } }).connections.routed > routedBefore);

  const reported = pEvent(cluster.child, 'message', {
    filter: (m) => isMessage('report')(m) && isServerClosed(m as FixtureMessage), timeout: 8_000,
  }).then((message) => message as FixtureMessage);
  const closing = await request({ port, path: '/close' });
  expect(closing.status).toBe(200);
  // server.close() closed the idle connection at once (not after keepAliveTimeout)...
  await idleClosed;
  // ...and waits for the busy one.
  expect(messages.filter(isServerClosed)).toEqual([]);
  const busyReply = await busy;
  expect(busyReply.status).toBe(200);
  expect(busyReply.reply.url).toBe('/busy');

  const closed = await reported;
  // The callback came once the busy request was answered (the worker counts what it has not answered
  // yet), not when close() ran: the busy request and /close itself were unanswered then.
  expect(closed).toMatchObject({ event: 'serverClosed', error: null, workerId: closing.reply.workerId, unanswered: 0 });
  agent.destroy();
});
