import net from 'node:net';
import { fstatSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { collectListeners, decodeProcAddress, isCompeting, normalizeListenAddress, readPortListeners, type PortListener } from '../../src/sticky/planes/port-listeners.js';
import { onLinux } from '../helpers/platform.js';

// Lines as Linux writes them (x86-64, little-endian words).
const TCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 315 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 28394 1 0000000000000000 100 0 0 10 0
   2: 0200007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 28395 1 0000000000000000 100 0 0 10 0
   3: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000  1000        0 99999 1 0000000000000000 20 4 30 10 -1
   4: 0300007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 77777 1 0000000000000000 100 0 0 10 0
`;
const TCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 500 1 0 100 0 0 10 0
   1: 0000000000000000FFFF00000100007F:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 501 1 0 100 0 0 10 0
   2: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 502 1 0 100 0 0 10 0
`;

describe('the listener table', () => {
  it('keeps the LISTEN sockets on the port and stops at the first connection', () => {
    const out: PortListener[] = [];
    expect(collectListeners(TCP, 8080, out, true)).toBe(false);
    // The LISTEN line after the connection is not read: the kernel lists every listener first.
    expect(out).toEqual([{ address: '127.0.0.1', inode: 28394 }, { address: '127.0.0.2', inode: 28395 }]);
    const v6: PortListener[] = [];
    expect(collectListeners(TCP6, 8080, v6, true)).toBe(true);
    expect(v6).toEqual([{ address: '::', inode: 500 }, { address: '127.0.0.1', inode: 501 }, { address: '::1', inode: 502 }]);
  });

  it('decodes addresses in either byte order and rejects odd fields', () => {
    expect(decodeProcAddress('0100007F', true)).toBe('127.0.0.1');
    expect(decodeProcAddress('7F000001', false)).toBe('127.0.0.1');
    expect(decodeProcAddress('B80D0120000000000000000001000000', true)).toBe('2001:db8::1');
    expect(decodeProcAddress('123', true)).toBeUndefined();
    expect(normalizeListenAddress('::ffff:127.0.0.1')).toBe('127.0.0.1');
    expect(normalizeListenAddress('0:0::1')).toBe('::1');
    expect(normalizeListenAddress('localhost')).toBeUndefined();
  });

  it('says which listeners take connections meant for ours', () => {
    expect(isCompeting('::', '127.0.0.5')).toBe(true);
    expect(isCompeting('::', '0.0.0.0')).toBe(true);
    expect(isCompeting('0.0.0.0', '127.0.0.5')).toBe(true);
    expect(isCompeting('0.0.0.0', '::')).toBe(true);
    expect(isCompeting('0.0.0.0', '::1')).toBe(false);
    expect(isCompeting('127.0.0.1', '127.0.0.1')).toBe(true);
    // Less specific, or another address: the kernel prefers ours or never mixes them.
    expect(isCompeting('127.0.0.1', '0.0.0.0')).toBe(false);
    expect(isCompeting('127.0.0.1', '127.0.0.2')).toBe(false);
  });

  it.skipIf(!onLinux)('finds a real listener by the inode fstat() reports for its descriptor', async () => {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    // The listening socket's fd: Node exposes it only on the internal handle.
    const fd = (server as unknown as { _handle: { fd: number } })._handle.fd;
    expect(readPortListeners(port)).toEqual([{ address: '127.0.0.1', inode: fstatSync(fd).ino }]);
    await new Promise((resolve) => server.close(resolve));
    expect(readPortListeners(port)).toEqual([]);
  });
});
