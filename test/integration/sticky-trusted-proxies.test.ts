import { once } from 'node:events';
import http from 'node:http';
import { describe, expect, it } from 'vitest';
import { spawnCluster, statsOf, useSharedCluster, waitForExit, type SpawnedCluster } from '../helpers/cluster.js';
import type { BalancerStats } from '../../dist/index.js';
import { proxyV1, proxyV2, replyOf, request, requestHead, sendInParts, sendUntilClosed } from '../helpers/client.js';

// `trustedProxies`: a forwarded client address (PROXY header, X-Forwarded-For) counts only when the
// socket's peer is trusted. The test plays both sides from loopback: 127.0.0.1 is the load balancer
// (trusted), 127.0.0.66 an attacker that reaches the port directly and names a client of its choice.
// Before `trustedProxies` existed, every peer was believed: the attacker's PROXY header routed it and
// the worker reported 6.6.6.6; its X-Forwarded-For chose its worker and clientAddress(req). The
// header-mode describe without `trustedProxies` below still shows that (the compatible default).

const LB = '127.0.0.1';
const ATTACKER = '127.0.0.66';
const FORGED = ['6.6.6.6', '6.6.6.7', '6.6.6.8', '6.6.6.9', '7.7.7.7', '8.8.8.8', '9.9.9.9', '198.51.100.1'];
const WORKERS = '4';

const connections = async (cluster: SpawnedCluster): Promise<BalancerStats> => (await statsOf(cluster)).connections;

function scrape(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/metrics' }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (chunk: string) => { text += chunk; }).on('end', () => resolve(text));
    }).on('error', reject);
  });
}

describe('PROXY protocol from an untrusted peer', () => {
  const cluster = useSharedCluster('app.mjs', {
    env: { WORKERS, MODE: 'proxyProtocol', OPTIONS: JSON.stringify({ trustedProxies: [`${LB}/32`], metrics: { port: 0 } }) },
  });
  const get = requestHead('GET', '/');

  it('closes a direct client that sends a v1 or v2 header, without a byte and before any worker sees it; counted in stats and /metrics', async () => {
    const before = await connections(cluster());
    const v1 = await sendUntilClosed(cluster().port, `${proxyV1('6.6.6.6', { sourcePort: 4242 })}${get}`, ATTACKER);
    const v2 = await sendUntilClosed(cluster().port, Buffer.concat([proxyV2('6.6.6.6'), Buffer.from(get)]), ATTACKER);
    // And one that connects and sends nothing: closed at once, it holds no head slot until headTimeout.
    const silent = await sendUntilClosed(cluster().port, '', ATTACKER);
    expect([v1, v2, silent]).toEqual([{ bytes: 0, closed: true }, { bytes: 0, closed: true }, { bytes: 0, closed: true }]);
    const after = await connections(cluster());
    expect({ accepted: after.accepted - before.accepted, untrusted: after.untrustedProxyPeer - before.untrustedProxyPeer, routed: after.routed - before.routed })
      .toEqual({ accepted: 3, untrusted: 3, routed: 0 });
    expect(await scrape(cluster().ready.metricsPort as number)).toMatch(new RegExp(`^sticky_runtime_connections_untrusted_proxy_peer_total ${after.untrustedProxyPeer}$`, 'm'));
    // Not logged per connection.
    expect(cluster().output()).not.toContain(ATTACKER);
  });

  it('serves the trusted peer, and its worker reports the PROXY source as the client', async () => {
    const before = await connections(cluster());
    for (const header of [proxyV1('6.6.6.6', { sourcePort: 4242 }), proxyV2('6.6.6.6', { sourcePort: 4242 })]) {
      const response = await sendInParts(cluster().port, [Buffer.concat([Buffer.from(header), Buffer.from(get)])], { localAddress: LB });
      expect(response.status).toBe(200);
      const reply = replyOf(response);
      expect({ remoteAddress: reply.remoteAddress, remotePort: reply.remotePort, client: reply.client })
        .toEqual({ remoteAddress: '6.6.6.6', remotePort: 4242, client: '6.6.6.6' });
    }
    const after = await connections(cluster());
    expect({ untrusted: after.untrustedProxyPeer - before.untrustedProxyPeer, routed: after.routed - before.routed }).toEqual({ untrusted: 0, routed: 2 });
  });
});

