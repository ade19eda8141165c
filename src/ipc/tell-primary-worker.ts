// A worker's runtime messages to the primary. A closed channel (the primary is shutting down, or gave
// up on this worker) has nobody to tell: the send is dropped, never an error the worker must handle.

const ignoreClosedChannel = (): void => {};

/** Sends one of the runtime's messages (encodeMessage) to the primary, if it is still there to hear it. */
export function tellPrimary(message: object): void {
  process.send?.(message, undefined, {}, ignoreClosedChannel);
}
