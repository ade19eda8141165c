import { describe, expect, it } from 'vitest';
import { findHeadEnd, isRequestLine, looksLikeHttp, parseRequestHead } from '../../src/sticky/routing/http-head.js';

describe('findHeadEnd', () => {
  const head = 'GET / HTTP/1.1\r\nHost: a\r\n\r\n';

  it('returns the offset just past the blank line', () => {
    expect(findHeadEnd(Buffer.from(head))).toBe(head.length);
    expect(findHeadEnd(Buffer.from(`${head}body bytes`))).toBe(head.length);
    expect(findHeadEnd(Buffer.from('\r\n\r\n'))).toBe(4);
  });

  it('returns -1 while the head is incomplete', () => {
    expect(findHeadEnd(Buffer.alloc(0))).toBe(-1);
    expect(findHeadEnd(Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n'))).toBe(-1);
    expect(findHeadEnd(Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n\r'))).toBe(-1);
    expect(findHeadEnd(Buffer.from('GET / HTTP/1.1\n\n'))).toBe(-1);
  });

  it('finds the terminator at every position of a growing buffer', () => {
    for (let prefix = 0; prefix < 20; prefix++) {
      const text = `${'x'.repeat(prefix)}\r\n\r\nrest`;
      expect(findHeadEnd(Buffer.from(text))).toBe(prefix + 4);
    }
  });

  it('resumes from `from` and still finds a terminator split across chunks', () => {
    const full = Buffer.from(head);
    // Every earlier length the caller may have searched: the terminator may begin before it.
    for (let searched = 0; searched < full.length; searched++) {
      expect(findHeadEnd(full, searched)).toBe(head.length);
    }
  });

  it('does not look before the resumed region', () => {
    const twice = Buffer.from('a\r\n\r\nb\r\n\r\n');
    expect(findHeadEnd(twice)).toBe(5);
    expect(findHeadEnd(twice, 8)).toBe(10);
    expect(findHeadEnd(twice, 11)).toBe(-1);
  });
});

describe('looksLikeHttp', () => {
  it('accepts ASCII letters', () => {
    for (const c of 'AGPZaz') expect(looksLikeHttp(c.charCodeAt(0))).toBe(true);
  });

  it('refuses TLS, binary, digits, whitespace and punctuation', () => {
    for (const b of [0x16, 0x00, 0x0d, 0x20, 0x30, 0x39, 0x40, 0x5b, 0x60, 0x7b, 0x80, 0xff]) {
      expect(looksLikeHttp(b)).toBe(false);
    }
  });
});

describe('isRequestLine', () => {
  it.each(['GET / HTTP/1.1', 'POST /a?b=c HTTP/1.0', 'OPTIONS * HTTP/1.1', 'CONNECT example.com:443 HTTP/1.1', 'M-SEARCH * HTTP/1.1'])(
    'accepts %j', (line) => expect(isRequestLine(line)).toBe(true),
  );

  it.each(['', 'GET /', 'GET / HTTP/1', 'GET / HTTP/2', 'GET / HTTP/1.1 ', ' GET / HTTP/1.1', 'GET  / HTTP/1.1', 'GET / http/1.1', 'GET /a b HTTP/1.1', 'G(T / HTTP/1.1'])(
    'refuses %j', (line) => expect(isRequestLine(line)).toBe(false),
  );
});

describe('parseRequestHead', () => {
  it('parses the request line', () => {
    const req = parseRequestHead('POST /upload?x=1 HTTP/1.0\r\nHost: example.com');
    expect(req?.method).toBe('POST');
    expect(req?.url).toBe('/upload?x=1');
    expect(req?.httpVersion).toBe('1.0');
  });

  it('parses a head with no headers', () => {
    expect(parseRequestHead('GET / HTTP/1.1')).toEqual({
      method: 'GET', url: '/', httpVersion: '1.1', headers: {}, rawHeaders: [],
    });
  });

  it('lower-cases header names, trims values and keeps rawHeaders as received', () => {
    const req = parseRequestHead('GET / HTTP/1.1\r\nHost:  example.com  \r\nX-Forwarded-For: 192.0.2.1\r\nCookie:a=1');
    expect(req).toBeDefined();
    expect({ ...req!.headers }).toEqual({ host: 'example.com', 'x-forwarded-for': '192.0.2.1', cookie: 'a=1' });
    expect(req!.rawHeaders).toEqual(['Host', 'example.com', 'X-Forwarded-For', '192.0.2.1', 'Cookie', 'a=1']);
  });

  it("joins repeated headers with ', ' in order, across name cases", () => {
    const req = parseRequestHead(
      'GET / HTTP/1.1\r\nX-Forwarded-For: 203.0.113.9\r\nSet-Cookie: a=1\r\nx-forwarded-for: 198.51.100.7\r\nset-cookie: b=2\r\nX-FORWARDED-FOR: 192.0.2.1',
    );
    expect(req!.headers['x-forwarded-for']).toBe('203.0.113.9, 198.51.100.7, 192.0.2.1');
    expect(req!.headers['set-cookie']).toBe('a=1, b=2');
    expect(req!.rawHeaders).toEqual([
      'X-Forwarded-For', '203.0.113.9', 'Set-Cookie', 'a=1', 'x-forwarded-for', '198.51.100.7',
      'set-cookie', 'b=2', 'X-FORWARDED-FOR', '192.0.2.1',
    ]);
  });

  it('keeps colons inside values and accepts empty values', () => {
    const req = parseRequestHead('GET / HTTP/1.1\r\nHost: [::1]:8080\r\nX-Empty:');
    expect(req!.headers.host).toBe('[::1]:8080');
    expect(req!.headers['x-empty']).toBe('');
  });

  it('gives headers no prototype, so `__proto__` or `constructor` are plain keys', () => {
    const req = parseRequestHead('GET / HTTP/1.1\r\n__proto__: x\r\nconstructor: y');
    expect(req!.headers['__proto__']).toBe('x');
    expect(req!.headers.constructor).toBe('y');
    expect(Object.getPrototypeOf(req!.headers)).toBeNull();
    expect(parseRequestHead('GET / HTTP/1.1')!.headers.toString).toBeUndefined();
  });

  it.each([
    ['an empty head', ''],
    ['a bad request line', 'GET /\r\nHost: a'],
    ['a bad HTTP version', 'GET / HTTP/11\r\nHost: a'],
    ['a header line without a colon', 'GET / HTTP/1.1\r\nHost a'],
    ['a header line starting with a colon', 'GET / HTTP/1.1\r\n: a'],
    ['a space before the colon', 'GET / HTTP/1.1\r\nHost : a'],
    ['an obs-fold continuation line', 'GET / HTTP/1.1\r\nX-A: 1\r\n  continued'],
    ['an obs-fold line with a colon', 'GET / HTTP/1.1\r\nX-A: 1\r\n\tx-b: 2'],
    ['a header name with invalid characters', 'GET / HTTP/1.1\r\nX(A): 1'],
    ['a header name with a slash', 'GET / HTTP/1.1\r\nX/A: 1'],
    ['a header name with non-ASCII characters', 'GET / HTTP/1.1\r\nXé: 1'],
    ['a NUL in a value', 'GET / HTTP/1.1\r\nX-A: a\0b'],
    ['a bare CR in a value', 'GET / HTTP/1.1\r\nX-A: a\rb'],
    ['a bare LF in a value', 'GET / HTTP/1.1\r\nX-A: a\nb'],
  ])('refuses %s', (_, head) => {
    expect(parseRequestHead(head)).toBeUndefined();
  });
});
