// Load generator, run as a child process of the bench and driven over IPC. Plain node:net with a
// minimal HTTP/1.1 response reader, so that the generator costs as little CPU as possible.
//
// Commands (each answered with { id, ... }):
//   { cmd: 'start', kind: 'close' | 'keepalive', ...config }  starts a load that runs until 'stop'
//   { cmd: 'snapshot' }   counters now: { completed, errors, byWorker, micros (own CPU), at (ms) }
//   { cmd: 'stop' }       stops the load, waits (bounded) for requests in flight, closes everything
//   { cmd: 'storm', n, ...config }  opens n connections at once, each with one request; answers when
//                                   every one finished or failed: { completed, errors, elapsed }
//   { cmd: 'burst', n, ...config }  opens n connections at once and sends nothing; answers when every
//                                   one received "ok" and closed, or failed: { completed, errors, elapsed }
// config: { port, host, addresses: string[], concurrency, drainMs, paths?: string[], header? } (the request
// target of the i-th source is paths[i % paths.length]; '/' by default). header: 'xff' (default,
// X-Forwarded-For: <source>), 'none', or 'proxy1' / 'proxy2' (a PROXY v1 / v2 header naming the source
// starts each connection).
// Only loopback (127.0.0.0/8) is accepted as a target or source address.
import net from 'node:net';

const MAX_LIFETIME_MS = Number(process.env.BENCH_MAX_LIFETIME_MS ?? 15 * 60_000);
const STORM_TIMEOUT_MS = Number(process.env.BENCH_STORM_TIMEOUT_MS ?? 60_000);

const isLoopback = (address) => net.isIPv4(address) && address.startsWith('127.');

function checkConfig(config) {
  if (!isLoopback(config.host)) throw new Error(`target ${config.host} is not a loopback address`);
  for (const address of config.addresses) {
    if (!isLoopback(address)) throw new Error(`source ${address} is not a loopback address`);
  }
}

