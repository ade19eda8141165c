import cluster, { type Worker } from 'node:cluster';
import { serialize } from 'node:v8';
import { ErrorCode, StickyError } from '../errors.js';
import { hasHandleInFlight } from '../internal/node-internals-primary.js';
import { Outbox, type SendChannel } from './outbox.js';
import type { WireSender } from './bus-protocol.js';
import type { BusSender } from './bus-types.js';

// A worker as the primary's bus sees it: its outbox and how it is named to the workers it writes to.

export interface Peer {
  readonly worker: Worker;
  readonly outbox: Outbox;
  readonly sender: BusSender;
  readonly wire: WireSender;
}

export function createPeer(worker: Worker, slot: number): Peer {
  return {
    worker,
    outbox: new Outbox(deferSafeSend(worker), (cause) => workerExited(worker, cause)),
    sender: Object.freeze({ kind: 'worker', workerId: worker.id, slot }),
    wire: Object.freeze({ w: worker.id, s: slot }),
  };
}

/**
 * worker.send() that never throws later. While a handle (a socket handoff, a slot's listening socket)
 * is in flight, Node queues later messages unserialized and serializes them when the worker's ACK
 * arrives, inside its own event handler, where a payload that cannot be serialized (a cycle, a
 * BigInt on a JSON channel) would crash the primary. So in that case the batch is serialized once
 * here first, and a failure throws now, where the outbox turns it into STICKY_ERR_IPC_INVALID_PAYLOAD.
 */
function deferSafeSend(worker: Worker): SendChannel {
  const isAdvanced = cluster.settings.serialization === 'advanced';
  return (message, callback) => {
    if (hasHandleInFlight(worker.process)) {
      if (isAdvanced) serialize(message);
      else JSON.stringify(message);
    }
    worker.send(message, callback);
  };
}

export function workerExited(worker: Worker, cause: Error | undefined): StickyError {
  return new StickyError(ErrorCode.IpcWorkerExit, `Worker ${worker.id} exited before it answered.`, {
    cause, hint: 'Retry: a request by `{ slot }` or `{ key }` reaches the slot\'s next worker.',
  });
}
