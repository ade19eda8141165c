// An HTTP/1.1 load client that attributes every response to its source address and worker, for
// bench/pm2-side-by-side.mjs. The C generator counts responses per worker index and errors in total;
// stickiness needs (source address, worker pid) per response and failures per reload, and a failure
// must be a real one: this client honours `Connection: close` (it sends nothing more on that
// connection and opens a new one), so a graceful close during a reload is not counted against anyone.
//
// Each source address runs one request at a time, back to back (or `paceMs` apart): keep-alive sources
// keep one persistent connection, the others open a new connection per request (`Connection: close`).
// Failures by kind: `reset` (ECONNRESET, EPIPE), `refused`, `closed` (the server closed with a request
// outstanding), `timeout` (no complete response within `timeoutMs`), `status` (not 200), `other`.
// Loopback only: sources and target must lie in 127.0.0.0/8.
import net from 'node:net';

const HEAD_END = Buffer.from('\r\n\r\n');
const isLoopback = (address) => /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(address);

/** One response at the start of `buffer` (Content-Length framing): { length, status, close, worker } or undefined. */
function parseResponse(buffer) {
  const end = buffer.indexOf(HEAD_END);
  if (end === -1) return undefined;
  const head = buffer.toString('latin1', 0, end).toLowerCase();
  const lengthMatch = /\r\ncontent-length:\s*(\d+)/.exec(head);
  const length = end + 4 + (lengthMatch === null ? 0 : Number(lengthMatch[1]));
  if (buffer.length < length) return undefined;
  return {
    length,
    status: Number(head.slice(9, 12)),
    close: /\r\nconnection:\s*close/.test(head),
    worker: Number(/\r\nx-worker:\s*(\d+)/.exec(head)?.[1] ?? Number.NaN),
  };
}

function failureKind(code, timedOut) {
  if (timedOut) return 'timeout';
  if (code === undefined) return 'closed';
  if (code === 'ECONNRESET' || code === 'EPIPE') return 'reset';
  if (code === 'ECONNREFUSED') return 'refused';
  return 'other';
}

export class AttributedClient {
  /**
   * Where responses and failures go: `sink.ok`, `sink.failures` (kind → count), and, while
   * `sink.attribute` is true, `sink.pids` (source → Set of worker pids). Replaced with `use(sink)`.
   */
  sink = AttributedClient.newSink(false);
  /** source → Set of every worker pid that answered it, over the client's whole life. */
  allPids = new Map();
  #running = true;
  #open = new Set();
  #onIdle;

  static newSink(attribute) {
    return { ok: 0, failures: {}, attribute, pids: new Map() };
  }

  constructor({ host, port, keepAliveSources, closeSources, paceMs = 0, timeoutMs = 10_000 }) {
    for (const address of [host, ...keepAliveSources, ...closeSources]) {
      if (!isLoopback(address)) throw new Error(`${address} is not a loopback address`);
    }
    Object.assign(this, { host, port, paceMs, timeoutMs });
    for (const source of keepAliveSources) this.#connect(source, true);
    for (const source of closeSources) this.#connect(source, false);
  }

  use(sink) {
    this.sink = sink;
  }

