import { once } from 'node:events';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { pEvent } from 'p-event';

// Real accepted TCP connections on loopback for in-process tests of fd passing: each from its own
// source address, the server's side paused (as the primary holds a connection), the client's side kept.

/**
 * `count` accepted loopback connections (server side, paused) and their clients, in the same order.
 * Everything made is registered with `cleanup` (called in reverse by the test's afterEach).
 */
export async function acceptedConnections(
  count: number, cleanup: (() => void)[],
): Promise<{ accepted: Socket[]; clients: Socket[] }> {
  const server: Server = createServer({ pauseOnConnect: true });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanup.push(() => server.close());
  const { port } = server.address() as { port: number };
  const accepted: Socket[] = [];
  const clients: Socket[] = [];
  for (let i = 0; i < count; i++) {
    const next = pEvent<string, Socket>(server, 'connection', { timeout: 5000 });
    const localAddress = `127.0.${Math.floor(i / 250) + 2}.${(i % 250) + 1}`;
    const client = connect({ port, host: '127.0.0.1', localAddress });
    clients.push(client);
    cleanup.push(() => client.destroy());
    const socket = await next;
    cleanup.push(() => socket.destroy());
    accepted.push(socket);
  }
  return { accepted, clients };
}

/** `promise`, or a failure naming what did not happen within `ms`. */
export async function withinDeadline<T>(promise: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what()}`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}
