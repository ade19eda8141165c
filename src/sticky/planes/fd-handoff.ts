import type { RuntimeMessageMap } from '../../ipc/index.js';
import { LENGTH_BYTES } from '../fd-frames.js';

// The hop's native handoff channel, what both halves agree on (fd-handoff-primary.ts sends frames,
// fd-handoff-worker.ts reads them and answers): one entry per connection in a frame (sticky/fd-frames.ts),
// and the worker's answers, a 4-byte big-endian count each. Safe on both sides.

export type Payload = RuntimeMessageMap['sticky:connection'];

/** Bytes of one answer. */
export const ACK_BYTES = 4;
/** A frame's JSON stays below this (a packet must fit the pair's send buffer, about 200 KB by default). */
export const MAX_FRAME_JSON_BYTES = 64 * 1024;
/** A connection whose bytes read are longer goes over IPC (it would not fit a frame). */
export const MAX_NATIVE_BYTES = MAX_FRAME_JSON_BYTES - 512;

const EMPTY: Payload = Object.freeze({});

/** The frame bound a worker enforces (a frame of one connection may pass MAX_FRAME_JSON_BYTES). */
export function maxHandoffFrameBytes(): number {
  return MAX_FRAME_JSON_BYTES + MAX_NATIVE_BYTES + LENGTH_BYTES;
}

/** The JSON value of one connection in a frame: 0 when the worker needs nothing but the descriptor. */
export function encodeHandoff(payload: Payload): unknown {
  return payload.bytes === undefined && payload.client === undefined ? 0 : payload;
}

/** One connection's entry in a frame: 0, or `{ bytes?, client?, clientPort? }`; undefined when malformed. */
export function decodeHandoff(value: unknown): Payload | undefined {
  if (value === 0) return EMPTY;
  if (typeof value !== 'object' || value === null) return undefined;
  const { bytes, client, clientPort } = value as Record<string, unknown>;
  if ((bytes !== undefined && typeof bytes !== 'string') || (client !== undefined && typeof client !== 'string') ||
    (clientPort !== undefined && !Number.isInteger(clientPort))) return undefined;
  return value as Payload;
}
