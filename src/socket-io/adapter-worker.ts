import { randomBytes } from 'node:crypto';
import {
  Adapter, ClusterAdapterWithHeartbeat,
  type BroadcastOptions, type ClusterMessage, type ClusterResponse, type MessageType,
  type Session,
} from 'socket.io-adapter';
import { workerBus, type BusSender, type WorkerBus } from '../ipc/index.js';
import { resolveAdapterOptions, type ResolvedAdapterOptions, type StickyAdapterOptions } from './adapter-options.js';
import { SessionLog, type SessionLogState } from './session-log.js';

// A Socket.IO adapter for the workers of a sticky-runtime cluster: broadcasts, room changes and
// fetchSockets() travel between workers over the application bus (through the primary, nothing to set
// up there), as socket.io-adapter's ClusterAdapter protocol; and, unlike a plain cluster adapter, it
// implements connection state recovery: each worker keeps its own sessions and packet log (SessionLog),
// which the slot state handover moves to the slot's next worker (handover-worker.ts).

/** The cluster protocol's message types this adapter reads (socket.io-adapter's numbering). */
const BROADCAST = 3 as MessageType.BROADCAST;
const ADAPTER_CLOSE = 13 as MessageType.ADAPTER_CLOSE;
const MESSAGE_CHANNEL = 'socket.io:adapter';
const RESPONSE_CHANNEL = 'socket.io:response';

/** A cluster message with the offset under which a broadcast was logged for recovery. */
type WireMessage = ClusterMessage & { o?: string };

interface AdapterBus {
  worker: { messages: { [MESSAGE_CHANNEL]: WireMessage; [RESPONSE_CHANNEL]: ClusterResponse } };
}

/** What the adapter reads of its Socket.IO namespace. */
interface NamespaceLike {
  readonly name: string;
  readonly server: { readonly opts: { readonly connectionStateRecovery?: { maxDisconnectionDuration?: number } } };
}

const DONE = Promise.resolve();

interface OutgoingPacket { type: number; data: unknown[]; id?: number }

/** States adopted before their namespace existed, per Socket.IO server: taken by the namespace's adapter. */
const pendingStates = new WeakMap<object, Map<string, SessionLogState>>();

export function keepPendingState(server: object, namespace: string, state: SessionLogState): void {
  let pending = pendingStates.get(server);
  if (pending === undefined) pendingStates.set(server, pending = new Map());
  pending.set(namespace, state);
}

export class StickyClusterAdapter extends ClusterAdapterWithHeartbeat {
  readonly #log: SessionLog | undefined;
  readonly #bus: WorkerBus<AdapterBus>;
  /** The worker of each adapter uid that wrote to this one: where its answers go. */
  readonly #peers = new Map<string, number>();
  readonly #offsetPrefix = `${randomBytes(6).toString('base64url')}.`;
  #offsets = 0;
  #sweep: NodeJS.Timeout | undefined;
  #isClosed = false;

  /** @internal use `createAdapter()` */
  constructor(nsp: unknown, options: ResolvedAdapterOptions) {
    super(nsp, { heartbeatInterval: options.heartbeatInterval, heartbeatTimeout: options.heartbeatTimeout });
    this.#bus = workerBus<AdapterBus>();
    const namespace = nsp as NamespaceLike;
    const recovery = namespace.server.opts.connectionStateRecovery;
    if (recovery) {
      const maxDisconnection = recovery.maxDisconnectionDuration ?? 2 * 60_000;
      this.#log = new SessionLog({ maxDisconnection, maxPackets: options.maxPackets });
      this.#sweep = setInterval(() => this.#log?.sweep(Date.now()), Math.min(maxDisconnection, 60_000)).unref();
      const pending = pendingStates.get(namespace.server)?.get(namespace.name);
      if (pending !== undefined) {
        pendingStates.get(namespace.server)?.delete(namespace.name);
        this.#log.adopt(pending, Date.now());
      }
    }
    this.#bus.on(MESSAGE_CHANNEL, this.#onWire);
    this.#bus.on(RESPONSE_CHANNEL, this.#onResponse);
  }

  /** True when this namespace keeps sessions (the server has `connectionStateRecovery`). */
  get isRecovering(): boolean {
    return this.#log !== undefined;
  }

  override persistSession(session: { sid: string; pid: string; rooms: string[]; data: unknown }): void {
    this.#log?.persist(session, Date.now());
  }

