import { createHash, timingSafeEqual } from 'node:crypto';

// The `/metrics` token check, pure. Both sides are hashed first, so the comparison takes the same
// time whatever the presented token's length or how much of it matches.

const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

/** A checker for `Authorization: Bearer <token>` against `token`. */
export function bearerChecker(token: string): (authorization: string | undefined) => boolean {
  const expected = digest(token);
  return (authorization) => {
    if (authorization === undefined) return false;
    // RFC 6750: the scheme is case-insensitive, then one or more spaces, then the token.
    const match = /^bearer +([\x21-\x7e]+) *$/i.exec(authorization);
    if (match === null) return false;
    return timingSafeEqual(digest(match[1] as string), expected);
  };
}
