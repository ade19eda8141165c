import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { useSharedCluster } from '../helpers/cluster.js';
import { proxiedAgent, proxyV1, proxyV2, replyOf, request, requestHead, sendInParts, sourceAddress, type WorkerReply } from '../helpers/client.js';
import { onLinux } from '../helpers/platform.js';

// PROXY protocol v1 and v2: the primary routes by the source address in the header, consumes the
// header, and the worker reads the connection from the first byte after it.

const WORKERS = 4;

describe('PROXY protocol routing', () => {
  // The test is the load balancer, from 127.0.0.1 and (health checks) other loopback addresses.
  const cluster = useSharedCluster('app.mjs', { env: { WORKERS: String(WORKERS), MODE: 'proxyProtocol', OPTIONS: JSON.stringify({ trustedProxies: ['127.0.0.0/8'] }) } });

  /** One request on a fresh connection that starts with `header`; the reply must be a 200. */
  async function viaProxy(header: Buffer | string, { localAddress = '127.0.0.1', path = '/' } = {}): Promise<WorkerReply> {
    const response = await sendInParts(cluster().port, [Buffer.concat([Buffer.from(header), Buffer.from(requestHead('GET', path))])], { localAddress });
    expect(response.status).toBe(200);
    return replyOf(response);
  }

  it('routes by the v1 source address: the same source always reaches one worker, different sources reach different workers', async () => {
    const sources = Array.from({ length: 20 }, (_, i) => `198.51.100.${i + 10}`);
    const workerOf = new Map<string, number>();
    for (const source of sources) {
      const replies = await Promise.all(Array.from({ length: 5 }, () => viaProxy(proxyV1(source), { path: `/v1/${source}` })));
      const workers = new Set(replies.map((reply) => reply.workerId));
      expect({ source, workers: workers.size }).toEqual({ source, workers: 1 });
      workerOf.set(source, replies[0]?.workerId as number);
      // The worker parsed the request that followed the header, and its socket reports the client.
      for (const reply of replies) {
        expect(reply.url).toBe(`/v1/${source}`);
        expect(reply.remoteAddress).toBe(source);
      }
    }
    // Every connection came from 127.0.0.1, yet all workers got clients: the header decided.
    expect(new Set(workerOf.values()).size).toBe(WORKERS);
  });

  it('routes v2 headers (IPv4, IPv6, with TLVs) exactly like v1 headers naming the same source', async () => {
    const noop = Buffer.from([0x04, 0x00, 0x03, 0xaa, 0xbb, 0xcc]); // PP2_TYPE_NOOP with 3 bytes of padding
    for (const source of ['198.51.100.10', '198.51.100.11', '198.51.100.12', '203.0.113.77']) {
      const expected = (await viaProxy(proxyV1(source))).workerId;
      expect((await viaProxy(proxyV2(source))).workerId).toBe(expected);
      expect((await viaProxy(proxyV2(source, { tlvs: noop }))).workerId).toBe(expected);
    }
    for (const source of ['2001:db8::1', '2001:db8::2', '2001:db8:1:2:3:4:5:6', '2001:db8::a:0:0:1']) {
      const expected = (await viaProxy(proxyV1(source))).workerId;
      expect({ source, workerId: (await viaProxy(proxyV2(source))).workerId }).toEqual({ source, workerId: expected });
    }
    // An IPv4 client written as IPv4-mapped IPv6 is the same client.
    expect((await viaProxy(proxyV2('::ffff:c633:640a'))).workerId).toBe((await viaProxy(proxyV1('198.51.100.10'))).workerId);
  });

  it('hands the worker exactly the bytes after the header, also when header and request arrive apart', async () => {
    const { port } = cluster();
    const body = randomBytes(100_000);
    const sha256 = createHash('sha256').update(body).digest('hex');
    const head = requestHead('POST', '/upload', { 'content-length': body.length });
    const shapes: [string, (Buffer | string)[]][] = [
      ['v1, all in one write', [Buffer.concat([Buffer.from(proxyV1('198.51.100.50')), Buffer.from(head), body])]],
      ['v1 header split, then head, then body', [proxyV1('198.51.100.50').slice(0, 9), proxyV1('198.51.100.50').slice(9), head, body]],
      ['v2 header split inside the addresses', [proxyV2('198.51.100.50').subarray(0, 20), proxyV2('198.51.100.50').subarray(20), Buffer.concat([Buffer.from(head), body])]],
    ];
    const workers = new Set<number>();
    for (const [shape, parts] of shapes) {
      const response = await sendInParts(port, parts, { gapMs: 20 });
      expect({ shape, status: response.status }).toEqual({ shape, status: 200 });
      const reply = replyOf(response);
      expect({ shape, method: reply.method, url: reply.url, bytes: reply.bytes, sha256: reply.sha256 })
        .toEqual({ shape, method: 'POST', url: '/upload', bytes: body.length, sha256 });
      workers.add(reply.workerId);
    }
    expect(workers.size).toBe(1);
  });

  it.skipIf(!onLinux)('routes LOCAL and UNKNOWN headers (health checks) by the socket address', async () => {
    for (let i = 0; i < 6; i++) {
      const local = sourceAddress(150 + i);
      const bySource = (await viaProxy(proxyV1(local))).workerId;
      expect((await viaProxy(proxyV2('127.0.0.1', { command: 0 }), { localAddress: local })).workerId).toBe(bySource);
      expect((await viaProxy('PROXY UNKNOWN\r\n', { localAddress: local })).workerId).toBe(bySource);
    }
  });

  it('decides per connection: a keep-alive connection stays with its header\'s worker, each new connection follows its own header', async () => {
    const { port } = cluster();
    const first = '198.51.100.10';
    const firstWorker = (await viaProxy(proxyV1(first))).workerId;
    let other: string | undefined;
    let otherWorker = firstWorker;
    for (let i = 11; i < 40 && otherWorker === firstWorker; i++) {
      other = `198.51.100.${i}`;
      otherWorker = (await viaProxy(proxyV1(other))).workerId;
    }
    expect(otherWorker).not.toBe(firstWorker);

    for (const [source, expected] of [[first, firstWorker], [other as string, otherWorker], [first, firstWorker]] as const) {
      const agent = proxiedAgent(port, proxyV2(source));
      try {
        const replies: WorkerReply[] = [];
        for (let i = 0; i < 4; i++) {
          const response = await request({ port, agent, path: `/keep-alive/${i}` });
          expect(response.status).toBe(200);
          replies.push(response.reply);
        }
        expect(new Set(replies.map((reply) => reply.remotePort)).size).toBe(1);
        expect(replies.map((reply) => reply.workerId)).toEqual([expected, expected, expected, expected]);
        expect(replies.map((reply) => reply.url)).toEqual(['/keep-alive/0', '/keep-alive/1', '/keep-alive/2', '/keep-alive/3']);
      } finally {
        agent.destroy();
      }
    }
  });
});
