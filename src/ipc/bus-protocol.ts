import { ErrorCode, StickyError } from '../errors.js';
import { MAX_TIMER_MS } from '../options/index.js';
import { BUS_TYPE, TAG, PROTOCOL_VERSION } from './protocol.js';
import type { WorkerTarget } from './bus-types.js';

// The application bus on the wire. One envelope `{ __sticky: 1, v, type: 'sticky:bus', payload }`
// carries a batch of frames, so a burst of small messages costs one IPC write. Channel names live
// inside the frames: an application channel can never be taken for a runtime message.

export { BUS_TYPE };

/** A routing key as the balancer hashes it; byte arrays travel as arrays of numbers. */
export type WireKey = string | readonly number[];

/** Where a frame goes, set by a worker for the primary to resolve. */
export type WireTarget =
  | { readonly w: number }
  | { readonly s: number }
  | { readonly key: WireKey }
  | { readonly all: 1; readonly self?: 1 };

/** Who sent a frame the primary forwarded; absent when the primary sent it. */
export interface WireSender { readonly w: number; readonly s: number }

export interface SerializedError {
  readonly name: string;
  readonly code: string | undefined;
  readonly message: string;
  readonly stack: string | undefined;
  /** Raised by the runtime (routing, no responder, exit), not by a responder. */
  readonly r?: 1;
}

export type Frame =
  /** A message. */
  | { readonly k: 'm'; readonly c: string; readonly d: unknown; readonly f?: WireSender }
  /** A request; `to` only from a worker to reach another worker; `a` marks a message to forward with an ack. */
  | { readonly k: 'q'; readonly i: number; readonly c: string; readonly d: unknown; readonly t: number;
      readonly to?: WireTarget; readonly f?: WireSender; readonly a?: 1 }
  /** A response. */
  | { readonly k: 'r'; readonly i: number; readonly d: unknown }
  /** An error response. */
  | { readonly k: 'e'; readonly i: number; readonly e: SerializedError }
  /** From a worker: it gave up on its request `i` (timeout, abort); the primary drops it if still undelivered. */
  | { readonly k: 'x'; readonly i: number };

export interface BusEnvelope {
  readonly [TAG]: 1;
  readonly v: number;
  readonly type: typeof BUS_TYPE;
  readonly payload: readonly Frame[];
}

export function encodeBatch(frames: readonly Frame[]): BusEnvelope {
  return { [TAG]: 1, v: PROTOCOL_VERSION, type: BUS_TYPE, payload: frames };
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * The frames of a bus envelope, or undefined when `value` is not one (another protocol version
 * included). Hot path: checks only the envelope; frames are checked one by one by `isFrame`.
 */
export function framesOf(value: unknown): readonly unknown[] | undefined {
  if (!isRecord(value) || value[TAG] !== 1 || value.type !== BUS_TYPE || value.v !== PROTOCOL_VERSION) return undefined;
  return Array.isArray(value.payload) ? value.payload : undefined;
}

const isId = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value);
/** A request's timeout: what a timer can hold (a longer one would fire at once, with a warning each). */
const isTimeout = (value: unknown): value is number =>
  typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= MAX_TIMER_MS;

function isTarget(value: unknown): value is WireTarget {
  if (!isRecord(value)) return false;
  if ('w' in value) return Number.isInteger(value.w);
  if ('s' in value) return Number.isInteger(value.s);
  if ('key' in value) {
    return typeof value.key === 'string' || (Array.isArray(value.key) && value.key.every((n) => typeof n === 'number'));
  }
  return value.all === 1;
}

function isSender(value: unknown): value is WireSender {
  return isRecord(value) && Number.isInteger(value.w) && Number.isInteger(value.s);
}

/** Narrows one frame from another process; never throws. */
export function isFrame(value: unknown): value is Frame {
  if (!isRecord(value)) return false;
  switch (value.k) {
    case 'm':
      return typeof value.c === 'string' && (value.f === undefined || isSender(value.f));
    case 'q':
      return isId(value.i) && typeof value.c === 'string' && isTimeout(value.t) &&
        (value.to === undefined || isTarget(value.to)) && (value.f === undefined || isSender(value.f));
    case 'r':
    case 'x':
      return isId(value.i);
    case 'e':
      return isId(value.i) && isRecord(value.e)
        && typeof value.e.message === 'string' && typeof value.e.name === 'string'
        && (value.e.code === undefined || typeof value.e.code === 'string')
        && (value.e.stack === undefined || typeof value.e.stack === 'string');
    default:
      return false;
  }
}

