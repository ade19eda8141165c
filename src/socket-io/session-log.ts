// What Socket.IO's connection state recovery needs in one worker, for one namespace: the sessions of
// clients whose connection dropped (id, rooms, data) and the log of broadcast packets they may have
// missed, each packet under its offset. Pure: the adapter feeds it, the slot state handover moves it
// (exportState in the retiring worker, adopt in its successor), the clock comes from the caller.

/** A disconnected client's session, as Socket.IO persists it. */
export interface StoredSession {
  readonly sid: string;
  readonly pid: string;
  readonly rooms: readonly string[];
  readonly data: unknown;
  readonly disconnectedAt: number;
}

/** A broadcast packet under its offset (the last element of `data`), with its audience. */
export interface LoggedPacket {
  readonly id: string;
  readonly rooms: readonly string[];
  readonly except: readonly string[];
  readonly data: readonly unknown[];
  readonly emittedAt: number;
}

/** What a namespace's log hands to the slot's next worker. */
export interface SessionLogState {
  readonly sessions: readonly StoredSession[];
  readonly packets: readonly LoggedPacket[];
}

/** A session found again, with the packets its client missed, in the order they were sent. */
export interface RestoredSession {
  sid: string;
  pid: string;
  rooms: string[];
  data: unknown;
  missedPackets: unknown[][];
}

export interface SessionLogLimits {
  /** Ms a session (and a packet) is kept after the client left (Socket.IO's `maxDisconnectionDuration`). */
  readonly maxDisconnection: number;
  /** Packets kept at most; the oldest go first. */
  readonly maxPackets: number;
}

export class SessionLog {
  readonly #limits: SessionLogLimits;
  readonly #sessions = new Map<string, StoredSession>();
  /** Packets from #head on are live; the dead prefix is cut off in one go once it is large. */
  #packets: LoggedPacket[] = [];
  #head = 0;

  constructor(limits: SessionLogLimits) {
    this.#limits = limits;
  }

  get sessionCount(): number {
    return this.#sessions.size;
  }

  get packetCount(): number {
    return this.#packets.length - this.#head;
  }

  persist(session: { sid: string; pid: string; rooms: string[]; data: unknown }, now: number): void {
    this.#sessions.set(session.pid, { ...session, disconnectedAt: now });
  }

  record(packet: LoggedPacket): void {
    this.#packets.push(packet);
    if (this.#packets.length - this.#head > this.#limits.maxPackets) this.#drop(1);
  }

  /**
   * The session of `pid` and what its client missed after `offset`, or null: unknown or expired
   * session, or an offset no longer (or never) in the log. A session is restored once.
   */
  restore(pid: string, offset: string, now: number): RestoredSession | null {
    const session = this.#sessions.get(pid);
    if (session === undefined) return null;
    this.#sessions.delete(pid);
    if (session.disconnectedAt + this.#limits.maxDisconnection < now) return null;
    const index = this.#indexOf(offset);
    if (index < 0) return null;
    const rooms = [...session.rooms];
    const missedPackets: unknown[][] = [];
    for (let i = index + 1; i < this.#packets.length; i++) {
      const packet = this.#packets[i] as LoggedPacket;
      if (reaches(packet, rooms)) missedPackets.push([...packet.data]);
    }
    return { sid: session.sid, pid: session.pid, rooms, data: session.data, missedPackets };
  }

  /** Forgets sessions and packets older than `maxDisconnection`. */
  sweep(now: number): void {
    const threshold = now - this.#limits.maxDisconnection;
    for (const [pid, session] of this.#sessions) if (session.disconnectedAt < threshold) this.#sessions.delete(pid);
    let expired = 0;
    const packets = this.#packets;
    const isExpired = (index: number): boolean => (packets[index] as LoggedPacket).emittedAt < threshold;
    while (this.#head + expired < packets.length && isExpired(this.#head + expired)) expired++;
    this.#drop(expired);
  }

  exportState(): SessionLogState {
    return { sessions: [...this.#sessions.values()], packets: this.#packets.slice(this.#head) };
  }

  /**
   * Takes a predecessor's state: its packets come first, then the ones this log recorded meanwhile that
   * it did not have (a broadcast reaches both workers while the slot changes hands); its sessions join
   * this log's, which win for the same client.
   */
  adopt(state: SessionLogState, now: number): void {
    const adopted = new Set(state.packets.map((packet) => packet.id));
    const own = this.#packets.slice(this.#head).filter((packet) => !adopted.has(packet.id));
    this.#packets = [...state.packets, ...own];
    this.#head = 0;
    for (const session of state.sessions) {
      if (!this.#sessions.has(session.pid)) this.#sessions.set(session.pid, session);
    }
    this.sweep(now);
    const excess = this.packetCount - this.#limits.maxPackets;
    if (excess > 0) this.#drop(excess);
  }

  /** Newest first: a reconnecting client usually missed only the last few packets. */
  #indexOf(offset: string): number {
    for (let i = this.#packets.length - 1; i >= this.#head; i--) {
      if ((this.#packets[i] as LoggedPacket).id === offset) return i;
    }
    return -1;
  }

  #drop(count: number): void {
    if (count <= 0) return;
    this.#head += count;
    // Amortised: the array is cut once the dead prefix is as long as the live part.
    if (this.#head > 64 && this.#head * 2 > this.#packets.length) {
      this.#packets = this.#packets.slice(this.#head);
      this.#head = 0;
    }
  }
}

/** Socket.IO's audience rule: any of the packet's rooms (or none given), and none of its exceptions. */
function reaches(packet: LoggedPacket, rooms: readonly string[]): boolean {
  const isIncluded = packet.rooms.length === 0 || rooms.some((room) => packet.rooms.includes(room));
  return isIncluded && rooms.every((room) => !packet.except.includes(room));
}
