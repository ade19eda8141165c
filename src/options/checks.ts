import { ErrorCode, StickyError } from '../errors.js';

// The checks behind every option, and their one message shape:
// "Expected `name` to be <what>, received <value> (<type>)."

export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return `${JSON.stringify(value)} (string)`;
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return `${String(value)} (${typeof value})`;
}

export function invalidOption(name: string, expected: string, value: unknown, hint?: string): StickyError {
  return new StickyError(
    ErrorCode.InvalidOption,
    `Expected \`${name}\` to be ${expected}, received ${describeValue(value)}.`,
    hint === undefined ? {} : { hint },
  );
}

/** Rejects the first key not in `known`; `renamed` maps names users reach for to ours. */
export function assertKnownKeys(
  input: object, known: ReadonlySet<string>, renamed: Readonly<Record<string, string>> = {},
): void {
  for (const key of Object.keys(input)) {
    if (known.has(key)) continue;
    const replacement = renamed[key];
    const hint = replacement === undefined
      ? `Known options: ${[...known].map((k) => `\`${k}\``).join(', ')}.`
      : `Use \`${replacement}\` instead.`;
    throw new StickyError(ErrorCode.InvalidOption, `Unknown option \`${key}\`.`, { hint });
  }
}

/** The longest delay a Node timer keeps (2^31 - 1 ms, about 24.8 days); a longer one fires after 1 ms. */
export const MAX_TIMER_MS = 2_147_483_647;

export function checkInteger(value: unknown, name: string, min: number, max: number, unit = ''): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer from ${min} to ${max}`;
    throw invalidOption(name, `${range}${unit}`, value);
  }
  return value;
}

/** `input[name]`, or `fallback` when absent, as an integer in [min, max]. */
export function integerIn(
  input: Record<string, unknown>, name: string, fallback: number, min: number, max: number, unit = '', label = name,
): number {
  return checkInteger(input[name] ?? fallback, label, min, max, unit);
}

export function optionalFunction<T>(input: Record<string, unknown>, name: string, label = name): T | undefined {
  const value = input[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'function') throw invalidOption(label, 'a function', value);
  return value as T;
}

export function booleanOf(input: Record<string, unknown>, name: string, fallback: boolean): boolean {
  const value = input[name] ?? fallback;
  if (typeof value !== 'boolean') throw invalidOption(name, 'a boolean', value);
  return value;
}

/** Slots a cluster may have: `workers` and `scale()`. */
export const MAX_WORKERS = 1024;

/** A slot count, as `workers` takes it and `scale()` checks it. */
export function checkWorkerCount(value: unknown): number {
  return checkInteger(value, 'workers', 1, MAX_WORKERS);
}

/** A TCP port, given as a number or as decimal digits (`process.env.PORT`). */
export function parsePort(port: unknown, name = 'port'): number {
  const value = typeof port === 'string' && /^\d+$/.test(port) ? Number(port) : port;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 65_535) {
    throw invalidOption(name, 'an integer from 0 to 65535', port);
  }
  return value;
}
