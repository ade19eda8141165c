import { randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeMessage, type EmptyStartReason, type RuntimeMessageMap } from '../ipc/index.js';
import { settlesWithin } from '../internal/deadline.js';
import { stopReads } from '../internal/node-internals-primary.js';
import { handleOfFd, type FdHandle } from '../internal/node-internals.js';
import { loadFdPassing } from '../sticky/index.js';
import type { Tracked } from './tracked-worker-primary.js';
import type { SlotOwner } from './slot-owner-primary.js';

// Slot state handover, the primary's half (a worker's is handover-worker.ts): inside a planned
// replacement, once the successor is ready, the primary makes the state channel (a connected pair of
// Unix sockets), gives one end to each worker, takes the slot's route from the retiring worker (its new
// clients wait in the slot's queue or its socket's backlog) and waits, at most `handoverTimeout`, for the
// successor to say it adopted the state; the caller then routes the slot to the successor.

/** One slot state handover, as the primary's `handover` event reports it. */
export interface HandoverInfo {
  slot: number;
  fromWorkerId: number;
  toWorkerId: number;
  /** The successor took the state; else it started empty, for `reason`. */
  isAdopted: boolean;
  reason?: EmptyStartReason;
  /** Bytes of state the successor adopted (0 when it started empty). */
  bytes: number;
  /** Ms the slot's new clients waited: from the retiring worker's last connection to the successor's first. */
  pauseMs: number;
  /** Open connections (ws WebSockets, idle keep-alive connections) the successor adopted, the same TCP connections. */
  sockets: number;
  /**
   * Of the connections moved, those that went through the primary: all of them where the native part
   * cannot load (else they pass straight from worker to worker, which is faster), or those left when the
   * move channel broke.
   */
  relayed: number;
}

/** A handover's result; `isSuccessorGone`: the successor exited meanwhile (the slot needs another). */
export type HandoverResult = HandoverInfo & { isSuccessorGone: boolean };

export interface HandoverLimits {
  /** Ms the slot may pause; the retiring worker waits half of it for its requests in flight. */
  timeout: number;
  maxBytes: number;
}

/** A handover in which nothing was adopted. */
const NOTHING = { isAdopted: false, bytes: 0, sockets: 0 } as const;

const ignoreSendError = (): void => {
  // The worker exited meanwhile: its exit is handled by the supervisor, and the wait below ends.
};

/**
 * Hands the slot state of `from` (which offered it) to `to` (ready, not routed yet). The caller
 * installs `to` once this settles, whatever the result.
 */
export async function handOver(
  from: Tracked, to: Tracked, slots: SlotOwner, limits: HandoverLimits,
): Promise<HandoverResult> {
  const relayedBefore = from.relayedSockets;
  const base = { slot: to.slot, fromWorkerId: from.worker.id, toWorkerId: to.worker.id };
  const relayed = (): { relayed: number } => ({ relayed: from.relayedSockets - relayedBefore });
  let ends: [Socket, Socket];
  try {
    ends = await openStateChannel(limits.timeout);
  } catch {
    startEmpty(to, 'handoverFailed');
    return { ...base, ...NOTHING, relayed: 0, reason: 'handoverFailed', pauseMs: 0, isSuccessorGone: false };
  }
  const [give, take] = ends;
  const { maxBytes } = limits;
  // The retiring worker's moved connections go to this successor (see forwardMovedSocket).
  from.handoverTarget = to;
  // Node closes a sent socket in the primary; one it could not send (its worker is gone) is closed
  // here, so the other end sees the channel close (a successor whose predecessor crashed starts empty
  // at once, for `predecessorGone`, instead of at `handoverTimeout`).
  const sendEnd = (tracked: Tracked, role: 'give' | 'take', end: Socket): void => {
    tracked.worker.send(encodeMessage('sticky:handoverChannel', { role, maxBytes }), end, (error: Error | null) => {
      if (error !== null) end.destroy();
    });
  };
  sendEnd(to, 'take', take);
  sendEnd(from, 'give', give);
  openMoveChannel(from, to, maxBytes);
  const startedAt = performance.now();
  // After the last connection already on its way to the retiring worker (see WorkerLink.recall).
  const begin = encodeMessage('sticky:handoverBegin', { timeout: Math.floor(limits.timeout / 2) });
  if (from.hasClosedServer) from.worker.send(begin, ignoreSendError);
  else slots.withdraw(from, begin);
  let answer: RuntimeMessageMap['sticky:adopted'] | undefined;
  await settlesWithin(Promise.race([to.adopted.then((adopted) => (answer = adopted)), to.exited]), limits.timeout);
  const pauseMs = Math.round(performance.now() - startedAt);
  if (to.exitCode !== undefined) {
    return { ...base, ...NOTHING, ...relayed(), reason: 'handoverFailed', pauseMs, isSuccessorGone: true };
  }
  if (answer === undefined) {
    startEmpty(to, 'timeout');
    return { ...base, ...NOTHING, ...relayed(), reason: 'timeout', pauseMs, isSuccessorGone: false };
  }
  const reason = answer.isAdopted ? {} : { reason: answer.reason ?? 'handoverFailed' };
  const { isAdopted, bytes, sockets = 0 } = answer;
  return { ...base, isAdopted, ...reason, bytes, pauseMs, sockets, ...relayed(), isSuccessorGone: false };
}

