// When a live WebSocket may move to another process (pure: the state comes from
// internal/ws-internals-worker.ts, the deadline from the caller).

/** Why a WebSocket stays (the caller closes it with 1001, as a retiring worker does, and counts it). */
export type MoveRefusal =
  /** TLS terminated in this process: its session keys and sequence numbers cannot be handed over. */
  | 'tls'
  /** Not on a TCP or pipe socket of this process (a Duplex, a socket already destroyed). */
  | 'notSocket'
  /** The installed ws keeps its state where this runtime does not look (see the ws canary). */
  | 'unsupported'
  /** Closing or closed already. */
  | 'closed'
  /** permessage-deflate with context takeover on either side: the compressor windows cannot be moved. */
  | 'deflateContext'
  /** A frame or fragmented message of the client was still half-read at the deadline. */
  | 'midFrame'
  /** A frame of the server was still being written (or compressed) at the deadline: a slow reader. */
  | 'writePending';

/** Where the connection stands (FrameState of the internals seam, plus the socket's unsent bytes). */
export interface BoundaryInput {
  isOpen: boolean;
  isReceiverAtFrame: boolean;
  isReceiverInMessage: boolean;
  isSenderBusy: boolean;
  /** `socket.writableLength`: bytes written but not yet handed to the kernel. */
  writePending: number;
}

/**
 * - `boundary`: both directions between frames (and messages): move now;
 * - `readMore`: the client's frame or message is half-read: read until it completes;
 * - `flush`: the server's frame is not fully written yet: wait, reading nothing;
 * - `closed`: nothing to move.
 */
export type BoundaryVerdict = 'boundary' | 'readMore' | 'flush' | 'closed';

export function boundaryVerdict(state: BoundaryInput): BoundaryVerdict {
  if (!state.isOpen) return 'closed';
  if (!state.isReceiverAtFrame || state.isReceiverInMessage) return 'readMore';
  if (state.isSenderBusy || state.writePending > 0) return 'flush';
  return 'boundary';
}

/** The refusal at the deadline for a verdict that was not `boundary`. */
export function refusalAtDeadline(verdict: Exclude<BoundaryVerdict, 'boundary'>): MoveRefusal {
  if (verdict === 'closed') return 'closed';
  return verdict === 'readMore' ? 'midFrame' : 'writePending';
}

/**
 * permessage-deflate moves only without context takeover on both sides (RFC 7692 §7.1.1): then
 * each message is compressed and inflated on its own, and nothing is left in a zlib window between
 * messages. `params` are the accepted parameters; undefined when the extension was not negotiated.
 */
export function deflateRefusal(params: Readonly<Record<string, unknown>> | undefined): MoveRefusal | undefined {
  if (params === undefined) return undefined;
  return params.server_no_context_takeover === true && params.client_no_context_takeover === true
    ? undefined : 'deflateContext';
}