  override restoreSession(pid: string, offset: string): Promise<Session> {
    // Socket.IO takes null for "nothing to restore"; the declared type leaves it out.
    return Promise.resolve((this.#log?.restore(pid, offset, Date.now()) ?? null) as Session);
  }

  /**
   * A packet a client may miss gets its offset, is logged, sent to the other workers with it and
   * delivered here, in that order and in one turn: the log's order is the order this worker's clients
   * see. Anything else goes the cluster adapter's way.
   */
  override broadcast(packet: OutgoingPacket, opts: BroadcastOptions): Promise<void> {
    const log = this.#log;
    if (log === undefined || !isRecoverable(packet, opts)) return super.broadcast(packet, opts);
    const offset = `${this.#offsetPrefix}${(this.#offsets++).toString(36)}`;
    const rooms = [...opts.rooms];
    const except = [...(opts.except ?? [])];
    if (opts.flags?.local !== true) {
      const copy = { ...packet, data: [...packet.data] };
      const flags = opts.flags ?? {};
      const data = { packet: copy, opts: { rooms, except, flags } };
      this.#send({ uid: this.uid, nsp: this.nsp.name as string, type: BROADCAST, data, o: offset });
    }
    packet.data.push(offset);
    log.record({ id: offset, rooms, except, data: packet.data, emittedAt: Date.now() });
    Adapter.prototype.broadcast.call(this, packet, opts);
    return DONE;
  }

  /** Hands this namespace's sessions and packet log over, and leaves the cluster (the worker retires). */
  takeState(): SessionLogState | undefined {
    const state = this.#log?.exportState();
    this.#leave();
    return state;
  }

  adoptState(state: SessionLogState): void {
    this.#log?.adopt(state, Date.now());
  }

  /** Socket.IO closes the adapter (a namespace removed, the server closed). */
  override close(): void {
    this.#leave();
    this.#bus.off(MESSAGE_CHANNEL, this.#onWire);
    this.#bus.off(RESPONSE_CHANNEL, this.#onResponse);
  }

  /**
   * Tells the other workers this adapter is gone. Its listeners stay, ignoring what comes: a retiring
   * worker still gets their broadcasts until it exits, and a bus message without a listener counts as dropped.
   */
  #leave(): void {
    if (this.#isClosed) return;
    this.#isClosed = true;
    super.close();
    clearInterval(this.#sweep);
  }

  protected override doPublish(message: ClusterMessage): Promise<string> {
    this.#send(message);
    return Promise.resolve('');
  }

  protected override doPublishResponse(requesterUid: string, response: ClusterResponse): Promise<void> {
    const workerId = this.#peers.get(requesterUid);
    // An answer goes only to a worker that asked; one whose worker is unknown has nobody to reach.
    if (workerId === undefined) return Promise.resolve();
    return this.#bus.sendTo({ workerId }, RESPONSE_CHANNEL, response).catch(() => {
      // The requester's worker is gone: its request times out on its side, as Socket.IO documents.
    });
  }

  #send(message: WireMessage): void {
    this.#bus.broadcast(MESSAGE_CHANNEL, message).catch(() => {
      // The channel to the primary is closed: the worker is leaving and has no peer left to tell.
    });
  }

  #onWire = (message: unknown, from: BusSender): void => {
    if (this.#isClosed || !hasHeader(message) || message.nsp !== this.nsp.name || message.uid === this.uid) return;
    if (from.kind === 'worker') this.#peers.set(message.uid, from.workerId);
    if (message.type === ADAPTER_CLOSE) this.#peers.delete(message.uid);
    const offset = typeof message.o === 'string' ? message.o : undefined;
    if (offset !== undefined && this.#log !== undefined && message.type === BROADCAST
      && message.data.requestId === undefined && Array.isArray((message.data.packet as OutgoingPacket).data)) {
      const { opts } = message.data;
      // The same data the cluster adapter delivers: the packet's arguments, then the offset.
      const data = [...(message.data.packet as OutgoingPacket).data, offset];
      this.#log.record({ id: offset, rooms: opts.rooms, except: opts.except, data, emittedAt: Date.now() });
    }
    this.onMessage(message, offset);
  };

  #onResponse = (response: unknown): void => {
    if (this.#isClosed || !hasHeader(response) || response.nsp !== this.nsp.name) return;
    this.onResponse(response as unknown as ClusterResponse);
  };
}

/** Socket.IO's rule: event packets without an acknowledgement, not volatile, are kept for recovery. */
function isRecoverable(packet: OutgoingPacket, opts: BroadcastOptions): boolean {
  return packet.type === 2 && packet.id === undefined && opts.flags?.volatile === undefined &&
    Array.isArray(packet.data);
}

/** The fields every cluster message and response has; the cluster adapter checks the rest by type. */
function hasHeader(value: unknown): value is WireMessage {
  if (value === null || typeof value !== 'object') return false;
  const message = value as Partial<Record<'uid' | 'nsp' | 'type', unknown>>;
  return typeof message.uid === 'string' && typeof message.nsp === 'string' && typeof message.type === 'number';
}

/**
 * The Socket.IO adapter for sticky-runtime workers: pass it as `new Server({ adapter: createAdapter() })`.
 * Workers broadcast to each other over the application bus; with `connectionStateRecovery`, each keeps
 * its clients' sessions and missed packets, and `handOverSessions(io)` moves them to the slot's next
 * worker on a reload.
 * @throws {StickyError} `STICKY_ERR_INVALID_OPTION` for an unknown or invalid option; the adapter,
 * made by Socket.IO, throws `STICKY_ERR_WRONG_PROCESS` outside a worker.
 */
export function createAdapter(options: StickyAdapterOptions = {}): (nsp: unknown) => StickyClusterAdapter {
  const resolved = resolveAdapterOptions(options);
  // Socket.IO calls it with `new`: a plain function (an arrow function cannot be constructed).
  return function stickyAdapter(nsp: unknown) {
    return new StickyClusterAdapter(nsp, resolved);
  };
}
