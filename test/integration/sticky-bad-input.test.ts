import { describe, expect, it } from 'vitest';
import { until, useSharedCluster, type SpawnedCluster } from '../helpers/cluster.js';
import { mapLimit, proxyV1, proxyV2, rawExchange, replyOf, request, requestHead, sendInParts } from '../helpers/client.js';

// The primary outlives any client: in the modes that read bytes, a bad head is answered (or, for a
// bad PROXY header, closed) and never reaches a worker, and everyone else keeps being served.

const MAX_HEAD_BYTES = 1024;
const HEAD_TIMEOUT = 1_000;
const MAX_PENDING_HEADS = 5;
const OPTIONS = JSON.stringify({ maxHeadBytes: MAX_HEAD_BYTES, headTimeout: HEAD_TIMEOUT, maxPendingHeads: MAX_PENDING_HEADS });

interface ConnectionCounts {
  accepted: number;
  routed: number;
  badRequest: number;
  headTimeout: number;
  headTooLarge: number;
  overloaded: number;
  invalidProxyHeader: number;
  pendingHeads: number;
}

async function countsOf(cluster: SpawnedCluster): Promise<ConnectionCounts> {
  return ((await cluster.ask('stats')).stats as { connections: ConnectionCounts }).connections;
}

/** Counter changes between two snapshots, zeros left out. */
function delta(before: ConnectionCounts, after: ConnectionCounts): Partial<ConnectionCounts> {
  const changed: Partial<ConnectionCounts> = {};
  for (const key of Object.keys(before) as (keyof ConnectionCounts)[]) {
    if (key !== 'pendingHeads' && after[key] !== before[key]) changed[key] = after[key] - before[key];
  }
  return changed;
}

const statusLine = (text: string): string => text.slice(0, text.indexOf('\r\n'));

describe('bad HTTP input at the primary (proxyHeader mode)', () => {
  const cluster = useSharedCluster('app.mjs', { env: { WORKERS: '2', MODE: 'proxyHeader', OPTIONS } });

  const current = cluster;

  async function expectServing(): Promise<void> {
    const response = await request({ port: current().port, headers: { 'x-forwarded-for': '198.51.100.1' } });
    expect(response.status).toBe(200);
    expect(current().child.exitCode).toBeNull();
  }

  it('answers 431 and closes when the head outgrows maxHeadBytes, however the bytes arrive', async () => {
    const before = await countsOf(current());
    const big = `X-Big: ${'a'.repeat(2 * MAX_HEAD_BYTES)}`;
    const unfinished = await rawExchange(current().port, `GET / HTTP/1.1\r\nHost: x\r\n${big}`);
    expect(statusLine(unfinished.text)).toBe('HTTP/1.1 431 Request Header Fields Too Large');
    expect(unfinished.text).toMatch(/\r\nConnection: close\r\n/i);
    // A complete head that is too large is refused too, in one write or in two.
    const complete = requestHead('GET', '/', { 'x-big': 'a'.repeat(2 * MAX_HEAD_BYTES) });
    const oneWrite = await sendInParts(current().port, [complete]);
    expect(oneWrite.status).toBe(431);
    const twoWrites = await sendInParts(current().port, [complete.slice(0, 600), complete.slice(600)], { gapMs: 20 });
    expect(twoWrites.status).toBe(431);
    expect(delta(before, await countsOf(current()))).toEqual({ accepted: 3, headTooLarge: 3 });
    await expectServing();
  });

  it('answers 408 and closes when no complete head arrives by headTimeout', async () => {
    const before = await countsOf(current());
    const started = performance.now();
    const [partial, silent] = await Promise.all([
      rawExchange(current().port, 'GET / HTTP/1.1\r\nHost: x\r\n'),
      rawExchange(current().port, ''),
    ]);
    const elapsed = performance.now() - started;
    expect(statusLine(partial.text)).toBe('HTTP/1.1 408 Request Timeout');
    expect(statusLine(silent.text)).toBe('HTTP/1.1 408 Request Timeout');
    // Not before the deadline (a busy machine only makes it later); that it was the deadline and not
    // the client giving up is the 408 and the headTimeout counter.
    expect(elapsed).toBeGreaterThanOrEqual(HEAD_TIMEOUT - 50);
    expect(delta(before, await countsOf(current()))).toEqual({ accepted: 2, headTimeout: 2 });
    await expectServing();
  });

  it('answers 503 and closes when maxPendingHeads sockets already wait for their head', async () => {
    const before = await countsOf(current());
    let answeredWaiting = 0;
    const waiting = Array.from({ length: MAX_PENDING_HEADS }, () =>
      rawExchange(current().port, 'GET / HTTP/1.1\r\n').finally(() => { answeredWaiting++; }));
    await until(async () => (await countsOf(current())).pendingHeads === MAX_PENDING_HEADS, { timeout: 5_000 });
    const refused = await rawExchange(current().port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(statusLine(refused.text)).toBe('HTTP/1.1 503 Service Unavailable');
    // Refused at once, not at a deadline: before any of the sockets that came first got its 408.
    expect(answeredWaiting).toBe(0);
    // The waiting ones are not disturbed by it: they get their own answer at their deadline.
    for (const result of await Promise.all(waiting)) expect(statusLine(result.text)).toBe('HTTP/1.1 408 Request Timeout');
    expect(delta(before, await countsOf(current()))).toEqual({ accepted: MAX_PENDING_HEADS + 1, overloaded: 1, headTimeout: MAX_PENDING_HEADS });
    await expectServing();
  });

  it('answers 400 and closes on malformed heads and non-HTTP bytes, before the deadline', async () => {
    const payloads: (string | Buffer)[] = [
      'GET / HTTP/1.1\r\nBad Header\r\n\r\n',
      'GET / HTTP/1.1\r\nX Y: z\r\n\r\n',
      'GET / HTTP/1.1\r\nHost: x\r\n folded: value\r\n\r\n',
      'GET / HTTP/1.1\r\n: no-name\r\n\r\n',
      'GET / HTTP/1.1 trailing\r\n\r\n',
      'GET /\r\n\r\n',
      'HELLO\r\n',
      '\r\n\r\n',
      Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]), // a TLS ClientHello
      Buffer.from([0x00, 0xff, 0x13, 0x37, 0x0d, 0x0a, 0x0d, 0x0a]),
      'SSH-2.0-OpenSSH_9.6\r\n',
    ];
    const before = await countsOf(current());
    // Fewer at once than maxPendingHeads, or some would be refused with 503 instead.
    const results = await mapLimit(payloads, MAX_PENDING_HEADS - 1, (payload) => rawExchange(current().port, payload));
    for (const [index, result] of results.entries()) {
      expect({ index, status: statusLine(result.text) }).toEqual({ index, status: 'HTTP/1.1 400 Bad Request' });
    }
    // Answered on their bytes, none at the deadline: 400s, and no headTimeout in the counters.
    expect(delta(before, await countsOf(current()))).toEqual({ accepted: payloads.length, badRequest: payloads.length });
    await expectServing();
  });

  it('keeps serving clients that arrive while bad ones are being refused', async () => {
    // Rounds of three bad clients and one good one: fewer than maxPendingHeads at any time.
    for (let round = 0; round < 10; round++) {
      const bad = [
        rawExchange(current().port, 'NOT HTTP AT ALL\r\n'),
        rawExchange(current().port, `GET / HTTP/1.1\r\nX: ${'b'.repeat(2 * MAX_HEAD_BYTES)}`),
        rawExchange(current().port, 'GET / HTTP/1.1\r\nBroken\r\n\r\n'),
      ];
      const good = await request({ port: current().port, headers: { 'x-forwarded-for': `198.51.100.${round + 1}` } });
      expect(good.status).toBe(200);
      expect((await Promise.all(bad)).map((result) => statusLine(result.text))).toEqual([
        'HTTP/1.1 400 Bad Request', 'HTTP/1.1 431 Request Header Fields Too Large', 'HTTP/1.1 400 Bad Request',
      ]);
    }
  });
});

