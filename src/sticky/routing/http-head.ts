import type { StickyRequest } from '../../options/index.js';

// A strict, small HTTP/1.x request-head reader for the primary. It only decides routing; the worker's
// own parser handles the request. Pure: no sockets here.

const CRLFCRLF = Buffer.from('\r\n\r\n');
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const REQUEST_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) (\S+) HTTP\/(\d\.\d)$/;

/** Offset just past the blank line that ends the head, or -1. `from` lets a caller resume a search. */
export function findHeadEnd(buffer: Buffer, from = 0): number {
  const at = buffer.indexOf(CRLFCRLF, Math.max(0, from - 3));
  return at === -1 ? -1 : at + 4;
}

/** A request starts with a method token; anything else (TLS, binary, whitespace) is refused at once. */
export function looksLikeHttp(firstByte: number): boolean {
  return (firstByte >= 65 && firstByte <= 90) || (firstByte >= 97 && firstByte <= 122);
}

export function isRequestLine(line: string): boolean {
  return REQUEST_LINE.test(line);
}

/** Parses the head (without the final blank line); undefined when malformed. */
export function parseRequestHead(head: string): StickyRequest | undefined {
  const lines = head.split('\r\n');
  const requestLine = REQUEST_LINE.exec(lines[0] ?? '');
  if (requestLine === null) return undefined;
  const headers: Record<string, string> = Object.create(null) as Record<string, string>;
  const rawHeaders: string[] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] as string;
    if (line.length === 0) continue;
    const colon = line.indexOf(':');
    if (colon <= 0) return undefined;
    const name = line.slice(0, colon);
    // Obsolete line folding and spaces before the colon are refused, as Node's own parser does.
    if (!TOKEN.test(name)) return undefined;
    const value = line.slice(colon + 1).trim();
    if (/[\0\r\n]/.test(value)) return undefined;
    rawHeaders.push(name, value);
    const key = name.toLowerCase();
    const previous = headers[key];
    headers[key] = previous === undefined ? value : `${previous}, ${value}`;
  }
  return {
    method: requestLine[1] as string,
    url: requestLine[2] as string,
    httpVersion: requestLine[3] as string,
    headers,
    rawHeaders,
  };
}
