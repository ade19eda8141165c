import { isIPv4, isIPv6 } from 'node:net';
import { canonicalIPv6, normalizeAddress } from './address.js';

// PROXY protocol v1 (text) and v2 (binary) headers, as sent by HAProxy, nginx `stream` and AWS NLB.
// Spec: https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt. Pure: no sockets here.

export type ProxyHeaderResult =
  | { readonly kind: 'incomplete' }
  | { readonly kind: 'invalid' }
  /** `address` (and `port`) are undefined for LOCAL/UNKNOWN (health checks): route by the socket address. */
  | { readonly kind: 'ok'; readonly address: string | undefined; readonly port?: number; readonly length: number };

const INCOMPLETE: ProxyHeaderResult = Object.freeze({ kind: 'incomplete' });
const INVALID: ProxyHeaderResult = Object.freeze({ kind: 'invalid' });

const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_PREFIX = Buffer.from('PROXY ');
const V1_MAX_LENGTH = 107;
const PORT = /^(0|[1-9]\d{0,4})$/;

function isPrefixOf(buffer: Buffer, signature: Buffer): boolean {
  const n = Math.min(buffer.length, signature.length);
  return buffer.compare(signature, 0, n, 0, n) === 0;
}

function validPort(text: string): boolean {
  return PORT.test(text) && Number(text) <= 65_535;
}

function parseV1(buffer: Buffer): ProxyHeaderResult {
  const end = buffer.indexOf('\r\n');
  if (end === -1) return buffer.length >= V1_MAX_LENGTH ? INVALID : INCOMPLETE;
  if (end + 2 > V1_MAX_LENGTH) return INVALID;
  const parts = buffer.toString('latin1', 0, end).split(' ');
  const length = end + 2;
  if (parts[1] === 'UNKNOWN') return { kind: 'ok', address: undefined, length };
  if (parts.length !== 6) return INVALID;
  type Fields = [string, string, string, string, string, string];
  const [, family, source, destination, sourcePort, destinationPort] = parts as Fields;
  const isFamilyOk = family === 'TCP4'
    ? isIPv4(source) && isIPv4(destination)
    : family === 'TCP6' && isIPv6(source) && isIPv6(destination);
  if (!isFamilyOk || !validPort(sourcePort) || !validPort(destinationPort)) return INVALID;
  const address = family === 'TCP4' ? source : canonicalIPv6(source);
  return address === undefined ? INVALID : { kind: 'ok', address, port: Number(sourcePort), length };
}

function formatIPv6(buffer: Buffer, offset: number): string {
  // IPv4-mapped (::ffff:a.b.c.d): key it as the plain IPv4 address, like v1 TCP6 and IP mode do.
  const isMapped = buffer.readUInt32BE(offset) === 0 && buffer.readUInt32BE(offset + 4) === 0
    && buffer.readUInt32BE(offset + 8) === 0xffff;
  if (isMapped) {
    return `${buffer[offset + 12]}.${buffer[offset + 13]}.${buffer[offset + 14]}.${buffer[offset + 15]}`;
  }
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(buffer.readUInt16BE(offset + i).toString(16));
  // Compress the longest run of zero groups, as inet_ntop does, so keys match socket addresses.
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== '0') { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLength && j - i > 1) { bestStart = i; bestLength = j - i; }
    i = j;
  }
  if (bestStart === -1) return normalizeAddress(groups.join(':'));
  const head = groups.slice(0, bestStart).join(':');
  const tail = groups.slice(bestStart + bestLength).join(':');
  return normalizeAddress(`${head}::${tail}`);
}

function parseV2(buffer: Buffer, maxLength: number): ProxyHeaderResult {
  if (buffer.length < 16) return INCOMPLETE;
  const versionCommand = buffer[12] as number;
  if (versionCommand >> 4 !== 2) return INVALID;
  const command = versionCommand & 0x0f;
  if (command > 1) return INVALID;
  const family = (buffer[13] as number) >> 4;
  const addressLength = buffer.readUInt16BE(14);
  const length = 16 + addressLength;
  if (length > maxLength) return INVALID;
  if (buffer.length < length) return INCOMPLETE;
  // LOCAL (health checks from the proxy itself) and UNSPEC/UNIX carry no client address.
  if (command === 0 || family === 0 || family === 3) return { kind: 'ok', address: undefined, length };
  if (family === 1) {
    if (addressLength < 12) return INVALID;
    const address = `${buffer[16]}.${buffer[17]}.${buffer[18]}.${buffer[19]}`;
    return { kind: 'ok', address, port: buffer.readUInt16BE(24), length };
  }
  if (family === 2) {
    if (addressLength < 36) return INVALID;
    return { kind: 'ok', address: formatIPv6(buffer, 16), port: buffer.readUInt16BE(48), length };
  }
  return INVALID;
}

/** Parses a PROXY v1 or v2 header at the start of `buffer`. */
export function parseProxyHeader(buffer: Buffer, maxLength: number): ProxyHeaderResult {
  if (buffer.length === 0) return INCOMPLETE;
  if (buffer[0] === 0x0d) return isPrefixOf(buffer, V2_SIGNATURE) ? parseV2(buffer, maxLength) : INVALID;
  if (!isPrefixOf(buffer, V1_PREFIX)) return INVALID;
  return buffer.length < V1_PREFIX.length ? INCOMPLETE : parseV1(buffer);
}