describe('bad PROXY headers at the primary (proxyProtocol mode)', () => {
  const cluster = useSharedCluster('app.mjs', {
    env: { WORKERS: '2', MODE: 'proxyProtocol', OPTIONS: JSON.stringify({ ...JSON.parse(OPTIONS) as object, trustedProxies: ['127.0.0.1'] }) },
  });

  const current = cluster;
  const get = requestHead('GET', '/');

  async function expectServing(): Promise<void> {
    const response = await sendInParts(current().port, [proxyV1('198.51.100.1') + get]);
    expect(response.status).toBe(200);
    expect(replyOf(response).url).toBe('/');
    expect(current().child.exitCode).toBeNull();
  }

  function v2With(patch: (header: Buffer) => void): Buffer {
    const header = proxyV2('198.51.100.1');
    patch(header);
    return header;
  }

  it('closes the connection without a byte of response when the PROXY header is invalid', async () => {
    const payloads: (string | Buffer)[] = [
      get, // no PROXY header at all
      `PROXY TCP4 bogus 127.0.0.1 1 2\r\n${get}`,
      `PROXY TCP4 198.51.100.1 127.0.0.1 99999 80\r\n${get}`,
      `PROXY TCP6 198.51.100.1 ::1 1 2\r\n${get}`,
      `PROXY TCP4 198.51.100.1 127.0.0.1 1\r\n${get}`,
      `PROXY ${'x'.repeat(200)}`,
      v2With((header) => { header[12] = 0x11; }), // version 1 in a v2 signature
      v2With((header) => { header[12] = 0x2f; }), // unknown command
      v2With((header) => { header[13] = 0x41; }), // unknown family
      v2With((header) => { header.writeUInt16BE(4, 14); }), // AF_INET with too short an address block
      v2With((header) => { header.writeUInt16BE(MAX_HEAD_BYTES, 14); }), // longer than maxHeadBytes
      Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0b]), // broken signature
      Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00]),
    ];
    const before = await countsOf(current());
    const results = await mapLimit(payloads, MAX_PENDING_HEADS - 1, (payload) => rawExchange(current().port, payload));
    for (const [index, result] of results.entries()) expect({ index, text: result.text }).toEqual({ index, text: '' });
    const after = await countsOf(current());
    expect(delta(before, after)).toEqual({ accepted: payloads.length, invalidProxyHeader: payloads.length });
    await expectServing();
  });

  it('closes the connection without a byte of response when no complete PROXY header arrives by headTimeout', async () => {
    const before = await countsOf(current());
    const started = performance.now();
    const results = await Promise.all([rawExchange(current().port, ''), rawExchange(current().port, 'PROXY TCP4 198.51.')]);
    expect(performance.now() - started).toBeGreaterThanOrEqual(HEAD_TIMEOUT - 50);
    for (const result of results) expect(result.text).toBe('');
    expect(delta(before, await countsOf(current()))).toEqual({ accepted: 2, headTimeout: 2 });
    await expectServing();
  });
});
