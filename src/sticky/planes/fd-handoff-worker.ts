import type { FdHandle } from '../../internal/node-internals.js';
import type { FrameEnd } from '../fd-frames.js';
import { FrameReceiver } from '../fd-frame-receiver.js';
import { ACK_BYTES, decodeHandoff, type Payload } from './fd-handoff.js';
import type { FdPassing } from './reuseport-native.js';

// The hop's native handoff, the worker's half (the primary's is fd-handoff-primary.ts): reads the
// frames of connections on this worker's end of its socket pair and, once per wake-up and before the
// application sees any of them, answers how many it took (4 bytes, big-endian): from then on the
// connections are this worker's, and the primary closes its copies.

/** An answer the socket could not take now is retried this often (the primary reads them as they come). */
const ACK_RETRY_MS = 5;
const NAMES = { connection: 'handed-off connection', channel: 'handoff channel' };

export type HandoffArrival = (payload: Payload, handle: FdHandle) => void;

export class FdHandoffReceiver {
  readonly #native: FdPassing;
  readonly #receiver: FrameReceiver<Payload>;
  readonly #answer = Buffer.alloc(ACK_BYTES);
  /** Taken but not yet told (the socket was full): sent with the next answer. */
  #untold = 0;
  /** An answer's bytes the socket took only in part. */
  #rest: Uint8Array | undefined;
  #retry: NodeJS.Timeout | undefined;

  /** Reads `end`; its first answer (0) tells the primary this worker reads the channel. */
  constructor(native: FdPassing, end: FrameEnd, maxFrameBytes: number, arrive: HandoffArrival,
    reject: (reason: string) => void) {
    this.#native = native;
    this.#receiver = new FrameReceiver<Payload>(native, end, {
      maxFrameBytes, decode: decodeHandoff, arrive, names: NAMES,
      reject: (reason) => reject(reason),
      woke: this.#woke,
      ended: () => this.#stopRetry(),
    });
    this.#tell();
  }

  /** Stops reading (the end closes; the primary takes back what this worker did not take). */
  close(): void {
    this.#stopRetry();
    this.#receiver.close();
  }

  /** Every wake-up answers, also with 0: the primary sends what waited for room on each answer. */
  #woke = (taken: number): void => {
    this.#untold += taken;
    this.#tell();
  };

  #tell = (): void => {
    this.#retry = undefined;
    try {
      if (this.#rest !== undefined) {
        const sent = this.#native.send(this.#receiver.fd, this.#rest, new Int32Array(0));
        if (sent >= 0) this.#rest = sent < this.#rest.length ? this.#rest.subarray(sent) : undefined;
        if (this.#rest !== undefined) return this.#later();
      }
      this.#answer.writeUInt32BE(this.#untold, 0);
      const sent = this.#native.send(this.#receiver.fd, this.#answer, new Int32Array(0));
      if (sent < 0) return this.#later();
      this.#untold = 0;
      if (sent < this.#answer.length) this.#rest = Buffer.from(this.#answer.subarray(sent));
      if (this.#rest !== undefined) this.#later();
    } catch {
      // The primary's end is gone: so is the primary, or this worker's link; nothing to tell.
      this.#stopRetry();
    }
  };

  #later(): void {
    this.#retry ??= setTimeout(this.#tell, ACK_RETRY_MS);
  }

  #stopRetry(): void {
    if (this.#retry !== undefined) clearTimeout(this.#retry);
    this.#retry = undefined;
  }
}
