// Time to move N live ws WebSockets from one process to a fresh one (test/fixtures/ws-move-parent.mjs
// stands in for the primary: A → primary → B, one bare handle per IPC message). Each client sends a
// numbered message every 200 ms. Usage: node bench/ws-move.mjs [sockets=200] [moves=5]
import { fork } from 'node:child_process';
import { once } from 'node:events';
import WebSocket from 'ws';

const count = Number(process.argv[2] ?? 200);
const moves = Number(process.argv[3] ?? 5);
const parent = fork(new URL('../test/fixtures/ws-move-parent.mjs', import.meta.url), [], { stdio: 'inherit' });
const next = (type) => new Promise((resolve) => {
  const onMessage = (message) => {
    if (message.type !== type) return;
    parent.off('message', onMessage);
    resolve(message);
  };
  parent.on('message', onMessage);
});
const { port } = await next('ready');
let closes = 0;
const clients = [];
for (let id = 0; id < count; id += 100) {
  const batch = Array.from({ length: Math.min(100, count - id) }, async (_, i) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/?id=${id + i}`, { perMessageDeflate: false });
    ws.on('close', () => closes++);
    ws.on('message', () => undefined);
    await once(ws, 'open');
    let n = 0;
    setInterval(() => ws.send(JSON.stringify({ n: ++n })), 200).unref();
    return ws;
  });
  clients.push(...await Promise.all(batch));
}
const results = [];
for (let round = 0; round < moves; round++) {
  const moved = next('moved');
  parent.send({ type: 'move', timeout: 2_000 });
  const result = await moved;
  results.push(`${result.ms.toFixed(0)}/${result.totalMs.toFixed(0)}`);
  if (result.adopted !== count) console.log('refused or lost', result.refused, result.lost);
}
console.log(`${count} sockets, ${moves} moves (freeze+send / until adopted, ms): ${results.join(', ')}; closes ${closes}`);
for (const ws of clients) ws.terminate();
parent.kill('SIGTERM');
