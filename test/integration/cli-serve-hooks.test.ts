import http from 'node:http';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pEvent } from 'p-event';
import { io as connectIo, type Socket as IoSocket } from 'socket.io-client';
import { describe, expect, it, onTestFinished } from 'vitest';
import { sourceAddress } from '../helpers/client.js';
import { waitFor } from '../helpers/cluster.js';
import { cliFixture as fixture, logLines, runToEnd, serveCli as serve, workDir } from '../helpers/cli.js';
import { startLoad } from '../helpers/load.js';

// `serve` beyond the basics: the exit codes of apps that are missing or do not load, the config
// file's primary hook (and that the control commands never run it), Socket.IO broadcasts through
// the hook, and `--watch`.

describe('sticky-runtime serve: exit codes of bad apps', () => {
  it('a missing app file exits with 2 (usage) before any worker starts', async () => {
    const cwd = workDir();
    const { code, stderr } = await runToEnd(['serve', join(cwd, 'nope.mjs'), '--workers', '1', '--port', '0'], cwd);
    expect(code).toBe(2);
    expect(stderr).toBe(`sticky-runtime: STICKY_ERR_INVALID_APP: App module ${join(cwd, 'nope.mjs')} does not exist. Hint: Check the path.\n`);
  });

  it('an app that throws while loading exits with 3, showing its own error and stack', async () => {
    const { code, stderr } = await runToEnd(['serve', fixture('throws-on-load.mjs'), '--workers', '1', '--port', '0'], workDir());
    expect(code).toBe(3);
    expect(stderr).toMatch(/sticky-runtime: worker 1: the app module \S+throws-on-load\.mjs failed to load: Error: DATABASE_URL is not set\n\s+at \S+throws-on-load\.mjs:2/);
    expect(stderr).toContain('sticky-runtime: STICKY_ERR_WORKER_START_FAILED: Worker 1 exited during start-up (code 1, signal null).');
  });

  it('a module without a usable export exits with 3 and one clear line naming what it does export', async () => {
    const { code, stderr } = await runToEnd(['serve', fixture('no-export.mjs'), '--workers', '1', '--port', '0'], workDir());
    expect(code).toBe(3);
    expect(stderr).toContain(`sticky-runtime: worker 1: STICKY_ERR_INVALID_APP: ${fixture('no-export.mjs')} has no default export, nor one named \`app\` or \`server\` (it exports \`port\`). Hint: Export`);
    expect(stderr).not.toContain('undefined');
    // No stack trace of the runtime's own frames.
    expect(stderr).not.toMatch(/\n\s+at /);
  });
});

describe('the config file\'s primary hook', () => {
  it('runs once in serve\'s primary, before the port opens; status, reload and scale never run it', async () => {
    const cwd = workDir();
    const hookLog = join(cwd, 'hook.log');
    writeFileSync(hookLog, '');
    const config = ['--config', fixture('hook.config.mjs')];
    const served = await serve(fixture('express-app.cjs'), config, cwd, { HOOK_LOG: hookLog });
    const calls = () => readFileSync(hookLog, 'utf8').trim().split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(calls()).toEqual([{ pid: served.child.pid, argv: expect.arrayContaining(['serve']) as unknown, slots: 2, state: 'starting' }]);

    for (const command of [['status'], ['reload'], ['scale', '3'], ['status', '--json']]) {
      const run = await runToEnd([...command, ...config], cwd, { HOOK_LOG: hookLog });
      expect(run.code, `${command.join(' ')}: ${run.stderr}`).toBe(0);
    }
    expect(calls()).toHaveLength(1);
  }, 60_000);

  it('a primary that is not a function exits with 2; one that throws stops serve with 3 and its error', async () => {
    const cwd = workDir();
    writeFileSync(join(cwd, 'sticky-runtime.config.mjs'), 'export default { primary: 42 };\n');
    const { code, stderr } = await runToEnd(['serve', fixture('express-app.cjs'), '--port', '0'], cwd);
    expect(code).toBe(2);
    expect(stderr).toContain('STICKY_ERR_INVALID_OPTION: `primary` in the config file');

    writeFileSync(join(cwd, 'throws.config.mjs'), 'export default { async primary() { throw new Error(\'no redis\'); } };\n');
    const thrown = await runToEnd(['serve', fixture('express-app.cjs'), '--workers', '1', '--port', '0', '--config', 'throws.config.mjs'], cwd);
    expect(thrown.code).toBe(3);
    expect(thrown.stderr).toContain('sticky-runtime: Error: no redis\n    at ');
  });
});

