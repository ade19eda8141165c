import type { EventEmitter } from 'node:events';
import { Socket, type Server } from 'node:net';
import { deserialize, serialize } from 'node:v8';
import type { Logger } from '../logger.js';
import { ErrorCode, StickyError } from '../errors.js';
import { encodeMessage, tellPrimary, type EmptyStartReason, type RuntimeMessageMap } from '../ipc/index.js';
import { inheritedOptions } from '../options/index.js';
import { deferred } from '../internal/deadline.js';
import { STATE_PROTOCOL, encodeStateHeader, readStateHeader, type StateHeader } from '../internal/state-frame.js';
import { SocketMoves, type WebSocketHandover, type WebSocketServerOf } from './handover-sockets-worker.js';

// Slot state handover, a worker's half (the primary's is handover-primary.ts). A retiring worker whose
// application registered `onHandover()` stops taking connections when the primary says so, lets its
// requests in flight finish, and writes its slot state (v8.serialize bytes) to a channel the primary
// made; its successor reads them, runs the application's `onAdopt()` hooks, and only then asks to be
// routed. A worker that gets no state (first start, crash, a deadline, a refusal) is told why. Past
// 250 lines: both roles a worker can have in a handover, giving and taking, speak one channel protocol.

/** The worker's shutdown, as a handover uses it. */
export interface HandoverHost {
  /**
   * Takes no new connection of the slot; `moveIdle` gets the idle HTTP keep-alive connections (stopped
   * reading); settles once the other HTTP connections closed, or after `timeout` ms.
   */
  quiesce(timeout: number, moveIdle: (sockets: Socket[]) => void): Promise<void>;
  /** A connection joins the worker's drain. */
  track(socket: Socket): void;
}

/** What the successor learns with the state. */
export interface AdoptInfo {
  /** Size of the serialised state in bytes. */
  readonly bytes: number;
  /** The version the predecessor passed to `onHandover()`, if any. */
  readonly version: string | undefined;
}

/**
 * Takes the predecessor's slot state; returning `false` refuses it (the worker starts empty). `T` is
 * what the application's `onHandover()` returns: it is not checked (the state crossed processes).
 */
export type AdoptHook<T = unknown> = (state: T, info: AdoptInfo) => unknown;

export interface HandoverOptions {
  /** The application's version, passed to the successor's `onAdopt()` hooks (which may refuse it). */
  version?: string;
}

/** What this worker started with: its predecessor's slot state, or nothing and why. */
export type AdoptedState =
  | { readonly isAdopted: true; readonly state: unknown; readonly bytes: number; readonly version: string | undefined }
  | { readonly isAdopted: false; readonly state: undefined; readonly reason: EmptyStartReason };

/** The longest a successor waits for the connections its predecessor moves; `handoverTimeout` ends the pause sooner. */
const MAX_SOCKET_WAIT_MS = 60_000;

/** The least time a WebSocket gets to reach a frame boundary in a handover. */
const MIN_FRAME_WAIT_MS = 250;

/** Reasons not worth a line in the log: nothing was lost. */
const QUIET_REASONS: ReadonlySet<EmptyStartReason> = new Set(['firstStart', 'noHandover']);

export class WorkerHandover {
  #give: { hook: () => unknown; version: string | undefined } | undefined;
  readonly #adoptHooks: AdoptHook[] = [];
  readonly #result = deferred<AdoptedState>();
  #isSettled = false;
  #isAdopting = false;
  #giveChannel: { socket: Socket; maxBytes: number } | undefined;
  #takeChannel: Socket | undefined;
  #log: Logger | undefined;
  #host: HandoverHost | undefined;
  #isOffered = false;
  #hasBegun = false;
  /** The connections a handover moves (ws WebSockets). */
  readonly moves = new SocketMoves();

  /** The attached server, its logger and its shutdown (quiescence before a handover, the drain's tracking). */
  attach(server: Server, log: Logger, host: HandoverHost): void {
    this.#log = log;
    this.#host = host;
    this.moves.attach(server, log, (socket) => host.track(socket));
    // A primary of another handover protocol (or none) never sends this worker a state.
    if (inheritedOptions().handoverProtocol !== STATE_PROTOCOL) this.#settleEmpty('protocol', false);
  }

  offer(hook: () => unknown, options: HandoverOptions): void {
    if (this.#give !== undefined) {
      throw new StickyError(ErrorCode.InvalidState, '`onHandover()` is already registered in this worker.', {
        hint: 'Register one hook that returns the whole slot state (e.g. an object of your Maps).',
      });
    }
    this.#give = { hook, version: options.version };
    this.#offer();
  }

