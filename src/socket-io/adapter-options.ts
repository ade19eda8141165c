import { ErrorCode, StickyError } from '../errors.js';
import { MAX_TIMER_MS, invalidOption } from '../options/index.js';

// The options of `createAdapter()`, checked once when the application builds its Socket.IO server.

/** Options of `createAdapter()`. */
export interface StickyAdapterOptions {
  /** Broadcast packets each namespace keeps for clients that reconnect (the oldest go first). @default 10_000 */
  maxPackets?: number;
  /** Ms between two heartbeats of this worker's adapter to the others. @default 5_000 */
  heartbeatInterval?: number;
  /** Ms without a heartbeat after which another worker's adapter counts as gone. @default 10_000 */
  heartbeatTimeout?: number;
}

export type ResolvedAdapterOptions = Readonly<Required<StickyAdapterOptions>>;

const DEFAULTS: ResolvedAdapterOptions = { maxPackets: 10_000, heartbeatInterval: 5_000, heartbeatTimeout: 10_000 };
const LIMITS: Readonly<Record<keyof StickyAdapterOptions, readonly [number, number, string]>> = {
  maxPackets: [0, 10_000_000, ''],
  heartbeatInterval: [1, MAX_TIMER_MS, ' (ms)'],
  heartbeatTimeout: [1, MAX_TIMER_MS, ' (ms)'],
};

export function resolveAdapterOptions(input: StickyAdapterOptions): ResolvedAdapterOptions {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw invalidOption('options', 'an object', input);
  }
  const resolved = { ...DEFAULTS };
  for (const [key, value] of Object.entries(input) as [string, unknown][]) {
    if (!Object.hasOwn(LIMITS, key)) {
      throw new StickyError(ErrorCode.InvalidOption, `Unknown option \`${key}\`.`, {
        hint: `Known options: ${Object.keys(LIMITS).map((name) => `\`${name}\``).join(', ')}.`,
      });
    }
    if (value === undefined) continue;
    const [min, max, unit] = LIMITS[key as keyof StickyAdapterOptions];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      throw invalidOption(key, `an integer from ${min} to ${max}${unit}`, value);
    }
    resolved[key as keyof StickyAdapterOptions] = value;
  }
  return Object.freeze(resolved);
}
