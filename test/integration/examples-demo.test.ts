import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import http from 'node:http';
import { expect, it, onTestFinished } from 'vitest';
import { stopProcess, until } from '../helpers/cluster.js';
import { onLinux } from '../helpers/platform.js';

// `npm run demo` as the README's "Try it" uses it: its visit counters survive `kill -HUP` of the primary.

const demo = fileURLToPath(new URL('../../examples/demo.mjs', import.meta.url));
const wsClientPath = fileURLToPath(new URL('../../examples/ws-client.mjs', import.meta.url));

function get(port: number, localAddress: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, localAddress, agent: false, timeout: 10_000 }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => { text += chunk.toString(); });
      res.on('end', () => resolve(text));
    });
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
  });
}

/** `worker 3 (pid 1234) — 127.0.0.2, you have visited 2 times` → pid and count. */
function parse(line: string): { pid: number; count: number } {
  const match = /\(pid (\d+)\).*visited (\d+) time/.exec(line);
  if (match === null) throw new Error(`not a demo answer: ${line}`);
  return { pid: Number(match[1]), count: Number(match[2]) };
}

it.skipIf(!onLinux)('the demo\'s visit counts and an open ws-client --stay survive a reload (kill -HUP of the primary)', async () => {
  const child = fork(demo, [], { env: { ...process.env, PORT: '0', WORKERS: '2', LOG_LEVEL: 'warn' }, stdio: 'pipe' });
  onTestFinished(() => stopProcess(child));
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  child.stderr?.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  const port = await until(() => Number(/127\.0\.0\.1:(\d+)\//.exec(output)?.[1] ?? 0) || undefined, { timeout: 20_000, what: 'the demo\'s URL' });
  const first = parse(await get(port, '127.0.0.2'));
  const second = parse(await get(port, '127.0.0.2'));
  expect(second).toEqual({ pid: first.pid, count: 2 });
  // The README's `node examples/ws-client.mjs --from 127.0.0.2 --stay`, from the same address.
  const wsClient = fork(wsClientPath, ['--from', '127.0.0.2', '--port', String(port), '--stay'], { stdio: 'pipe' });
  onTestFinished(() => stopProcess(wsClient));
  let wsOutput = '';
  wsClient.stdout?.on('data', (chunk: Buffer) => { wsOutput += chunk.toString(); });
  await until(() => wsOutput.includes('staying connected'), { timeout: 20_000, what: 'the ws client staying connected' });
  child.kill('SIGHUP');
  // Visit until the slot's next worker answers: every answer, the old worker's and then the new one's,
  // counts on by one.
  const answers = [second];
  await until(async () => {
    answers.push(parse(await get(port, '127.0.0.2')));
    return answers.at(-1)?.pid !== first.pid;
  }, { timeout: 30_000, what: 'the reloaded worker' });
  expect(answers.map((answer) => answer.count)).toEqual(answers.map((_, index) => index + 2));
  expect(new Set(answers.map((answer) => answer.pid)).size).toBe(2);
  // The WebSocket moved: the new worker of the slot says so and answers on the same connection.
  await until(() => /< worker \d+: still there\?/.test(wsOutput), { timeout: 30_000, what: 'the moved WebSocket\'s echo' });
  expect(wsOutput).toContain(`took over your connection, 127.0.0.2`);
  expect(wsOutput).not.toContain('closed:');
});
