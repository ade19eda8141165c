import http from 'node:http';
import { pEvent } from 'p-event';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { io as connectIo, type Socket as IoSocket } from 'socket.io-client';
import { spawnCluster } from '../helpers/cluster.js';

// The recipes of examples/recipes, run as users run them, with real clients of each framework.

const CLIENTS = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6', '127.0.0.7', '127.0.0.8', '127.0.0.9'];

interface RecipeReply { framework: string; workerId: number; client: string }

function getJson(port: number, localAddress: string): Promise<{ status: number; body: RecipeReply }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', localAddress, agent: false, timeout: 10_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { text += chunk; });
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as RecipeReply });
        } catch {
          reject(new Error(`not JSON (status ${res.statusCode}): ${text.slice(0, 200)}`));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
  });
}

const runRecipe = (name: string) => spawnCluster(`../../examples/recipes/${name}.mjs`, { env: { PORT: '0', WORKERS: '2' } });

describe.each([
  ['http', 'node:http'],
  ['express', 'express'],
  ['fastify', 'fastify'],
  ['koa', 'koa'],
])('recipe %s', (name, framework) => {
  it('serves every client from one worker, the clients spread over both, and shows the client address', async () => {
    const cluster = await runRecipe(name);
    const workerOf = new Map<string, number>();
    for (let round = 0; round < 2; round++) {
      for (const client of CLIENTS) {
        const { status, body } = await getJson(cluster.port, client);
        expect(status).toBe(200);
        expect(body.framework).toBe(framework);
        expect(body.client).toBe(client);
        if (round === 0) workerOf.set(client, body.workerId);
        else expect(body.workerId).toBe(workerOf.get(client));
      }
    }
    expect(new Set(workerOf.values()).size).toBe(2);
  });
});

describe('recipe ws', () => {
  it('keeps each WebSocket client on its address\'s worker and echoes there', async () => {
    const cluster = await runRecipe('ws');
    const workers = new Set<number>();
    for (const client of CLIENTS.slice(0, 4)) {
      const seen: number[] = [];
      for (let i = 0; i < 2; i++) {
        const ws = new WebSocket(`ws://127.0.0.1:${cluster.port}/`, { localAddress: client });
        // ws is an EventTarget too, so p-event resolves with a MessageEvent.
        const hello = (await pEvent(ws, 'message', { timeout: 10_000 })) as { data: unknown };
        const greeting = JSON.parse(String(hello.data)) as RecipeReply;
        expect(greeting).toMatchObject({ framework: 'ws', client });
        ws.send(`hi from ${client}`);
        const echo = (await pEvent(ws, 'message', { timeout: 10_000 })) as { data: unknown };
        expect(JSON.parse(String(echo.data))).toEqual({ echo: `hi from ${client}`, workerId: greeting.workerId });
        seen.push(greeting.workerId);
        ws.close();
        await pEvent(ws, 'close', { timeout: 10_000 });
      }
      expect(seen[1]).toBe(seen[0]);
      workers.add(seen[0] as number);
    }
    expect(workers.size).toBe(2);
  });
});

describe('recipe ws-client-id', () => {
  it('keeps each client id on one worker across reconnects from one shared address, and spreads the ids', async () => {
    const cluster = await runRecipe('ws-client-id');
    const workerOf = new Map<string, number>();
    // Twelve clients behind one address (one NAT), each reconnecting three times.
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 12; i++) {
        const id = `device-${i}`;
        const ws = new WebSocket(`ws://127.0.0.1:${cluster.port}/live?client=${id}`, { localAddress: '127.0.0.2' });
        const hello = (await pEvent(ws, 'message', { timeout: 10_000 })) as { data: unknown };
        const greeting = JSON.parse(String(hello.data)) as { workerId: number; clientId: string };
        expect(greeting.clientId).toBe(id);
        if (round === 0) workerOf.set(id, greeting.workerId);
        else expect(greeting.workerId).toBe(workerOf.get(id));
        ws.close();
        await pEvent(ws, 'close', { timeout: 10_000 });
      }
    }
    expect(new Set(workerOf.values()).size).toBe(2);
  });
});

describe('recipe socket-io', () => {
  it('runs polling then websocket sessions on their worker, and broadcasts through the cluster adapter to every worker\'s clients', async () => {
    const cluster = await runRecipe('socket-io');
    const sockets: IoSocket[] = [];
    try {
      const helloes = await Promise.all(CLIENTS.map(async (client) => {
        const socket = connectIo(`http://127.0.0.1:${cluster.port}`, {
          // Starts with HTTP long-polling, then upgrades: both must reach the session's worker.
          transports: ['polling', 'websocket'],
          agent: new http.Agent({ localAddress: client }) as never,
          localAddress: client,
          reconnection: false,
        } as Parameters<typeof connectIo>[1]);
        sockets.push(socket);
        const [hello] = (await pEvent(socket as never, 'hello', { multiArgs: true, timeout: 10_000 })) as [{ workerId: number }];
        return hello.workerId;
      }));
      expect(new Set(helloes).size).toBe(2);
      // Every session upgraded to websocket on its worker (a misrouted upgrade fails the session).
      await Promise.all(sockets.map(async (socket) => {
        if (socket.io.engine.transport.name !== 'websocket') await pEvent(socket.io.engine as never, 'upgrade', { timeout: 10_000 });
      }));
      expect(sockets.map((socket) => socket.io.engine.transport.name)).toEqual(CLIENTS.map(() => 'websocket'));

      const received = sockets.map((socket) => pEvent(socket as never, 'shouted', { timeout: 10_000 }));
      sockets[0]?.emit('shout', 'hello everyone');
      const messages = (await Promise.all(received)) as { text: string; from: number }[];
      expect(messages).toEqual(CLIENTS.map(() => ({ text: 'hello everyone', from: helloes[0] })));
    } finally {
      for (const socket of sockets) socket.disconnect();
    }
  });
});
