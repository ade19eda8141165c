import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { useSharedCluster } from '../helpers/cluster.js';
import { proxyV1, replyOf, requestHead, sendInParts } from '../helpers/client.js';

// A request body that trails its head must reach the worker intact: in the modes that read the head
// in the primary, the bytes already read travel with the socket and the rest stays in the kernel.

const SIZES = [1, 1024, 64 * 1024, 1024 * 1024] as const;
const GAP_MS = 20;

interface ModeCase {
  mode: 'ip' | 'proxyHeader' | 'proxyProtocol';
  /** Bytes that precede the request on the wire. */
  prefix: string;
  headers: Record<string, string>;
}

const MODES: ModeCase[] = [
  { mode: 'proxyHeader', prefix: '', headers: { 'x-forwarded-for': '198.51.100.23' } },
  { mode: 'ip', prefix: '', headers: {} },
  { mode: 'proxyProtocol', prefix: proxyV1('198.51.100.23'), headers: {} },
];

describe.each(MODES)('request bodies in $mode mode', ({ mode, prefix, headers }) => {
  const trusted = mode === 'proxyProtocol' ? { OPTIONS: JSON.stringify({ trustedProxies: ['127.0.0.1'] }) } : {};
  const cluster = useSharedCluster('app.mjs', { env: { WORKERS: '2', MODE: mode, ...trusted } });

  async function post(size: number, split: 'body later' | 'one write'): Promise<void> {
    const body = randomBytes(size);
    const head = prefix + requestHead('POST', `/bodies/${size}`, { ...headers, 'content-length': size });
    const parts = split === 'one write' ? [Buffer.concat([Buffer.from(head, 'latin1'), body])] : [head, body];
    const response = await sendInParts(cluster().port, parts, { gapMs: GAP_MS });
    expect(response.status).toBe(200);
    expect(response.reset).toBe(false);
    const reply = replyOf(response);
    expect({ url: reply.url, bytes: reply.bytes, sha256: reply.sha256 })
      .toEqual({ url: `/bodies/${size}`, bytes: size, sha256: createHash('sha256').update(body).digest('hex') });
  }

  it.each(SIZES)(`delivers a %i-byte body sent ${GAP_MS} ms after the head`, async (size) => {
    await post(size, 'body later');
  });

  it('delivers a 1 MiB body written together with the head', async () => {
    await post(1024 * 1024, 'one write');
  });
});
