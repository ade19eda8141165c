import { closeSync, openSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { SocketAddress } from 'node:net';
import { endianness } from 'node:os';

// Which TCP sockets listen on a port, from /proc/net/tcp and /proc/net/tcp6 (Linux, the caller's
// network namespace): how the kernel plane counts its reuseport group's members, since neither the
// group nor its program can tell who is in it. The kernel lists every listening socket before the
// first connection, so a read stops at the first line in another state: a check costs the number
// of listeners, not of connections — except /proc/net/tcp6 on a host with no IPv6 connection, where
// the kernel walks every IPv4 one to find none (~13 ms for 44,000 sockets): the periodic check reads
// asynchronously, on libuv's thread pool, so the primary's event loop never waits for it.

export interface PortListener {
  /** The bound address: IPv4 dotted (also for an IPv4-mapped IPv6 one), IPv6 in canonical form. */
  address: string;
  /** The socket's inode, as /proc/<pid>/fd shows it (`socket:[inode]`) and fstat() reports it. */
  inode: number;
}

const LISTEN = '0A';
const IS_LITTLE_ENDIAN = endianness() === 'LE';

/** Hex of one 32-bit word as the kernel prints it (`%08X` of the raw word) → its 4 bytes in network order. */
function wordBytes(hex: string, isLittleEndian: boolean): number[] {
  const value = Number.parseInt(hex, 16);
  const bytes = [value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff];
  return isLittleEndian ? bytes.reverse() : bytes;
}

/** A /proc/net/tcp{,6} address field (8 or 32 hex digits) → normalised address text. */
export function decodeProcAddress(hex: string, isLittleEndian = IS_LITTLE_ENDIAN): string | undefined {
  if (hex.length === 8) return wordBytes(hex, isLittleEndian).join('.');
  if (hex.length !== 32) return undefined;
  const bytes: number[] = [];
  for (let word = 0; word < 4; word++) bytes.push(...wordBytes(hex.slice(word * 8, word * 8 + 8), isLittleEndian));
  const isMapped = bytes.slice(0, 10).every((byte) => byte === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  if (isMapped) return bytes.slice(12).join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((((bytes[i] as number) << 8) | (bytes[i + 1] as number)).toString(16));
  return normalizeListenAddress(groups.join(':'));
}

/**
 * A numeric address as the listener table writes it (IPv4-mapped → IPv4, IPv6 canonical); undefined
 * when not numeric.
 */
export function normalizeListenAddress(address: string): string | undefined {
  const family = address.includes(':') ? 'ipv6' : 'ipv4';
  try {
    const text = new SocketAddress({ address, family }).address;
    return text.toLowerCase().startsWith('::ffff:') && text.includes('.') ? text.slice(7) : text;
  } catch {
    return undefined;
  }
}

/**
 * Adds the LISTEN sockets on `port` in `text` (whole lines of /proc/net/tcp or tcp6, the header
 * line allowed) to `out`. Returns false once a line in another state shows the listeners are over.
 */
export function collectListeners(
  text: string, port: number, out: PortListener[], isLittleEndian = IS_LITTLE_ENDIAN,
): boolean {
  const portHex = port.toString(16).toUpperCase().padStart(4, '0');
  for (const line of text.split('\n')) {
    // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode …
    const fields = line.trim().split(/\s+/);
    if (fields.length < 10 || !(fields[0] as string).endsWith(':')) continue;
    if (fields[3] !== LISTEN) return false;
    const [hex, localPort] = (fields[1] as string).split(':');
    if (localPort !== portHex || hex === undefined) continue;
    const address = decodeProcAddress(hex, isLittleEndian);
    const inode = Number(fields[9]);
    if (address !== undefined && Number.isSafeInteger(inode) && inode > 0) out.push({ address, inode });
  }
  return true;
}

const isWildcard = (address: string): boolean => address === '0.0.0.0' || address === '::';

/**
 * Whether a listener on `other` takes connections meant for a socket bound to `ours` (same port):
 * the same address (a reuseport group member), a more specific one under our wildcard (the kernel
 * prefers it), or any wildcard under our `::` (an IPv4 one beats a dual-stack socket for IPv4).
 */
export function isCompeting(ours: string, other: string): boolean {
  if (ours === other || ours === '::') return true;
  if (ours === '0.0.0.0') return !other.includes(':') || isWildcard(other);
  return false;
}

/** The LISTEN sockets on `port` in this network namespace. */
export function readPortListeners(port: number): PortListener[] {
  const out: PortListener[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) readListenersFrom(file, port, out);
  return out;
}

/** As `readPortListeners`, reading on the thread pool. */
export async function readPortListenersAsync(port: number): Promise<PortListener[]> {
  const out: PortListener[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) await readListenersFromAsync(file, port, out);
  return out;
}

const CHUNK = Buffer.allocUnsafe(64 * 1024);
const isMissing = (error: unknown): boolean => (error as NodeJS.ErrnoException).code === 'ENOENT';

async function readListenersFromAsync(file: string, port: number, out: PortListener[]): Promise<void> {
  // No IPv6 in this kernel: no tcp6 file, and no IPv6 listener either.
  const handle = await open(file, 'r')
    .catch((error: unknown) => (isMissing(error) ? undefined : Promise.reject(error)));
  if (handle === undefined) return;
  const chunk = Buffer.allocUnsafe(64 * 1024);
  try {
    const lines = lineFeeder(port, out);
    for (;;) {
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) break;
      if (!lines.feed(chunk.toString('latin1', 0, bytesRead))) return;
    }
    lines.end();
  } finally {
    await handle.close();
  }
}

/** Hands the table's text to collectListeners in whole lines, chunk by chunk; `feed` is false once it stopped. */
function lineFeeder(port: number, out: PortListener[]): { feed(chunk: string): boolean; end(): void } {
  let rest = '';
  return {
    feed(chunk: string): boolean {
      const text = rest + chunk;
      const end = text.lastIndexOf('\n');
      rest = text.slice(end + 1);
      return collectListeners(text.slice(0, end + 1), port, out);
    },
    end(): void {
      collectListeners(rest, port, out);
    },
  };
}

function readListenersFrom(file: string, port: number, out: PortListener[]): void {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (error) {
    if (isMissing(error)) return;
    throw error;
  }
  try {
    const lines = lineFeeder(port, out);
    for (;;) {
      const length = readSync(fd, CHUNK, 0, CHUNK.length, null);
      if (length === 0) break;
      if (!lines.feed(CHUNK.toString('latin1', 0, length))) return;
    }
    lines.end();
  } finally {
    closeSync(fd);
  }
}
