// The clients of bench/handover.mjs, all on loopback: K held ws WebSockets (one source address each),
// pingers (ws clients sending a numbered message every few ms, recording the longest wait for an echo)
// and a new-connection probe (a fresh HTTP connection every few ms, recording the longest wait for its
// answer). The pingers and the probe measure over windows (`begin()` … `end()`): one reload each.
import net from 'node:net';
import { once } from 'node:events';
import WebSocket from 'ws';

/** Source address of held socket i: 127.1.x.y, one address per socket (10,000 in 127.1.0.2 … 127.1.39.251). */
export const heldAddress = (i) => `127.1.${Math.floor(i / 250)}.${(i % 250) + 2}`;
/** Source address of pinger i (127.2.0.x) and of the i-th probe connection (127.3.0.x, in turn). */
const pingerAddress = (i) => `127.2.0.${(i % 250) + 2}`;
const probeAddress = (i) => `127.3.0.${(i % 250) + 2}`;

function connectWebSocket(port, localAddress, id) {
  const options = { localAddress, perMessageDeflate: false, handshakeTimeout: 30_000 };
  return new WebSocket(`ws://127.0.0.1:${port}/?id=${id}`, options);
}

/** Opens `count` WebSockets, `batch` at a time; `closes` counts every close a client saw, `closeCodes` by code. */
export async function openHeld(port, count, batch = 250) {
  const held = { sockets: [], closes: 0, errors: 0, closeCodes: {} };
  for (let first = 0; first < count; first += batch) {
    const opening = [];
    for (let i = first; i < Math.min(count, first + batch); i++) {
      const ws = connectWebSocket(port, heldAddress(i), i);
      ws.on('close', (code) => {
        held.closes++;
        held.closeCodes[code] = (held.closeCodes[code] ?? 0) + 1;
      });
      ws.on('error', () => held.errors++);
      held.sockets.push(ws);
      opening.push(once(ws, 'open'));
    }
    await Promise.all(opening);
  }
  return held;
}

/**
 * Sends one message on every open held socket and waits (at most `ms`) for the echoes: how many came,
 * and from which worker pids.
 */
export async function checkHeld(held, ms = 30_000) {
  const pids = new Map();
  let answered = 0;
  // A socket that closed answers nothing: only the open ones are waited for (the closes are counted).
  const open = held.sockets.filter((ws) => ws.readyState === WebSocket.OPEN);
  if (open.length === 0) return { answered, pids };
  let onAll;
  const all = new Promise((resolve) => { onAll = resolve; });
  const listeners = open.map((ws) => {
    const listener = (data) => {
      const pid = String(data).split(':', 1)[0];
      pids.set(pid, (pids.get(pid) ?? 0) + 1);
      if (++answered === open.length) onAll();
    };
    ws.once('message', listener);
    ws.send('check');
    return listener;
  });
  let timer;
  await Promise.race([all, new Promise((resolve) => { timer = setTimeout(resolve, ms); })]);
  clearTimeout(timer);
  open.forEach((ws, i) => ws.off('message', listeners[i]));
  return { answered, pids };
}

export function closeHeld(held) {
  for (const ws of held.sockets) ws.terminate();
}

/** ws clients sending `p<n>` every `everyMs`; checks each echo's number (none lost, none repeated). */
export class Pingers {
  #clients = [];
  #window;
  lost = 0;
  duplicates = 0;
  closes = 0;

  async start(port, count, everyMs) {
    for (let i = 0; i < count; i++) {
      const ws = connectWebSocket(port, pingerAddress(i), `pinger-${i}`);
      const client = { ws, sent: 0, expect: 1, lastEcho: 0 };
      ws.on('close', () => this.closes++);
      ws.on('error', () => undefined);
      ws.on('message', (data) => this.#echo(client, String(data)));
      await once(ws, 'open');
      client.lastEcho = performance.now();
      client.timer = setInterval(() => {
        if (ws.readyState === WebSocket.OPEN) ws.send(`p${++client.sent}`);
      }, everyMs);
      this.#clients.push(client);
    }
  }

  #echo(client, text) {
    const at = performance.now();
    const n = Number(text.slice(text.indexOf(':p') + 2));
    if (n < client.expect) this.duplicates++;
    else if (n > client.expect) this.lost += n - client.expect;
    client.expect = Math.max(client.expect, n + 1);
    const window = this.#window;
    if (window !== undefined) {
      window.maxGapMs = Math.max(window.maxGapMs, at - client.lastEcho);
      if (window.endAt !== undefined && at > window.endAt) window.after.add(client);
      if (window.after.size >= this.#openCount()) window.done();
    }
    client.lastEcho = at;
  }

  /** Pingers whose socket is open: a closed one (counted in `closes`) waits for nothing. */
  #openCount() {
    return this.#clients.filter((client) => client.ws.readyState === WebSocket.OPEN).length;
  }