describe('header mode with trustedProxies', () => {
  const cluster = useSharedCluster('app.mjs', {
    env: { WORKERS, MODE: 'proxyHeader', OPTIONS: JSON.stringify({ trustedProxies: [LB, '10.0.0.0/8'] }) },
  });

  it('routes and reports a direct client by its own address, whatever X-Forwarded-For it writes', async () => {
    const own = (await request({ port: cluster().port, localAddress: ATTACKER })).reply;
    expect(own.client).toBe(ATTACKER);
    for (const forged of FORGED) {
      const { reply } = await request({ port: cluster().port, localAddress: ATTACKER, headers: { 'x-forwarded-for': forged } });
      expect({ forged, workerId: reply.workerId, client: reply.client, remoteAddress: reply.remoteAddress })
        .toEqual({ forged, workerId: own.workerId, client: ATTACKER, remoteAddress: ATTACKER });
    }
  });

  it('takes the rightmost untrusted entry from the trusted proxy, not the leftmost one the client wrote', async () => {
    const port = cluster().port;
    const honest = (await request({ port, localAddress: LB, headers: { 'x-forwarded-for': '203.0.113.7' } })).reply;
    expect(honest.client).toBe('203.0.113.7');
    for (const forged of FORGED) {
      // The client wrote `forged`; the proxy appended the address it saw, then a second proxy of ours (10.x) its own.
      for (const value of [`${forged}, 203.0.113.7`, `${forged}, 203.0.113.7, 10.1.2.3`]) {
        const { reply } = await request({ port, localAddress: LB, headers: { 'x-forwarded-for': value } });
        expect({ value, workerId: reply.workerId, client: reply.client }).toEqual({ value, workerId: honest.workerId, client: '203.0.113.7' });
      }
    }
  });

  it('logs no warning at start-up', () => {
    expect(cluster().output()).not.toContain('proxy header trusted from any peer');
  });
});

describe('header mode without trustedProxies (compatible default)', () => {
  const cluster = useSharedCluster('app.mjs', { env: { WORKERS, MODE: 'proxyHeader' } });

  it('warns once at start-up, naming the fix', () => {
    const lines = cluster().output().split('\n').filter((line) => line.includes('proxy header trusted from any peer'));
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] as string)).toMatchObject({ level: 40, component: 'sticky', hint: expect.stringContaining('trustedProxies') as string });
  });

  it('still believes the leftmost entry from any peer: the attack the list prevents', async () => {
    const own = (await request({ port: cluster().port, localAddress: ATTACKER })).reply.workerId;
    const seen = new Set<number>();
    for (const forged of FORGED) {
      const { reply } = await request({ port: cluster().port, localAddress: ATTACKER, headers: { 'x-forwarded-for': forged } });
      expect(reply.client).toBe(forged);
      seen.add(reply.workerId);
    }
    // The attacker reached other workers than its own address's by naming other clients.
    expect([...seen].some((workerId) => workerId !== own)).toBe(true);
  });
});

describe('start-up checks', () => {
  async function failedStart(options: Record<string, unknown>, mode: string): Promise<string> {
    const cluster = await spawnCluster('app.mjs', { env: { WORKERS: '1', MODE: mode, OPTIONS: JSON.stringify(options) }, waitReady: false });
    // 'close': the output is complete too.
    const closed = once(cluster.child, 'close');
    expect((await waitForExit(cluster.child)).code).not.toBe(0);
    await closed;
    return cluster.output();
  }

  it('refuses proxyProtocol without trustedProxies, with a hint naming it', async () => {
    const output = await failedStart({}, 'proxyProtocol');
    expect(output).toContain('STICKY_ERR_INVALID_OPTION');
    expect(output).toContain('`proxyProtocol` needs `trustedProxies`');
    expect(output).toContain("trustedProxies: ['10.0.0.0/8', '127.0.0.1', '::1']");
  });

  it('refuses trustedHops together with trustedProxies', async () => {
    const output = await failedStart({ trustedHops: 1, trustedProxies: [LB] }, 'proxyHeader');
    expect(output).toContain('STICKY_ERR_INVALID_OPTION');
    expect(output).toContain('Options `trustedHops` and `trustedProxies` cannot be combined.');
  });
});
