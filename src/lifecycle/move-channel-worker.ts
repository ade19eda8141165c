import { decodeMessage, encodeMessage, type RuntimeMessageMap } from '../ipc/index.js';
import { FrameReceiver, FrameSender, type FdPassing, type FramedFd, type FrameEnd } from '../sticky/index.js';
import type { FdHandle } from '../internal/node-internals.js';

// The move channel: a slot's retiring worker passes the connections a handover moves straight to its
// successor, over an unnamed Unix socket pair the primary made for this handover (one end each), where
// the native part loads. Frames (sticky/fd-frames.ts) of the connections' `sticky:handoverSocket`
// messages with their descriptors: one sendmsg moves up to MAX_FDS connections (the same connections
// through the primary cost two acknowledged IPC messages each). Without the native part, or once a
// send fails, connections go through the primary as before.

export { MAX_FDS } from '../sticky/index.js';

type SocketMessage = RuntimeMessageMap['sticky:handoverSocket'];

/** A connection to move: its descriptor and message; `done(true)` once the successor holds its copy. */
export type DirectMove = FramedFd<SocketMessage>;

const encode = (message: SocketMessage): unknown => encodeMessage('sticky:handoverSocket', message);

function decode(value: unknown): SocketMessage | undefined {
  const decoded = decodeMessage(value);
  return decoded.kind === 'message' && decoded.message.type === 'sticky:handoverSocket'
    ? decoded.message.payload : undefined;
}

/** The retiring worker's end: sends frames, waits (polls) while the pair's buffer is full. */
export class MoveSender extends FrameSender<SocketMessage> {
  constructor(native: FdPassing, end: FrameEnd) {
    super(native, end, { encode });
  }
}

/** What the successor does with each connection that arrives (a bare TCP handle). */
export type MoveArrival = (message: SocketMessage, handle: FdHandle) => void;

/**
 * A connection that arrived unusable (not a TCP connection, a message that does not decode: closed), or,
 * `isBroken`, a channel that broke (the descriptors that came without their frame are closed).
 */
export type MoveRejection = (reason: string, isBroken: boolean) => void;

const NAMES = { connection: 'moved connection', channel: 'move channel' };

/** The successor's end: reads frames as they come, until the predecessor closes its end. */
export class MoveReceiver extends FrameReceiver<SocketMessage> {
  constructor(native: FdPassing, end: FrameEnd, maxFrameBytes: number, arrive: MoveArrival, reject: MoveRejection) {
    super(native, end, { maxFrameBytes, decode, arrive, reject, names: NAMES });
  }
}
