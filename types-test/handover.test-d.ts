import { expectError, expectType } from 'tsd';
import type { WebSocketServer, WebSocket } from 'ws';
import {
  adoptedState, handOverWebSockets, onAdopt, onHandover,
  type AdoptInfo, type EmptyStartReason, type HandoverInfo, type HandoverStats, type StickyPrimary,
} from '../dist/index.js';

// A worker's slot state: any value v8.serialize takes, sync or async; a version for the successor.
const sessions = new Map<string, { visits: number }>();
onHandover(() => sessions);
onHandover(async () => ({ sessions }), { version: '2.1.0' });
expectError(onHandover(() => sessions, { version: 2 }));

// The successor's hook gets the state as unknown (it crossed processes) and may refuse it.
onAdopt((state, info) => {
  expectType<unknown>(state);
  expectType<AdoptInfo>(info);
  expectType<string | undefined>(info.version);
  return info.version === '2.1.0';
});
onAdopt<Map<string, { visits: number }>>((state) => {
  expectType<Map<string, { visits: number }>>(state);
});
onAdopt(async (state) => {
  if (state instanceof Map) for (const [id, session] of state) sessions.set(String(id), session as { visits: number });
});

// What the worker started with narrows on isAdopted.
const started = await adoptedState();
if (started.isAdopted) {
  expectType<unknown>(started.state);
  expectType<number>(started.bytes);
} else {
  expectType<undefined>(started.state);
  expectType<EmptyStartReason>(started.reason);
}

// The primary reports each handover and counts them.
declare const primary: StickyPrimary;
primary.on('handover', (info) => {
  expectType<HandoverInfo>(info);
  expectType<number>(info.pauseMs);
  expectType<EmptyStartReason | undefined>(info.reason);
});
expectType<HandoverStats>(primary.stats().handovers);
expectType<number | undefined>(primary.stats().handovers.empty.timeout);

// WebSockets: the per-connection state's type flows from `state` to `adopt`.
declare const wss: WebSocketServer;
handOverWebSockets(wss, {
  state: (ws) => {
    expectType<WebSocket>(ws);
    return { user: 'ann', opened: new Date() };
  },
  adopt: (ws, state) => {
    expectType<WebSocket>(ws);
    expectType<string>(state.user);
  },
});
handOverWebSockets(wss, { adopt: (ws) => ws.send('moved') });
expectError(handOverWebSockets(wss, {}));
