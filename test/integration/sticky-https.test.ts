import net from 'node:net';
import tls from 'node:tls';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { useSharedCluster } from '../helpers/cluster.js';

/** One HTTPS GET over a fresh TCP connection, optionally preceded by `prefix` (a PROXY header) in clear. */
async function httpsGet(port: number, path: string, prefix?: string): Promise<{ status: string; body: { workerId: number; url: string } }> {
  const raw = net.connect({ host: '127.0.0.1', port });
  await once(raw, 'connect');
  // Corked, so the PROXY header and the TLS ClientHello tend to share a segment and the primary reads
  // handshake bytes past the header, which must reach the worker.
  raw.cork();
  if (prefix !== undefined) raw.write(prefix);
  const secure = tls.connect({ socket: raw, rejectUnauthorized: false, servername: 'localhost' });
  setImmediate(() => raw.uncork());
  await once(secure, 'secureConnect');
  secure.end(`GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
  const chunks: Buffer[] = [];
  secure.on('data', (chunk: Buffer) => chunks.push(chunk));
  await once(secure, 'end');
  const text = Buffer.concat(chunks).toString();
  return { status: text.slice(0, text.indexOf('\r\n')), body: JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) };
}

// TLS terminates in the workers: the primary reads no TLS byte in IP mode, and in PROXY mode only the
// PROXY header; whatever the primary read after it (the start of the TLS handshake) reaches the worker.
describe.each(['ip', 'proxyProtocol'])('https workers (%s mode)', (mode) => {
  // The PROXY header comes from the test itself, on 127.0.0.1: the one trusted peer.
  const options = mode === 'proxyProtocol' ? { OPTIONS: JSON.stringify({ trustedProxies: ['127.0.0.1'] }) } : {};
  const cluster = useSharedCluster('https-app.mjs', { env: { WORKERS: '2', MODE: mode, ...options } });

  it('completes the TLS handshake and answers, the same client always on the same worker', async () => {
    const prefix = mode === 'proxyProtocol' ? 'PROXY TCP4 203.0.113.9 192.0.2.1 4711 443\r\n' : undefined;
    const first = await httpsGet(cluster().port, '/tls', prefix);
    expect(first.status).toBe('HTTP/1.1 200 OK');
    expect(first.body.url).toBe('/tls');
    for (let i = 0; i < 5; i++) expect((await httpsGet(cluster().port, `/tls/${i}`, prefix)).body.workerId).toBe(first.body.workerId);
  });
});