/** An error as it travels: `{ name, code, message, stack }`. Anything thrown is accepted. */
export function serializeError(error: unknown): SerializedError {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return {
      name: error.name, code: typeof code === 'string' ? code : undefined, message: error.message, stack: error.stack,
    };
  }
  const message = typeof error === 'string' ? error : `Non-error thrown: ${String(error)}`;
  return { name: 'Error', code: undefined, message, stack: undefined };
}

const KNOWN_CODES: ReadonlySet<string> = new Set(Object.values(ErrorCode));

/**
 * The error a responder threw, rebuilt in the caller. `code` is `STICKY_ERR_IPC_REMOTE`; the
 * responder's own error stays readable as `remoteCode` and `remoteName`, and `stack` is its stack
 * followed by the caller's.
 */
export class BusRemoteError extends StickyError {
  /** The `code` of the error the responder threw (`ENOENT`, `E_NOT_FOUND`, …), if it had one. */
  readonly remoteCode: string | undefined;
  /** The `name` of the error the responder threw (`TypeError`, …). */
  readonly remoteName: string;
  /** The channel of the request. */
  readonly channel: string;

  constructor(channel: string, remote: SerializedError, localStack: string | undefined) {
    super(ErrorCode.IpcRemote, remote.message);
    this.remoteCode = remote.code;
    this.remoteName = remote.name;
    this.channel = channel;
    const here = localStack?.split('\n').slice(1).join('\n');
    const remoteStack = remote.stack ?? `${remote.name}: ${remote.message}`;
    const localPart = here === undefined || here === '' ? '' : `\n${here}`;
    this.stack = `${remoteStack}\n    -- answered to request '${channel}' --${localPart}`;
  }
}

/**
 * Rebuilds an error response. An error the runtime raised on the way (no responder, the target
 * worker exited, …) keeps its `STICKY_ERR_*` code; a responder's error becomes a `BusRemoteError`.
 */
export function rebuildError(channel: string, remote: SerializedError, localStack: string | undefined): StickyError {
  if (remote.r === 1 && remote.code !== undefined && KNOWN_CODES.has(remote.code)) {
    const error = new StickyError(remote.code as ErrorCode, remote.message);
    if (localStack !== undefined) {
      error.stack = `StickyError: ${remote.message}\n${localStack.split('\n').slice(1).join('\n')}`;
    }
    return error;
  }
  return new BusRemoteError(channel, remote, localStack);
}

/** An error the runtime raised while routing (not a responder's): it keeps its code in the caller. */
export function runtimeError(error: StickyError): SerializedError {
  return { ...serializeError(error), r: 1 };
}

export function toWireKey(key: unknown): WireKey {
  if (typeof key === 'string') return key;
  // A byte array hashes as the same numbers (see sticky's hash), and survives JSON as an array.
  if (key instanceof Uint8Array) return Array.from(key);
  if (Array.isArray(key) && key.every((n) => typeof n === 'number')) return key as number[];
  throw new StickyError(ErrorCode.InvalidOption,
    `Expected \`key\` to be a string, a Uint8Array or an array of numbers, received ${typeof key}.`);
}

export function toWireTarget(target: WorkerTarget): WireTarget {
  const value = target as Partial<Record<'workerId' | 'slot' | 'key', unknown>> | null;
  if (typeof value === 'object' && value !== null) {
    if (Number.isInteger(value.workerId)) return { w: value.workerId as number };
    if (Number.isInteger(value.slot)) return { s: value.slot as number };
    if (value.key !== undefined) return { key: toWireKey(value.key) };
  }
  throw new StickyError(ErrorCode.InvalidOption, 'Expected a bus target `{ workerId }`, `{ slot }` or `{ key }`.', {
    hint: 'workerId and slot are integers; key is a client address or your custom routing key.',
  });
}
