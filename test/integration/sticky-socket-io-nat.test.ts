import http from 'node:http';
import { pEvent } from 'p-event';
import { describe, expect, it } from 'vitest';
import { io as connectIo, type Socket as IoSocket } from 'socket.io-client';
import { spawnCluster, type SpawnedCluster } from '../helpers/cluster.js';

// Many Socket.IO clients behind one address (NAT, a corporate proxy, a mobile carrier): with
// `socketIoSessions`, the handshakes spread over the workers and every later request of a session
// (long-polling, then the WebSocket upgrade) reaches the worker that holds it.

interface Hello { workerId: number; pid: number; slot: number; sid: string }

async function connect(port: number, localAddress: string): Promise<{ socket: IoSocket; hello: Hello; agent: http.Agent }> {
  // Each client its own connections, as separate devices behind one NAT address have.
  const agent = new http.Agent({ keepAlive: true, localAddress });
  const socket = connectIo(`http://127.0.0.1:${port}`, {
    transports: ['polling', 'websocket'], agent: agent as never, localAddress, reconnection: false,
  } as Parameters<typeof connectIo>[1]);
  const hello = (await pEvent(socket as never, 'hello', { timeout: 15_000 })) as Hello;
  return { socket, hello, agent };
}

async function upgraded(socket: IoSocket): Promise<void> {
  if (socket.io.engine.transport.name !== 'websocket') await pEvent(socket.io.engine as never, 'upgrade', { timeout: 15_000 });
}

const connectionErrors = (cluster: SpawnedCluster) => cluster.messages.filter((m) => m.type === 'report' && m.event === 'connectionError');

describe('Socket.IO sessions behind one address (socketIoSessions)', () => {
  it('spreads 20 clients from one address over the workers, each session\'s requests on its one worker', async () => {
    const cluster = await spawnCluster('socket-io-nat.mjs', { env: { WORKERS: '3' } });
    const clients: Awaited<ReturnType<typeof connect>>[] = [];
    try {
      for (let i = 0; i < 20; i++) clients.push(await connect(cluster.port, '127.0.0.2'));
      for (const { hello } of clients) expect(hello.sid.endsWith(`.${hello.slot}`)).toBe(true);
      const workers = new Set(clients.map(({ hello }) => hello.workerId));
      expect(workers.size).toBe(3);

      // Polling requests carried the session until the upgrade; the upgrade reached the same worker.
      await Promise.all(clients.map(({ socket }) => upgraded(socket)));
      expect(clients.map(({ socket }) => socket.io.engine.transport.name)).toEqual(clients.map(() => 'websocket'));
      for (const { socket, hello } of clients) {
        expect(await socket.timeout(10_000).emitWithAck('which')).toBe(hello.workerId);
      }
      // No request of any session reached a worker that did not hold it.
      expect(connectionErrors(cluster)).toEqual([]);
      const { stats } = await cluster.ask('stats');
      expect(stats.connections.keyFallbacks).toBe(0);
    } finally {
      for (const { socket, agent } of clients) {
        socket.disconnect();
        agent.destroy();
      }
    }
  });

  it('routes by the session id, not by the address: long-polling sessions from one address stay on their workers', async () => {
    const cluster = await spawnCluster('socket-io-nat.mjs', { env: { WORKERS: '3' } });
    const sockets: IoSocket[] = [];
    const agents: http.Agent[] = [];
    try {
      const helloes: Hello[] = [];
      for (let i = 0; i < 12; i++) {
        // Polling only: every message of the session is a new HTTP request carrying the sid.
        const agent = new http.Agent({ keepAlive: false, localAddress: '127.0.0.3' });
        agents.push(agent);
        const socket = connectIo(`http://127.0.0.1:${cluster.port}`, {
          transports: ['polling'], agent: agent as never, reconnection: false,
        } as Parameters<typeof connectIo>[1]);
        sockets.push(socket);
        helloes.push((await pEvent(socket as never, 'hello', { timeout: 15_000 })) as Hello);
      }
      expect(new Set(helloes.map((hello) => hello.workerId)).size).toBeGreaterThan(1);
      for (let round = 0; round < 3; round++) {
        const answers = await Promise.all(sockets.map((socket) => socket.timeout(10_000).emitWithAck('which')));
        expect(answers).toEqual(helloes.map((hello) => hello.workerId));
      }
      expect(connectionErrors(cluster)).toEqual([]);
    } finally {
      for (const socket of sockets) socket.disconnect();
      for (const agent of agents) agent.destroy();
    }
  });

  it('keeps routing a slot\'s sessions to it after its worker is killed and replaced: clients reconnect, new ids carry the slot', async () => {
    const cluster = await spawnCluster('socket-io-nat.mjs', { env: { WORKERS: '2' } });
    const sockets: IoSocket[] = [];
    const agents: http.Agent[] = [];
    /** A long-polling client (every message a new request with the sid) that reconnects at once. */
    const open = (): { socket: IoSocket; hello: Promise<Hello> } => {
      const agent = new http.Agent({ keepAlive: false, localAddress: '127.0.0.4' });
      agents.push(agent);
      const socket = connectIo(`http://127.0.0.1:${cluster.port}`, {
        transports: ['polling'], agent: agent as never, reconnectionDelay: 20, reconnectionDelayMax: 20, randomizationFactor: 0,
      } as Parameters<typeof connectIo>[1]);
      sockets.push(socket);
      return { socket, hello: pEvent(socket as never, 'hello', { timeout: 10_000 }) as Promise<Hello> };
    };
    const answersOf = async (socket: IoSocket): Promise<number[]> => {
      const answers: number[] = [];
      for (let round = 0; round < 3; round++) answers.push(await socket.timeout(5_000).emitWithAck('which') as number);
      return answers;
    };
    try {
      const first = open();
      const victim = await first.hello;
      // Killed without warning: the slot's sessions die with it, its slot gets a new worker.
      const replaced = cluster.next('workerReady', { where: (m) => m.slot === victim.slot, timeout: 10_000 });
      const reconnected = pEvent(first.socket as never, 'hello', { timeout: 10_000 }) as Promise<Hello>;
      process.kill(victim.pid, 'SIGKILL');
      const replacement = await replaced;
      expect(replacement.pid).not.toBe(victim.pid);
      // The client reconnected under a new session id, which carries the slot that took it.
      const again = await reconnected;
      expect(again.sid).not.toBe(victim.sid);
      expect(again.sid.endsWith(`.${again.slot}`)).toBe(true);
      expect(await answersOf(first.socket)).toEqual([again.workerId, again.workerId, again.workerId]);
      // New sessions handed to the replaced slot: every later request of theirs reaches its new worker.
      let onReplacement: { socket: IoSocket; hello: Hello } | undefined = again.slot === victim.slot ? { socket: first.socket, hello: again } : undefined;
      for (let i = 0; i < 12 && onReplacement === undefined; i++) {
        const client = open();
        const hello = await client.hello;
        if (hello.slot === victim.slot) onReplacement = { socket: client.socket, hello };
      }
      expect(onReplacement?.hello).toMatchObject({ slot: victim.slot, pid: replacement.pid, workerId: replacement.workerId });
      expect(await answersOf((onReplacement as { socket: IoSocket }).socket)).toEqual([replacement.workerId, replacement.workerId, replacement.workerId]);
    } finally {
      for (const socket of sockets) socket.disconnect();
      for (const agent of agents) agent.destroy();
    }
  });
});
