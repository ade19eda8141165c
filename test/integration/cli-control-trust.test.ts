import { spawn } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { chmodSync, chownSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { cliFixture, logLines, runToEnd, serveCli, workDir } from '../helpers/cli.js';
import { until, waitForExit } from '../helpers/cluster.js';

// The control socket from both ends. `serve` replaces only a stale socket of its own user and leaves
// anything else at the path; the control commands talk only to their user's socket in a directory no
// other user can write to, and whatever answers there cannot make them crash or put escape
// sequences on the terminal. The metrics token reaches the CLI through the environment.

const isRoot = process.getuid?.() === 0;
const NOBODY = 65_534;
const ESCAPES = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/;

/** A plain Unix-socket server at `path` that answers every request line with `answer`. */
async function fakeControl(path: string, answer: string): Promise<{ requests: string[] }> {
  const requests: string[] = [];
  const server = net.createServer((socket) => {
    socket.on('error', () => undefined);
    socket.once('data', (chunk: Buffer) => {
      requests.push(chunk.toString());
      socket.end(answer);
    });
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { requests };
}

const statusReply = (state: string, pid: unknown): string => `${JSON.stringify({
  type: 'result', pid, uptime: 65_000,
  stats: {
    state, workers: 1, readyWorkers: 1, restarts: 0,
    slots: [{ slot: 0, pid: 4242, isReady: true, isFailed: false, isRespawnPending: false, uptime: 1000, generation: 0, queued: 0, handoffs: 3 }],
  },
})}\n`;

describe('sticky-runtime serve and its control socket path', () => {
  it('leaves a regular file at the path and does not start (exit 3)', async () => {
    const cwd = workDir();
    const path = join(cwd, 'sticky-runtime.sock');
    writeFileSync(path, 'precious\n');
    const { code, stderr } = await runToEnd(['serve', cliFixture('express-app.cjs'), '--workers', '1', '--port', '0', '--host', '127.0.0.1'], cwd);
    expect(code).toBe(3);
    expect(stderr).toContain(`sticky-runtime: STICKY_ERR_LISTEN_FAILED: The control socket path ${path} is a regular file, not a socket; it is left as it is. Hint:`);
    expect(readFileSync(path, 'utf8')).toBe('precious\n');
  });

  it('leaves a directory, and a socket something answers on (exit 3)', async () => {
    const cwd = workDir();
    mkdirSync(join(cwd, 'dir.sock'));
    const dir = await runToEnd(['serve', cliFixture('express-app.cjs'), '--workers', '1', '--port', '0', '--control-socket', 'dir.sock'], cwd);
    expect(dir.code).toBe(3);
    expect(dir.stderr).toContain('is a directory, not a socket; it is left as it is.');
    expect(statSync(join(cwd, 'dir.sock')).isDirectory()).toBe(true);

    const live = join(cwd, 'live.sock');
    const fake = await fakeControl(live, 'x\n');
    const busy = await runToEnd(['serve', cliFixture('express-app.cjs'), '--workers', '1', '--port', '0', '--control-socket', live], cwd);
    expect(busy.code).toBe(3);
    expect(busy.stderr).toContain(`STICKY_ERR_LISTEN_FAILED: Something already answers at the control socket ${live}`);
    expect(statSync(live).isSocket()).toBe(true);
    expect(fake.requests).toEqual([]);
  });

  it('replaces a stale socket of its own user', async () => {
    const cwd = workDir();
    const path = join(cwd, 'sticky-runtime.sock');
    // A socket file nothing listens on any more, as a killed cluster leaves it.
    const killed = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`]);
    expect(await waitForExit(killed)).toEqual({ code: null, signal: 'SIGKILL' });
    expect(statSync(path).isSocket()).toBe(true);
    await serveCli(cliFixture('express-app.cjs'), ['--workers', '1'], cwd);
    expect((await runToEnd(['status', '--json'], cwd)).code).toBe(0);
  });
});

describe('sticky-runtime control commands and what answers at the socket', () => {
  it('an answer that is not JSON exits 4 with a message', async () => {
    const cwd = workDir();
    const fake = await fakeControl(join(cwd, 'sticky-runtime.sock'), 'HTTP/1.1 400 Bad Request\r\n\r\n');
    const { code, stdout, stderr } = await runToEnd(['status'], cwd);
    expect(fake.requests).toEqual(['{"command":"status"}\n']);
    expect(code).toBe(4);
    expect(stdout).toBe('');
    expect(stderr).toBe(`sticky-runtime: STICKY_ERR_CONTROL_UNAVAILABLE: What listens at ${join(cwd, 'sticky-runtime.sock')} is no sticky-runtime cluster: it answered a line that is not a control reply (JSON with a \`type\`). Hint: Check the \`--control-socket\` path.\n`);
  });

  it('a JSON answer of the wrong shape exits 4', async () => {
    const cwd = workDir();
    await fakeControl(join(cwd, 'sticky-runtime.sock'), '{"type":"result","stats":null}\n');
    const { code, stderr } = await runToEnd(['status'], cwd);
    expect(code).toBe(4);
    expect(stderr).toContain('STICKY_ERR_CONTROL_UNAVAILABLE: The answer at the control socket is not a sticky-runtime cluster\'s status reply.');
  });

  it('prints a status full of escape sequences without them, as text and as JSON', async () => {
    const cwd = workDir();
    const state = 'running\x1b[2J\x1b[H\x1b]0;owned\x07\x9b31m\r\x08';
    await fakeControl(join(cwd, 'sticky-runtime.sock'), statusReply(state, '77\x1b[1A'));
    const text = await runToEnd(['status'], cwd);
    expect(text.code).toBe(0);
    expect(text.stdout).not.toMatch(ESCAPES);
    expect(text.stdout.split('\n')[0]).toBe('running · primary pid 77 · up 1m5s · 1 slots, 1 ready · 0 respawns');
    expect(text.stdout).toMatch(/^0\s+4242\s+ready/m);

    const json = await runToEnd(['status', '--json'], cwd);
    expect(json.code).toBe(0);
    expect(json.stdout).not.toMatch(ESCAPES);
    expect(JSON.parse(json.stdout)).toMatchObject({ stats: { state } });
  });

  it('prints an error reply and progress lines without escape sequences', async () => {
    const cwd = workDir();
    const progress = `${JSON.stringify({ type: 'progress', done: 1, total: 2, slot: 0, status: 'replaced\x1b[31m' })}\n`;
    const error = `${JSON.stringify({ type: 'error', code: 'STICKY_ERR_RELOAD_FAILED\x1b[2J', message: 'stopped\x1b]52;c;aGk=\x07 here' })}\n`;
    await fakeControl(join(cwd, 'sticky-runtime.sock'), progress + error);
    const { code, stderr } = await runToEnd(['reload'], cwd);
    expect(code).toBe(1);
    expect(stderr).toBe('reload 1/2: slot 0 replaced\nsticky-runtime: STICKY_ERR_RELOAD_FAILED: stopped here\n');
  });

  it('refuses a socket in a directory other users can write to, without connecting', async () => {
    const cwd = workDir();
    chmodSync(cwd, 0o777);
    const path = join(cwd, 'sticky-runtime.sock');
    const fake = await fakeControl(path, statusReply('running', 1));
    const { code, stderr } = await runToEnd(['status'], cwd);
    expect(code).toBe(4);
    expect(stderr).toBe(`sticky-runtime: STICKY_ERR_CONTROL_UNTRUSTED: Refusing to use the control socket ${path}: its directory is writable by other users (mode 777), who could replace it. Hint: Run the command as the user that runs \`sticky-runtime serve\`, with a \`--control-socket\` in a directory only that user can write to.\n`);
    expect(fake.requests).toEqual([]);
  });

  it.skipIf(!isRoot)('refuses a socket another user owns, and a regular file at the path', async () => {
    const cwd = workDir();
    const path = join(cwd, 'sticky-runtime.sock');
    const fake = await fakeControl(path, statusReply('running', 1));
    chownSync(path, NOBODY, NOBODY);
    const owned = await runToEnd(['status'], cwd);
    expect(owned.code).toBe(4);
    expect(owned.stderr).toContain(`STICKY_ERR_CONTROL_UNTRUSTED: Refusing to use the control socket ${path}: it belongs to uid ${NOBODY}, not to you (uid 0).`);
    expect(fake.requests).toEqual([]);

    writeFileSync(join(cwd, 'file.sock'), '');
    const file = await runToEnd(['status', '--control-socket', 'file.sock'], cwd);
    expect(file.code).toBe(4);
    expect(file.stderr).toContain('Refusing to use the control socket');
    expect(file.stderr).toContain(': it is not a socket.');
  });
});

describe('sticky-runtime serve with a metrics token', () => {
  it('takes it from $STICKY_RUNTIME_METRICS_TOKEN, asks for it on /metrics and keeps it from the workers', async () => {
    const cwd = workDir();
    const token = 'f00dfeedf00dfeedf00dfeedf00dfeed';
    const served = await serveCli(cliFixture('express-app.cjs'), ['--workers', '1', '--metrics-port', '0'], cwd, { STICKY_RUNTIME_METRICS_TOKEN: token });
    let metricsPort: number | undefined;
    await until(() => (metricsPort = logLines(served.stderr()).find((line) => line.msg === 'metrics endpoint listening')?.port) !== undefined);
    const get = (headers: Record<string, string>): Promise<number> => new Promise((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: metricsPort, path: '/metrics', headers, agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      }).on('error', reject);
    });
    expect(await get({})).toBe(401);
    expect(await get({ authorization: `Bearer ${token}` })).toBe(200);
    const status = JSON.parse((await runToEnd(['status', '--json'], cwd)).stdout) as { stats: { slots: { pid: number }[] } };
    const workerPid = status.stats.slots[0]?.pid as number;
    expect(readFileSync(`/proc/${workerPid}/environ`, 'latin1')).not.toContain('STICKY_RUNTIME_METRICS_TOKEN');
  });
});
