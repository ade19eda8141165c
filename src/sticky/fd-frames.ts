import type { FdHandle } from '../internal/node-internals.js';

// Open connections in frames over an unnamed Unix stream socket pair (the native part's SCM_RIGHTS),
// used by the hop's handoff channel (primary → worker) and K's move channel (retiring worker →
// successor). A frame: a 4-byte length, then a JSON array of the connections' messages; their
// descriptors travel with the frame's first byte, in the same order, at most MAX_FDS per frame. One
// sendmsg carries a whole frame. The sending end is fd-frame-sender.ts, the receiving end fd-frame-receiver.ts.
// Safe on both sides.

/** The most descriptors one frame carries (the kernel's SCM_MAX_FD). */
export const MAX_FDS = 253;

/** Bytes of a frame's length prefix (big-endian). */
export const LENGTH_BYTES = 4;
export const NO_FDS = new Int32Array(0);

/** A connection to send: its descriptor and message; `done(true)` once the peer's socket holds its copy. */
export interface FramedFd<T> {
  fd: number;
  message: T;
  done: (isSent: boolean) => void;
}

/** One end of a pair: a handle that owns it, or the bare descriptor and how to close it. */
export type FrameEnd = Pick<FdHandle, 'fd' | 'close'>;