describe('Socket.IO under sticky-runtime serve', () => {
  it('with setupPrimary() in the config file\'s primary hook, a broadcast reaches the clients of every worker (6/6)', async () => {
    const served = await serve(fixture('socket-io-app.mjs'), ['--workers', '2', '--config', fixture('socket-io.config.mjs')], workDir());
    const clients = [1, 2, 3, 4, 5, 6].map(sourceAddress);
    const sockets: IoSocket[] = [];
    onTestFinished(() => { for (const socket of sockets) socket.disconnect(); });
    const helloes = await Promise.all(clients.map(async (client) => {
      const socket = connectIo(`http://127.0.0.1:${served.port}`, {
        // Long-polling first, then the upgrade: both reach the session's worker, routed by address.
        transports: ['polling', 'websocket'], agent: new http.Agent({ localAddress: client }) as never, localAddress: client, reconnection: false,
      } as Parameters<typeof connectIo>[1]);
      sockets.push(socket);
      return (await pEvent(socket as never, 'hello', { timeout: 15_000 })) as { workerId: number };
    }));
    // Clients on both workers.
    expect(new Set(helloes.map((hello) => hello.workerId)).size).toBe(2);
    await Promise.all(sockets.map(async (socket) => {
      if (socket.io.engine.transport.name !== 'websocket') await pEvent(socket.io.engine as never, 'upgrade', { timeout: 15_000 });
    }));

    const received = sockets.map((socket) => pEvent(socket as never, 'shouted', { timeout: 15_000 }));
    sockets[0]?.emit('shout', 'to everyone');
    expect(await Promise.all(received)).toEqual(clients.map(() => ({ text: 'to everyone', from: helloes[0]?.workerId })));
  }, 60_000);
});

/** An app module of the given version, as a user edits it: a request listener answering its version. */
const appSource = (version: number): string =>
  `export default (req, res) => res.end(JSON.stringify({ version: ${version}, slot: Number(process.env.STICKY_RUNTIME_SLOT), pid: process.pid }));\n`;

async function versionAt(port: number, localAddress: string): Promise<number> {
  const body = await new Promise<string>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, localAddress, agent: false, timeout: 10_000 }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => { text += chunk.toString(); });
      res.on('end', () => resolve(text));
    }).on('error', reject);
  });
  return (JSON.parse(body) as { version: number }).version;
}

describe('sticky-runtime serve --watch', () => {
  it('a change of the app under load: one reload, the new code answers, 0 failed requests; changes during a reload make one more', async () => {
    const cwd = workDir();
    const appDir = join(cwd, 'app');
    mkdirSync(join(appDir, 'node_modules'), { recursive: true });
    const appFile = join(appDir, 'app.mjs');
    writeFileSync(appFile, appSource(1));
    const served = await serve(appFile, ['--workers', '2', '--watch'], cwd);
    await waitFor(() => logLines(served.stderr()).some((line) => line.msg === 'watching for changes'), { timeout: 10_000 });
    const addresses = [1, 2, 3, 4, 5, 6].map(sourceAddress);
    const load = startLoad(served.port, addresses, 6);
    await load.until(50);
    const lines = (msg: string) => logLines(served.stderr()).filter((line) => line.msg === msg);
    const everyAddressAt = async (version: number): Promise<boolean> =>
      (await Promise.all(addresses.map((address) => versionAt(served.port, address)))).every((answer) => answer === version);

    // Ignored by default: dependencies and dotfiles.
    writeFileSync(join(appDir, 'node_modules', 'dep.js'), 'module.exports = 1;\n');
    writeFileSync(join(appDir, '.env'), 'A=1\n');
    writeFileSync(appFile, appSource(2));
    await waitFor(() => everyAddressAt(2), { timeout: 30_000, interval: 100 });
    // The new code answers on every address once the last slot switched; the reload ends after that.
    await waitFor(() => lines('reload end').length >= 1, { timeout: 30_000 });
    expect(lines('reload end')).toHaveLength(1);
    expect(lines('files changed, reloading').map((line) => line.changed)).toEqual([['app.mjs']]);

    // Edits while a reload runs collapse into exactly one more reload.
    writeFileSync(appFile, appSource(3));
    await waitFor(() => lines('reload begin').length === 2, { timeout: 30_000 });
    writeFileSync(appFile, appSource(4));
    writeFileSync(appFile, appSource(5));
    await waitFor(() => everyAddressAt(5), { timeout: 30_000, interval: 100 });
    await waitFor(() => lines('reload end').length === 3, { timeout: 30_000 });
    expect(lines('files changed, reloading')).toHaveLength(3);

    await load.until(50);
    const result = await load.stop();
    expect(result.errors).toEqual([]);
    expect(result.failed).toBe(0);
    for (const slots of result.slotsByAddress.values()) expect(new Set(slots).size).toBe(1);
  }, 120_000);
});