/**
 * A connection a retiring worker moves (its bare handle): forwarded untouched to its successor, whose
 * copy then is the only one (Node leaves a sent bare handle open in the sender). The successor is
 * routed once they all arrived; one still on its way past `handoverTimeout` follows the successor's
 * first handoffs (the hop's handoff link tells its acknowledgements from these). False when the
 * worker hands nothing over, or its successor is gone: the caller closes the handle.
 */
export function forwardMovedSocket(
  from: Tracked, payload: RuntimeMessageMap['sticky:handoverSocket'], handle: unknown,
): boolean {
  const to = from.handoverTarget;
  if (to === undefined || typeof handle !== 'object' || handle === null || !to.worker.isConnected()) return false;
  from.relayedSockets++;
  to.worker.send(encodeMessage('sticky:handoverSocket', payload), handle as never, (error: Error | null) => {
    const closable = handle as { close?: () => void };
    // Sent: the successor holds its own copy. Not sent: the connection is lost either way, and the
    // successor stops waiting for it.
    if (error === null || typeof closable.close === 'function') closable.close?.();
    if (error !== null) forwardUnsent(from, { count: 1 });
  });
  return true;
}

/**
 * Connections the state's frame announced that will not come (a retiring worker's send failed, or
 * this primary's forward did): the successor learns it instead of waiting for its deadline.
 */
export function forwardUnsent(from: Tracked, payload: RuntimeMessageMap['sticky:handoverUnsent']): void {
  const to = from.handoverTarget;
  if (to === undefined || !to.worker.isConnected()) return;
  to.worker.send(encodeMessage('sticky:handoverUnsent', payload), ignoreSendError);
}

/**
 * Where the native part loads: an unnamed Unix socket pair, one end to each worker, over which the
 * retiring worker passes the connections it moves straight to the successor (move-channel-worker.ts).
 * Without it, or when making it fails, they come through the primary (forwardMovedSocket).
 */
function openMoveChannel(from: Tracked, to: Tracked, maxBytes: number): void {
  const native = loadFdPassing();
  if (native === undefined) return;
  let fds: [number, number];
  try {
    fds = native.socketPair();
  } catch {
    return;
  }
  const [give, take] = fds.map((fd) => handleOfFd(fd, 'pipe'));
  if (give === null || take === null || give === undefined || take === undefined) {
    give?.close();
    take?.close();
    return;
  }
  // Sent as bare handles ('net.Native'), which Node leaves open in the sender: closed once sent.
  const send = (tracked: Tracked, role: 'give' | 'take', end: FdHandle): void => {
    tracked.worker.send(encodeMessage('sticky:handoverMoves', { role, maxBytes }), end as never, () => end.close());
  };
  send(to, 'take', take);
  send(from, 'give', give);
}

/** Tells a worker it gets no slot state (and why); it settles its `adoptedState()`. */
export function startEmpty(tracked: Tracked, reason: EmptyStartReason): void {
  if (!tracked.worker.isConnected()) return;
  tracked.worker.send(encodeMessage('sticky:startEmpty', { reason }), ignoreSendError);
}

/**
 * A connected pair of Unix sockets, made by the primary: a listener in a fresh directory only this
 * user can enter (mode 0700), one connection to it, then the listener and the directory are gone.
 * The connecting end writes a random nonce the accepted end must read back, so a connection of
 * another process of this user that raced in is not taken for it.
 */
export async function openStateChannel(timeout: number): Promise<[Socket, Socket]> {
  const directory = await mkdtemp(join(tmpdir(), 'sticky-runtime-'));
  const server = createServer({ pauseOnConnect: true });
  const sockets: Socket[] = [];
  try {
    const path = join(directory, 'state.sock');
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => resolve());
    });
    const nonce = randomBytes(16);
    const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
    const client = connect(path);
    sockets.push(client);
    client.on('error', () => undefined);
    client.write(nonce);
    const pair = (async (): Promise<[Socket, Socket]> => {
      const socket = await accepted;
      sockets.push(socket);
      server.close();
      socket.on('error', () => undefined);
      const read = await readExactly(socket, nonce.length);
      if (!timingSafeEqual(read, nonce)) throw new Error('a foreign connection reached the state channel');
      return [client, socket];
    })();
    if (!(await settlesWithin(pair, timeout))) throw new Error('the state channel did not connect in time');
    return await pair;
  } catch (error) {
    for (const socket of sockets) socket.destroy();
    throw error;
  } finally {
    server.close();
    await rm(directory, { recursive: true, force: true });
  }
}

/** The next `length` bytes of a paused socket, leaving it paused with nothing read past them. */
function readExactly(socket: Socket, length: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      const needed = length - size;
      if (chunk.length > needed) {
        socket.unshift(chunk.subarray(needed));
        chunk = chunk.subarray(0, needed);
      }
      chunks.push(chunk);
      size += chunk.length;
      if (size < length) return;
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.pause();
      // pause() leaves the handle reading: state bytes the retiring worker writes before this end reaches
      // the successor would land in the primary's buffer and die with it (the successor saw an empty channel).
      stopReads(socket);
      resolve(Buffer.concat(chunks, size));
    };
    const onClose = (): void => reject(new Error('the state channel closed'));
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.resume();
  });
}