  offerWebSockets(server: WebSocketServerOf<EventEmitter>, hooks: WebSocketHandover<EventEmitter, unknown>): void {
    if (this.moves.hasMovers) {
      throw new StickyError(ErrorCode.InvalidState, '`handOverWebSockets()` is already registered in this worker.', {
        hint: 'Register it once, for the WebSocketServer attached to the worker\'s server.',
      });
    }
    this.moves.registerWebSockets(server, hooks);
    this.#offer();
  }

  /** Tells the primary, once, that a planned replacement of this worker has something to hand over. */
  #offer(): void {
    if (this.#isOffered) return;
    this.#isOffered = true;
    tellPrimary(encodeMessage('sticky:handoverOffer', {}));
  }

  /** `sticky:handoverSocket`: a connection moved here from the predecessor. */
  receiveSocket(payload: RuntimeMessageMap['sticky:handoverSocket'], handle: unknown): void {
    this.moves.receive(payload, handle);
  }

  addAdoptHook(hook: AdoptHook): void {
    this.#adoptHooks.push(hook);
  }

  get adopted(): Promise<AdoptedState> {
    return this.#result.promise;
  }

  /** `sticky:handoverChannel`: this worker's end of the state channel. */
  receiveChannel(role: 'give' | 'take', maxBytes: number, handle: unknown): void {
    if (!(handle instanceof Socket)) return;
    handle.on('error', () => {
      // The other end went away: the reader sees the stream end early, the writer has nobody to tell.
    });
    if (role === 'give') this.#giveChannel = { socket: handle, maxBytes };
    else if (this.#isSettled) handle.destroy();
    else this.#take(handle, maxBytes);
  }

  /** `sticky:handoverBegin`: quiesce for at most `timeout` ms, then hand the state over (once). */
  begin(timeout: number): void {
    if (this.#hasBegun) return;
    this.#hasBegun = true;
    void this.#handOver(timeout);
  }

  /** `sticky:startEmpty`: no state comes (or it came too late: a running adoption finishes, said in the log). */
  startEmpty(reason: EmptyStartReason): void {
    if (this.#isAdopting && !this.#isSettled) {
      const arrivals = this.moves.arrivals;
      this.#log?.warn({ reason, ...arrivals }, 'slot state still being adopted past the primary\'s deadline');
      return;
    }
    this.#settleEmpty(reason, false);
  }

  async #handOver(timeout: number): Promise<void> {
    const channel = this.#giveChannel;
    this.#giveChannel = undefined;
    const startedAt = performance.now();
    // Idle keep-alive connections move at once; the others finish their request first (`Connection: close`).
    await this.#host?.quiesce(timeout, (idle) => this.moves.sendIdle(idle));
    if (channel === undefined) return;
    // A WebSocket gets at least a moment to reach a frame boundary, also when the requests in flight
    // took the whole wait.
    const frameWait = Math.max(MIN_FRAME_WAIT_MS, timeout - (performance.now() - startedAt));
    const moving = await this.moves.prepare(frameWait);
    // The state goes first: it also arrives when moving the connections outlasts the deadline.
    const { header, payload } = await this.#snapshot(channel.maxBytes, moving.count);
    const { socket } = channel;
    socket.write(encodeStateHeader(header));
    if (payload !== undefined) socket.write(payload);
    socket.end();
    if (payload !== undefined) this.#log?.info({ bytes: payload.length }, 'slot state handed over');
    await moving.flush();
  }

  /** The slot state's frame: the hook's value serialised, or why there is none. */
  async #snapshot(maxBytes: number, sockets: number): Promise<{ header: StateHeader; payload?: Buffer }> {
    const base = { protocol: STATE_PROTOCOL, ...this.#version(), sockets };
    if (this.#give === undefined) return { header: { ...base, status: 'noHandover', bytes: 0 } };
    try {
      const payload = serialize(await this.#give.hook());
      if (payload.length <= maxBytes) return { header: { ...base, status: 'ok', bytes: payload.length }, payload };
      this.#log?.warn({ bytes: payload.length, handoverMaxBytes: maxBytes }, 'slot state too large to hand over');
      return { header: { ...base, status: 'tooLarge', bytes: payload.length } };
    } catch (error) {
      this.#log?.error({ err: error }, 'handover hook failed: the successor starts empty');
      return { header: { ...base, status: 'handoverFailed', bytes: 0 } };
    }
  }

  #version(): { version?: string } {
    const version = this.#give?.version;
    return version === undefined ? {} : { version };
  }

  #take(socket: Socket, maxBytes: number): void {
    this.#takeChannel = socket;
    let pending: Buffer = Buffer.alloc(0);
    let header: StateHeader | undefined;
    const chunks: Buffer[] = [];
    let size = 0;
    const refuse = (reason: EmptyStartReason): void => this.#settleEmpty(reason, true);
    socket.on('data', (chunk: Buffer) => {
      if (this.#isSettled || this.#isAdopting) return;
      if (header === undefined) {
        pending = Buffer.concat([pending, chunk]);
        const read = readStateHeader(pending);
        if (read.kind === 'more') return;
        if (read.kind === 'invalid' || read.header.protocol !== STATE_PROTOCOL) return refuse('protocol');
        header = read.header;
        if (header.status !== 'ok') return void this.#complete(header, undefined, header.status);
        if (header.bytes > maxBytes) return void this.#complete(header, undefined, 'tooLarge');
        chunk = pending.subarray(read.used);
      }
      chunks.push(chunk);
      size += chunk.length;
      if (size > header.bytes) return refuse('protocol');
      if (size === header.bytes) void this.#complete(header, Buffer.concat(chunks, size), undefined);
    });
    socket.on('close', () => {
      if (!this.#isAdopting) refuse('predecessorGone');
    });
  }

  /**
   * The frame is read: adopt the state (or not, for `emptyReason`), open the way for the connections
   * the predecessor moves, then tell the primary to route this worker.
   */
  async #complete(
    header: StateHeader, bytes: Buffer | undefined, emptyReason: EmptyStartReason | undefined,
  ): Promise<void> {
    this.#isAdopting = true;
    this.#takeChannel?.destroy();
    const result = bytes === undefined ? emptyReason ?? 'handoverFailed' : await this.#adopt(bytes, header);
    // The connections the predecessor moves come through the primary: the slot is routed here once
    // they all arrived (the primary's deadline bounds the wait), so that nothing else is sent on this
    // worker's channel meanwhile. Each one waited, paused, for the state to be adopted.
    await this.moves.received(header.sockets ?? 0, MAX_SOCKET_WAIT_MS);
    await this.moves.open();
    const sockets = Math.max(0, (header.sockets ?? 0) - this.moves.forgone);
    if (typeof result === 'string') {
      this.#settleEmpty(result, true, sockets);
      return;
    }
    if (this.#isSettled) return;
    this.#isSettled = true;
    this.#result.resolve(result);
    this.#log?.info({ bytes: result.bytes, sockets }, 'slot state adopted');
    tellPrimary(encodeMessage('sticky:adopted', { isAdopted: true, bytes: result.bytes, sockets }));
  }

  /** Runs the application's adopt hooks on the state; the adopted state, or why it was not. */
  async #adopt(bytes: Buffer, header: StateHeader): Promise<AdoptedState & { isAdopted: true } | EmptyStartReason> {
    let state: unknown;
    try {
      state = deserialize(bytes);
    } catch (error) {
      this.#log?.error({ err: error }, 'slot state could not be read: starting empty');
      return 'handoverFailed';
    }
    const info: AdoptInfo = { bytes: bytes.length, version: header.version };
    for (const hook of this.#adoptHooks) {
      try {
        if ((await hook(state, info)) === false) return 'refused';
      } catch (error) {
        this.#log?.error({ err: error }, 'adopt hook failed: starting empty');
        return 'adoptFailed';
      }
    }
    return { isAdopted: true, state, bytes: bytes.length, version: header.version };
  }

  /** Starts without state; `shouldReport`: the primary waits for this worker's answer. */
  #settleEmpty(reason: EmptyStartReason, shouldReport: boolean, sockets = 0): void {
    if (this.#isSettled) return;
    this.#isSettled = true;
    this.#takeChannel?.destroy();
    // Connections moved here (or still coming, past a deadline) are adopted all the same.
    void this.moves.open();
    this.#result.resolve({ isAdopted: false, state: undefined, reason });
    if (!QUIET_REASONS.has(reason)) {
      this.#log?.[reason === 'crashed' ? 'info' : 'warn']({ reason }, 'starting without slot state');
    }
    if (shouldReport) {
      tellPrimary(encodeMessage('sticky:adopted', { isAdopted: false, reason, bytes: 0, sockets }));
    }
  }
}
