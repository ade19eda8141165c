import { encodeMessage } from '../../ipc/index.js';
import { handleOfFd, type FdHandle } from '../../internal/node-internals.js';
import type { FdPassing } from './reuseport-native.js';

// Making a worker's handoff channel (used by fd-handoff-primary.ts): a Unix sequenced-packet pair, whose
// worker end travels inside a bootstrap stream pair, the kind of socket Node's IPC can carry.

/** Sends the worker its end of the channel with `message`; `sent` once Node is done with the handle. */
export type GiveEnd = (message: object, end: FdHandle, sent: () => void) => void;

/**
 * The pair: `own` (the primary's end) and `theirs` (the worker's end, whose copy the primary keeps);
 * `give` passes the worker the bootstrap end with `sticky:handoffChannel`. Undefined when the pairs cannot
 * be made (nothing is left open).
 */
export function openHandoffPair(
  native: FdPassing, give: GiveEnd, maxBytes: number,
): { own: number; theirs: number } | undefined {
  const made: number[] = [];
  try {
    const [own, theirs] = native.socketPair(true);
    made.push(own, theirs);
    const [bootOwn, bootTheirs] = native.socketPair();
    made.push(bootOwn, bootTheirs);
    // The worker's end waits in the bootstrap pair, which the worker reads once.
    if (native.send(bootOwn, Buffer.from([1]), Int32Array.of(theirs)) !== 1) throw new Error('bootstrap full');
    native.close(bootOwn);
    made.splice(made.indexOf(bootOwn), 1);
    const end = handleOfFd(bootTheirs, 'pipe');
    made.splice(made.indexOf(bootTheirs), 1);
    if (end === null) throw new Error('no pipe handle');
    // Sent as a bare handle ('net.Native'), which Node leaves open in the sender: closed once sent.
    give(encodeMessage('sticky:handoffChannel', { maxBytes }), end, () => end.close());
    return { own, theirs };
  } catch {
    for (const fd of made) native.close(fd);
    return undefined;
  }
}