function requestFor(source, keepAlive, path = '/', header = 'xff') {
  // x-forwarded-for names the source address, so header mode routes exactly like IP mode and both
  // spread the clients the same way.
  return Buffer.from(
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${header === 'xff' ? `X-Forwarded-For: ${source}\r\n` : ''}` +
    (keepAlive ? '\r\n' : 'Connection: close\r\n\r\n'),
    'latin1',
  );
}

// The v2 signature, then version 2 + PROXY, TCP over IPv4, 12 bytes of addresses and ports.
const PROXY_V2 = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x21, 0x11, 0, 12]);

/** The PROXY header of a connected socket, naming its source address and port. */
function proxyHeader(socket, version) {
  if (version === 'proxy1') {
    const { localAddress, remoteAddress, localPort, remotePort } = socket;
    return Buffer.from(`PROXY TCP4 ${localAddress} ${remoteAddress} ${localPort} ${remotePort}\r\n`);
  }
  const header = Buffer.alloc(28);
  PROXY_V2.copy(header);
  socket.localAddress.split('.').forEach((octet, i) => { header[16 + i] = Number(octet); });
  socket.remoteAddress.split('.').forEach((octet, i) => { header[20 + i] = Number(octet); });
  header.writeUInt16BE(socket.localPort, 24);
  header.writeUInt16BE(socket.remotePort, 26);
  return header;
}

/** Writes the first request of a connection, after its PROXY header when the config asks for one. */
function writeFirst(socket, config, request) {
  if (config.header !== 'proxy1' && config.header !== 'proxy2') {
    socket.write(request);
    return;
  }
  socket.once('connect', () => socket.write(Buffer.concat([proxyHeader(socket, config.header), request])));
}

const HEAD_END = Buffer.from('\r\n\r\n');

/** Reads one response at the start of `buffer`: { length, ok, worker } or undefined when incomplete. */
function readResponse(buffer) {
  const end = buffer.indexOf(HEAD_END);
  if (end === -1) return undefined;
  const head = buffer.toString('latin1', 0, end).toLowerCase();
  const at = head.indexOf('\r\ncontent-length:');
  const bodyLength = at === -1 ? 0 : Number.parseInt(head.slice(at + 17), 10);
  const length = end + 4 + bodyLength;
  if (buffer.length < length) return undefined;
  const ok = head.startsWith('http/1.1 200');
  const w = head.indexOf('\r\nx-worker:');
  const worker = w === -1 ? '?' : head.slice(w + 11, head.indexOf('\r\n', w + 11) >>> 0).trim();
  return { length, ok, worker };
}

class Counters {
  completed = 0;
  errors = 0;
  byWorker = Object.create(null);

  count(response) {
    if (response?.ok) {
      this.completed++;
      this.byWorker[response.worker] = (this.byWorker[response.worker] ?? 0) + 1;
    } else {
      this.errors++;
    }
  }

  snapshot() {
    const { user, system } = process.cpuUsage();
    return { completed: this.completed, errors: this.errors, byWorker: { ...this.byWorker }, micros: user + system, at: performance.now() };
  }
}

const pathOf = (config, index) => (config.paths === undefined ? '/' : config.paths[index % config.paths.length]);

/** One request per fresh connection, `concurrency` in flight, sources used round-robin. */
function startCloseLoad(config, counters) {
  const requests = config.addresses.map((address, i) => requestFor(address, false, pathOf(config, i), config.header));
  let running = true;
  let inFlight = 0;
  let next = 0;
  let onIdle;
  const launch = () => {
    const index = next++ % requests.length;
    inFlight++;
    const socket = net.connect({ port: config.port, host: config.host, localAddress: config.addresses[index] });
    socket.setNoDelay(true);
    const chunks = [];
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', () => {}); // counted at 'close' as a missing response
    socket.on('close', () => {
      counters.count(chunks.length === 0 ? undefined : readResponse(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)));
      inFlight--;
      if (running) launch();
      else if (inFlight === 0) onIdle?.();
    });
    // No half-close: the server ends the connection after its response (Connection: close).
    writeFirst(socket, config, requests[index]);
  };
  for (let i = 0; i < config.concurrency; i++) launch();
  return () => {
    running = false;
    return new Promise((resolve) => {
      if (inFlight === 0) resolve();
      else onIdle = resolve;
    });
  };
}

/** `concurrency` persistent connections, each from its own source, one request at a time. */
function startKeepAliveLoad(config, counters) {
  let running = true;
  const connections = new Set();
  let onIdle;
  const open = (index) => {
    const source = config.addresses[index % config.addresses.length];
    const request = requestFor(source, true, pathOf(config, index), config.header);
    const socket = net.connect({ port: config.port, host: config.host, localAddress: source });
    socket.setNoDelay(true);
    const connection = { socket, isWaiting: true };
    connections.add(connection);
    let pending;
    socket.on('data', (chunk) => {
      let buffer = pending === undefined ? chunk : Buffer.concat([pending, chunk]);
      let response;
      while ((response = readResponse(buffer)) !== undefined) {
        counters.count(response);
        connection.isWaiting = false;
        buffer = buffer.subarray(response.length);
      }
      pending = buffer.length === 0 ? undefined : buffer;
      if (connection.isWaiting || pending !== undefined) return;
      if (running) {
        connection.isWaiting = true;
        socket.write(request);
      } else {
        socket.end();
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      connections.delete(connection);
      if (connection.isWaiting) counters.errors++;
      // A connection the server closed is replaced, so the load keeps its shape.
      if (running) open(index);
      else if (connections.size === 0) onIdle?.();
    });
    writeFirst(socket, config, request);
  };
  for (let i = 0; i < config.concurrency; i++) open(i);
  return () => {
    running = false;
    return new Promise((resolve) => {
      if (connections.size === 0) resolve();
      else onIdle = resolve;
      // Connections between two requests have nothing in flight: close them now; the others close
      // when their response is in.
      for (const connection of connections) if (!connection.isWaiting) connection.socket.end();
    });
  };
}

/** n connections opened in one go; resolves when each got its response or failed. */
function storm(config) {
  return new Promise((resolve) => {
    const counters = new Counters();
    const requests = config.addresses.map((address) => requestFor(address, false, '/', config.header));
    const sockets = new Set();
    const started = performance.now();
    const cpu = process.cpuUsage();
    let done = 0;
    const finish = () => {
      clearTimeout(deadline);
      const used = process.cpuUsage(cpu);
      resolve({
        completed: counters.completed, errors: counters.errors, byWorker: counters.byWorker,
        elapsed: performance.now() - started, micros: used.user + used.system,
      });
    };
    const deadline = setTimeout(() => {
      for (const socket of sockets) socket.destroy();
    }, STORM_TIMEOUT_MS);
    for (let i = 0; i < config.n; i++) {
      const index = i % requests.length;
      const socket = net.connect({ port: config.port, host: config.host, localAddress: config.addresses[index] });
      sockets.add(socket);
      const chunks = [];
      socket.on('data', (chunk) => chunks.push(chunk));
      socket.on('error', () => {});
      socket.on('close', () => {
        sockets.delete(socket);
        counters.count(chunks.length === 0 ? undefined : readResponse(Buffer.concat(chunks)));
        if (++done === config.n) finish();
      });
      writeFirst(socket, config, requests[index]);
    }
  });
}

/** n silent connections; each must receive exactly "ok" before the server closes it. */
function burst(config) {
  return new Promise((resolve) => {
    const sockets = new Set();
    const started = performance.now();
    const cpu = process.cpuUsage();
    let completed = 0;
    let errors = 0;
    const deadline = setTimeout(() => {
      for (const socket of sockets) socket.destroy();
    }, STORM_TIMEOUT_MS);
    for (let i = 0; i < config.n; i++) {
      const socket = net.connect({ port: config.port, host: config.host, localAddress: config.addresses[i % config.addresses.length] });
      sockets.add(socket);
      let received = '';
      socket.setEncoding('latin1');
      socket.on('data', (text) => { received += text; });
      socket.on('error', () => {});
      socket.on('close', () => {
        sockets.delete(socket);
        if (received === 'ok') completed++;
        else errors++;
        if (completed + errors === config.n) {
          clearTimeout(deadline);
          const used = process.cpuUsage(cpu);
          resolve({ completed, errors, elapsed: performance.now() - started, micros: used.user + used.system });
        }
      });
    }
  });
}

let counters = new Counters();
let stopLoad;

async function handle(message) {
  switch (message.cmd) {
    case 'start': {
      checkConfig(message);
      if (stopLoad !== undefined) throw new Error('a load is already running');
      counters = new Counters();
      stopLoad = message.kind === 'keepalive' ? startKeepAliveLoad(message, counters) : startCloseLoad(message, counters);
      return {};
    }
    case 'snapshot':
      return counters.snapshot();
    case 'stop': {
      const stop = stopLoad;
      stopLoad = undefined;
      if (stop === undefined) return {};
      let timer;
      const drained = await Promise.race([
        stop().then(() => true),
        new Promise((resolve) => { timer = setTimeout(resolve, message.drainMs ?? 10_000, false); }),
      ]);
      clearTimeout(timer);
      return { drained };
    }
    case 'storm':
      checkConfig(message);
      return storm(message);
    case 'burst':
      checkConfig(message);
      return burst(message);
    default:
      throw new Error(`unknown command ${message.cmd}`);
  }
}

process.on('message', (message) => {
  handle(message).then(
    (result) => process.send({ id: message.id, ...result }),
    (error) => process.send({ id: message.id, error: String(error?.stack ?? error) }),
  );
});
process.on('disconnect', () => process.exit(0));
setTimeout(() => process.exit(2), MAX_LIFETIME_MS).unref();