  #connect(source, keepAlive) {
    const request = Buffer.from(`GET / HTTP/1.1\r\nHost: ${this.host}\r\n${keepAlive ? '' : 'Connection: close\r\n'}\r\n`, 'latin1');
    const socket = net.connect({ host: this.host, port: this.port, localAddress: source });
    socket.setNoDelay(true);
    this.#open.add(socket);
    const state = { outstanding: false, lastClose: false, error: undefined, buffer: undefined, timedOut: false, timer: undefined };
    const send = () => {
      state.outstanding = true;
      state.timer = setTimeout(() => {
        state.timedOut = true;
        socket.destroy();
      }, this.timeoutMs);
      socket.write(request);
    };
    const sendLater = () => (this.paceMs > 0 ? setTimeout(() => this.#running && !socket.destroyed && send(), this.paceMs) : send());
    socket.on('error', (error) => { state.error = error.code ?? error.message; });
    socket.on('data', (chunk) => {
      let buffer = state.buffer === undefined ? chunk : Buffer.concat([state.buffer, chunk]);
      let response;
      while ((response = parseResponse(buffer)) !== undefined) {
        buffer = buffer.subarray(response.length);
        clearTimeout(state.timer);
        state.outstanding = false;
        state.lastClose = response.close;
        if (response.status === 200) this.#record(source, response.worker);
        else this.#fail('status');
      }
      state.buffer = buffer.length === 0 ? undefined : buffer;
      if (state.outstanding || !keepAlive || state.lastClose) return; // the server closes this one
      if (this.#running) sendLater();
      else socket.end();
    });
    socket.on('close', () => {
      clearTimeout(state.timer);
      this.#open.delete(socket);
      const failed = state.outstanding;
      if (failed) this.#fail(failureKind(state.error, state.timedOut));
      if (!this.#running) {
        if (this.#open.size === 0) this.#onIdle?.();
        return;
      }
      // After a failure, a short pause: a refused port must not turn into a busy loop.
      if (failed) setTimeout(() => this.#running && this.#connect(source, keepAlive), 10);
      else this.#connect(source, keepAlive);
    });
    send();
  }

  #record(source, pid) {
    const sink = this.sink;
    sink.ok++;
    let all = this.allPids.get(source);
    if (all === undefined) this.allPids.set(source, (all = new Set()));
    all.add(pid);
    if (!sink.attribute) return;
    let pids = sink.pids.get(source);
    if (pids === undefined) sink.pids.set(source, (pids = new Set()));
    pids.add(pid);
  }

  #fail(kind) {
    this.sink.failures[kind] = (this.sink.failures[kind] ?? 0) + 1;
  }

  /** Stops sending; requests in flight get up to `ms` to finish, then their connections are destroyed. */
  async stop(ms = 5_000) {
    this.#running = false;
    if (this.#open.size === 0) return;
    const idle = new Promise((resolve) => { this.#onIdle = resolve; });
    let timer;
    const limit = new Promise((resolve) => { timer = setTimeout(resolve, ms); });
    await Promise.race([idle, limit]).finally(() => clearTimeout(timer));
    for (const socket of this.#open) socket.destroy();
  }
}

/**
 * Requests in flight for a stop: `count` requests to GET /slow?ms=…, one per source, Connection: close.
 * Resolves `arrived` once every worker has sent the head and first line (each request is being served);
 * `results` resolves to one { ok, kind } per request: ok when the whole chunked body arrived.
 */
export function slowRequests({ host, port, sources, ms, timeoutMs = ms + 30_000 }) {
  for (const address of [host, ...sources]) if (!isLoopback(address)) throw new Error(`${address} is not a loopback address`);
  const arrivals = [];
  const results = sources.map((source) => new Promise((resolve) => {
    let text = '';
    let error;
    let markArrived;
    arrivals.push(new Promise((resolveArrival) => { markArrived = resolveArrival; }));
    const socket = net.connect({ host, port, localAddress: source });
    const timer = setTimeout(() => socket.destroy(new Error('timeout')), timeoutMs);
    socket.setEncoding('latin1');
    socket.on('connect', () => socket.write(`GET /slow?ms=${ms} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`));
    socket.on('data', (chunk) => {
      text += chunk;
      if (text.includes('started\n')) markArrived(true);
    });
    socket.on('error', (e) => { error = e.code ?? e.message; });
    socket.on('close', () => {
      clearTimeout(timer);
      markArrived(false);
      const ok = text.startsWith('HTTP/1.1 200') && text.includes('done\n') && text.endsWith('\r\n0\r\n\r\n');
      resolve({ ok, kind: ok ? undefined : failureKind(error, error === 'timeout') });
    });
  }));
  return { arrived: Promise.all(arrivals).then((list) => list.every(Boolean)), results: Promise.all(results) };
}
