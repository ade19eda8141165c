import { Socket, isIPv4, type Server } from 'node:net';
import { forwardedClient, headerValue, inheritedForwardingRule, normalizeAddress } from './routing/index.js';
import { joinServer, listenWithoutSocket } from '../internal/node-internals-worker.js';

// The worker's side of a handoff: the socket joins the application's server as if that server had
// accepted it, with the bytes the primary already read put back in front.

/**
 * Emits `connection` on `server` with the handed-off socket. The socket is counted in the server's
 * connections (so `server.close(cb)` waits for it) and unpaused only by the server's own listener.
 */
export function adoptSocket(
  server: Server, socket: Socket, bytes: string | undefined, client?: string, clientPort?: number,
): void {
  if (client !== undefined) reportClient(socket, client, clientPort);
  // Put the primary's bytes back before anything reads: the socket buffers what the kernel still
  // holds behind them, so the order on the wire is kept.
  if (bytes !== undefined && bytes.length > 0) socket.unshift(Buffer.from(bytes, 'base64'));
  // As Node does when a listening server accepts: without this an http server's sockets would run
  // with Nagle's algorithm on (+40 ms on split responses) and end on a client's half-close.
  joinServer(server, socket);
  server.emit('connection', socket);
}

/** What a worker's server reports as its address: it listens on no socket of its own. */
const HANDOFF_ADDRESS = 'sticky-runtime:primary';

/**
 * Makes the server a listening server without any socket of its own: every connection it serves is
 * one the primary handed over (or one the worker accepted on its slot's socket). Node starts an HTTP
 * server's headers/request timeout checker only on `listening`, and `server.close(cb)` reports
 * ERR_SERVER_NOT_RUNNING on a server that never listened; so the server listens, on nothing another
 * process could connect to or take first. Resolves at once if the server already listens.
 */
export function listenForHandoffs(server: Server): Promise<void> {
  if (server.listening) return Promise.resolve();
  return listenWithoutSocket(server, HANDOFF_ADDRESS);
}

/**
 * PROXY protocol: the socket reports the client of the PROXY header as its peer, as a server that
 * terminates PROXY protocol itself does (HAProxy, nginx `set_real_ip_from`), so that everything that
 * reads `socket.remoteAddress` (Express's `req.ip`, Socket.IO's `handshake.address`, loggers, rate
 * limiters) sees the client and not the load balancer. Own properties shadow net.Socket's getters.
 */
/** The client a PROXY header reported for this socket (to move it with the socket), or undefined. */
export function reportedClientOf(socket: Socket): { client: string; clientPort?: number } | undefined {
  if (!Object.hasOwn(socket, PROXY_PEER) || socket.remoteAddress === undefined) return undefined;
  const port = socket.remotePort;
  return { client: socket.remoteAddress, ...(port === undefined ? {} : { clientPort: port }) };
}

function reportClient(socket: Socket, address: string, port: number | undefined): void {
  const peer = { value: socket.remoteAddress, port: socket.remotePort };
  Object.defineProperty(socket, 'remoteAddress', { value: address, configurable: true, enumerable: true });
  const family = isIPv4(address) ? 'IPv4' : 'IPv6';
  Object.defineProperty(socket, 'remoteFamily', { value: family, configurable: true, enumerable: true });
  Object.defineProperty(socket, 'remotePort', { value: port, configurable: true, enumerable: true });
  Object.defineProperty(socket, PROXY_PEER, { value: peer, configurable: true });
}

const PROXY_PEER = Symbol('sticky.proxyPeer');


/** A request (`http.IncomingMessage`, Express's `req`, Fastify's `request.raw`) or its socket. */
export type ClientAddressSource =
  | Socket
  | { readonly socket: Socket; readonly headers?: Readonly<Record<string, string | string[] | undefined>> };

/**
 * The address of the client behind a request or connection, in a worker:
 * - `proxyProtocol` mode: the source of the connection's PROXY header (also what
 *   `socket.remoteAddress` reports there);
 * - `proxyHeader` mode: the address in this request's header, picked by the same rule the primary
 *   routes by (pass the request: a connection a proxy keeps alive may carry several clients'
 *   requests): with `trustedProxies`, only from a trusted peer, the rightmost untrusted entry; the
 *   socket's address when the peer is not trusted or the header has none;
 * - otherwise the socket's address.
 * IPv4-mapped IPv6 addresses are returned as IPv4. Undefined only for a socket already closed.
 * @example
 * app.get('/', (req, res) => res.send(`hello ${clientAddress(req)}`));
 */
export function clientAddress(source: ClientAddressSource): string | undefined {
  const socket = source instanceof Socket ? source : source.socket;
  const rule = inheritedForwardingRule();
  const headers = source instanceof Socket ? undefined : source.headers;
  if (rule !== undefined && headers !== undefined) {
    // In header mode the socket is the peer's own (PROXY mode overrides remoteAddress, but has no header rule).
    const address = forwardedClient(rule, socket.remoteAddress, headerValue(headers[rule.header]));
    if (address !== undefined) return address;
  }
  const address = socket.remoteAddress;
  return address === undefined ? undefined : normalizeAddress(address);
}
