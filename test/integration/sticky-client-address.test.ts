import http from 'node:http';
import { describe, expect, it } from 'vitest';
import { useSharedCluster } from '../helpers/cluster.js';
import { proxyV1, proxyV2, replyOf, request, requestHead, sendInParts, type WorkerReply } from '../helpers/client.js';

// What the application sees of the client: in PROXY mode the worker's socket reports the PROXY
// header's source; in header mode `clientAddress(req)` reads each request's header by the primary's
// rule, and the socket stays the proxy's.

describe('the client address in PROXY protocol mode', () => {
  const cluster = useSharedCluster('app.mjs', { env: { WORKERS: '2', MODE: 'proxyProtocol', OPTIONS: JSON.stringify({ trustedProxies: ['127.0.0.0/24'] }) } });

  async function viaProxy(header: Buffer | string, localAddress = '127.0.0.1'): Promise<WorkerReply> {
    const response = await sendInParts(cluster().port, [Buffer.concat([Buffer.from(header), Buffer.from(requestHead('GET', '/'))])], { localAddress });
    expect(response.status).toBe(200);
    return replyOf(response);
  }

  it('reports the v1 and v2 source as socket.remoteAddress/remotePort/remoteFamily and clientAddress(req)', async () => {
    const cases: [Buffer | string, string, number, string][] = [
      [proxyV1('198.51.100.7', { sourcePort: 51_234 }), '198.51.100.7', 51_234, 'IPv4'],
      [proxyV2('198.51.100.8', { sourcePort: 443 }), '198.51.100.8', 443, 'IPv4'],
      [proxyV1('2001:db8::7', { sourcePort: 4711 }), '2001:db8::7', 4711, 'IPv6'],
      [proxyV2('2001:db8:0:0::8', { sourcePort: 65_535 }), '2001:db8::8', 65_535, 'IPv6'],
      [proxyV2('::ffff:c633:6409', { sourcePort: 1 }), '198.51.100.9', 1, 'IPv4'],
    ];
    for (const [header, address, port, family] of cases) {
      const reply = await viaProxy(header, '127.0.0.3');
      expect({ remoteAddress: reply.remoteAddress, remotePort: reply.remotePort, remoteFamily: reply.remoteFamily, client: reply.client })
        .toEqual({ remoteAddress: address, remotePort: port, remoteFamily: family, client: address });
    }
  });

  it('keeps the load balancer\'s own address for a header without a client (v2 LOCAL health check)', async () => {
    const reply = await viaProxy(proxyV2('198.51.100.10', { command: 0 }), '127.0.0.4');
    expect(reply.remoteAddress).toBe('127.0.0.4');
    expect(reply.client).toBe('127.0.0.4');
  });
});

describe('the client address in header mode', () => {
  const cluster = useSharedCluster('app.mjs', { env: { WORKERS: '2', MODE: 'proxyHeader', OPTIONS: JSON.stringify({ trustedHops: 1 }) } });

  it('gives clientAddress(req) from each request\'s own header, also on a keep-alive connection that carries several clients', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const clients = ['198.51.100.20', '203.0.113.21', '2001:db8::22'];
      const replies: WorkerReply[] = [];
      for (const client of clients) {
        // trustedHops 1: the rightmost entry is the client (what the client wrote itself is ignored).
        const response = await request({ port: cluster().port, agent, localAddress: '127.0.0.5', headers: { 'x-forwarded-for': `10.9.9.9, ${client}` } });
        expect(response.status).toBe(200);
        replies.push(response.reply);
      }
      expect(new Set(replies.map((reply) => reply.remotePort)).size).toBe(1);
      expect(replies.map((reply) => reply.client)).toEqual(clients);
      // The socket is the proxy's: Express's `trust proxy` keeps working on it.
      expect(replies.map((reply) => reply.remoteAddress)).toEqual(clients.map(() => '127.0.0.5'));
    } finally {
      agent.destroy();
    }
  });

  it('falls back to the socket address when the header has no address', async () => {
    const response = await request({ port: cluster().port, localAddress: '127.0.0.6', headers: { 'x-forwarded-for': 'unknown' } });
    expect(response.reply.client).toBe('127.0.0.6');
    const missing = await request({ port: cluster().port, localAddress: '127.0.0.7' });
    expect(missing.reply.client).toBe('127.0.0.7');
  });
});

describe('the client address in IP mode', () => {
  const cluster = useSharedCluster('app.mjs', { env: { WORKERS: '2' } });

  it('is the socket address, and a forwarded header is not trusted', async () => {
    const response = await request({ port: cluster().port, localAddress: '127.0.0.8', headers: { 'x-forwarded-for': '198.51.100.1' } });
    expect(response.reply.client).toBe('127.0.0.8');
    expect(response.reply.remoteAddress).toBe('127.0.0.8');
  });
});
