// The slot state channel's framing, both ends: a 4-byte big-endian length, a JSON header, then the
// state's bytes (v8.serialize). The header says what follows, so a reader checks the protocol, the
// status and the size before it reads (or refuses) the state. Pure: no sockets here.

/** The slot state handover's protocol version: a reader of another version starts empty. */
export const STATE_PROTOCOL = 1;

/** At most this many header bytes: a longer header is not ours. */
export const MAX_HEADER_BYTES = 4096;

/**
 * `ok`: the state follows; else no state, and why: past the giver's `maxBytes`, its hook threw, or it
 * registered none (it moves only connections).
 */
export type StateStatus = 'ok' | 'tooLarge' | 'handoverFailed' | 'noHandover';

export interface StateHeader {
  readonly protocol: number;
  readonly status: StateStatus;
  /** The state's size (also when `tooLarge`: the size it would have had). */
  readonly bytes: number;
  /** The application's version, as given to `onHandover()`. */
  readonly version?: string;
  /** Connections the giver sent through the primary before this frame (the taker waits for them). */
  readonly sockets?: number;
}

/** The frame's start: length prefix and header; the state's bytes follow it when `status` is `ok`. */
export function encodeStateHeader(header: StateHeader): Buffer {
  const json = Buffer.from(JSON.stringify(header));
  const frame = Buffer.allocUnsafe(4 + json.length);
  frame.writeUInt32BE(json.length, 0);
  json.copy(frame, 4);
  return frame;
}

export type HeaderRead =
  | { readonly kind: 'more' }
  | { readonly kind: 'invalid' }
  | { readonly kind: 'header'; readonly header: StateHeader; readonly used: number };

const isCount = (value: unknown): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;

const STATUSES: readonly unknown[] = ['ok', 'tooLarge', 'handoverFailed', 'noHandover'];

/** Reads the header at the start of `buffer`: complete (and how many bytes it used), incomplete, or not ours. */
export function readStateHeader(buffer: Buffer): HeaderRead {
  if (buffer.length < 4) return { kind: 'more' };
  const length = buffer.readUInt32BE(0);
  if (length > MAX_HEADER_BYTES) return { kind: 'invalid' };
  if (buffer.length < 4 + length) return { kind: 'more' };
  let value: unknown;
  try {
    value = JSON.parse(buffer.toString('utf8', 4, 4 + length));
  } catch {
    return { kind: 'invalid' };
  }
  if (typeof value !== 'object' || value === null) return { kind: 'invalid' };
  const { protocol, status, bytes, version, sockets } = value as Record<string, unknown>;
  if (typeof protocol !== 'number' || !STATUSES.includes(status)) return { kind: 'invalid' };
  if (!isCount(bytes) || (sockets !== undefined && !isCount(sockets))) return { kind: 'invalid' };
  if (version !== undefined && typeof version !== 'string') return { kind: 'invalid' };
  const header: StateHeader = {
    protocol, status: status as StateStatus, bytes, ...(version === undefined ? {} : { version }),
    ...(sockets === undefined ? {} : { sockets }),
  };
  return { kind: 'header', header, used: 4 + length };
}
