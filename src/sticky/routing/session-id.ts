import { randomBytes } from 'node:crypto';

// Socket.IO (engine.io) session ids that carry their slot: `<random>.<slot>`. The primary reads the
// slot back from the `sid` query parameter of every later request of the session (long-polling
// requests and the WebSocket upgrade), so it routes them without remembering any session.

/** engine.io's own ids are base64url-like and never contain a dot. */
const SEPARATOR = '.';
const MAX_SLOT_DIGITS = 4;

/** A new session id for the worker of `slot`: 120 random bits, then the slot. */
export function formatSessionId(slot: number): string {
  return `${randomBytes(15).toString('base64url')}${SEPARATOR}${slot}`;
}

/**
 * The slot in the `sid` query parameter of a request target (`/socket.io/?EIO=4&sid=…`), or
 * undefined when there is none, it is not one of ours, or names no current slot.
 */
export function slotOfSessionUrl(url: string, slots: number): number | undefined {
  const query = url.indexOf('?');
  if (query === -1) return undefined;
  let start = url.indexOf('sid=', query + 1);
  // Only a whole parameter name: right after '?' or '&'.
  while (start !== -1 && url[start - 1] !== '?' && url[start - 1] !== '&') start = url.indexOf('sid=', start + 4);
  if (start === -1) return undefined;
  let end = url.indexOf('&', start + 4);
  if (end === -1) end = url.length;
  const dot = url.lastIndexOf(SEPARATOR, end - 1);
  if (dot < start + 4 || end - dot - 1 < 1 || end - dot - 1 > MAX_SLOT_DIGITS) return undefined;
  let slot = 0;
  for (let i = dot + 1; i < end; i++) {
    const digit = url.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return undefined;
    slot = slot * 10 + digit;
  }
  return slot < slots ? slot : undefined;
}