  begin() {
    this.#window = { maxGapMs: 0, endAt: undefined, after: new Set(), done: () => undefined };
  }

  /** Ends the window once every pinger got an echo after now (at most `ms`); the longest wait for one. */
  async end(ms = 10_000) {
    const window = this.#window;
    window.endAt = performance.now();
    let timer;
    if (this.#openCount() > 0) {
      await Promise.race([
        new Promise((resolve) => { window.done = resolve; }),
        new Promise((resolve) => { timer = setTimeout(resolve, ms); }),
      ]);
    }
    clearTimeout(timer);
    this.#window = undefined;
    // A pinger still waiting (its socket open): its wait so far.
    for (const client of this.#clients) {
      if (window.after.has(client) || client.ws.readyState !== WebSocket.OPEN) continue;
      window.maxGapMs = Math.max(window.maxGapMs, performance.now() - client.lastEcho);
    }
    return window.maxGapMs;
  }

  stop() {
    for (const client of this.#clients) {
      clearInterval(client.timer);
      client.ws.terminate();
    }
  }
}

const PROBE_REQUEST = Buffer.from('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n', 'latin1');

/**
 * Opens a fresh connection every `everyMs` (at most `maxInFlight` at once; a tick over it is skipped and
 * counted) with one `GET /`; in a window, the longest time from connect() to the answer's first bytes
 * of the connections opened in it, and every failure.
 */
export class ConnectProbe {
  #timer;
  #next = 0;
  #inFlight = 0;
  #window;
  #port;
  #maxInFlight;
  skipped = 0;

  start(port, everyMs, maxInFlight = 200) {
    this.#port = port;
    this.#maxInFlight = maxInFlight;
    this.#timer = setInterval(() => this.#open(), everyMs);
  }

  #open() {
    if (this.#inFlight >= this.#maxInFlight) {
      this.skipped++;
      return;
    }
    const window = this.#window;
    const startedAt = performance.now();
    this.#inFlight++;
    if (window !== undefined) window.opened++;
    const socket = net.connect({ port: this.#port, host: '127.0.0.1', localAddress: probeAddress(this.#next++) });
    let answer = '';
    let answeredAt;
    socket.setTimeout(60_000, () => socket.destroy(new Error('timeout')));
    socket.on('connect', () => socket.write(PROBE_REQUEST));
    socket.on('data', (chunk) => {
      answeredAt ??= performance.now();
      answer += chunk.toString('latin1');
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.#inFlight--;
      if (window === undefined) return;
      window.pending--;
      if (answer.startsWith('HTTP/1.1 200')) window.maxWaitMs = Math.max(window.maxWaitMs, answeredAt - startedAt);
      else window.failed++;
      if (window.pending === 0 && window.isEnded) window.done();
    });
    if (window !== undefined) window.pending++;
  }

  begin() {
    this.#window = { opened: 0, pending: 0, failed: 0, maxWaitMs: 0, isEnded: false, done: () => undefined };
  }

  /** Ends the window; waits (at most `ms`) for its connections: { opened, failed, maxWaitMs }. */
  async end(ms = 60_000) {
    const window = this.#window;
    this.#window = undefined;
    window.isEnded = true;
    let timer;
    if (window.pending > 0) {
      await Promise.race([
        new Promise((resolve) => { window.done = resolve; }),
        new Promise((resolve) => { timer = setTimeout(resolve, ms); }),
      ]);
    }
    clearTimeout(timer);
    return { opened: window.opened, failed: window.failed + window.pending, maxWaitMs: window.maxWaitMs };
  }

  stop() {
    clearInterval(this.#timer);
  }
}
