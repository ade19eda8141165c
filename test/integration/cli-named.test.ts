import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, onTestFailed, onTestFinished } from 'vitest';
import { stopProcess, waitFor, waitForExit } from '../helpers/cluster.js';
import { cliFixture as fixture, runCli, runToEnd, serveCli as serve, workDir } from '../helpers/cli.js';

// Named clusters: `--name` puts the control socket in a 0700 directory of the user's
// ($XDG_RUNTIME_DIR/sticky-runtime, else <tmpdir>/sticky-runtime-<uid>); `status` lists them all;
// `status --watch` is a live view, tested in a pseudo-terminal. Every test has its own runtime dir.

const BIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const uid = process.getuid?.() ?? 0;

interface StatusJson { name: string | null; controlSocket: string; stats: { slots: { slot: number; pid: number; isReady: boolean }[] } }
const statusLines = (stdout: string): StatusJson[] => stdout.trim().split('\n').map((line) => JSON.parse(line) as StatusJson);

describe('sticky-runtime --name', () => {
  it('two named clusters in one directory: own sockets in a 0700 directory, listed by status, controlled by name', async () => {
    const cwd = workDir();
    const env = { XDG_RUNTIME_DIR: workDir() };
    const a = await serve(fixture('express-app.cjs'), ['--workers', '1', '--name', 'a'], cwd, env);
    const b = await serve(fixture('express-app.cjs'), ['--workers', '2', '--name', 'b'], cwd, env);
    const directory = join(env.XDG_RUNTIME_DIR, 'sticky-runtime');
    expect(statSync(directory).mode & 0o777).toBe(0o700);
    expect(statSync(join(directory, 'a.sock')).mode & 0o777).toBe(0o600);
    expect(statSync(join(directory, 'b.sock')).isSocket()).toBe(true);
    expect(existsSync(join(cwd, 'sticky-runtime.sock'))).toBe(false);

    const listed = await runToEnd(['status', '--json'], cwd, env);
    expect(listed.code).toBe(0);
    expect(statusLines(listed.stdout).map((s) => [s.name, s.controlSocket, s.stats.slots.length]))
      .toEqual([['a', join(directory, 'a.sock'), 1], ['b', join(directory, 'b.sock'), 2]]);
    const text = await runToEnd(['status'], workDir(), env);
    expect(text.stdout).toMatch(new RegExp(`^cluster a \\(${join(directory, 'a.sock')}\\)\\nrunning · primary pid ${a.child.pid} `));
    expect(text.stdout).toContain(`\n\ncluster b (${join(directory, 'b.sock')})\nrunning · primary pid ${b.child.pid} `);

    expect(await runToEnd(['scale', '--name', 'b', '3'], cwd, env)).toMatchObject({ code: 0, stdout: 'scaled from 2 to 3 workers\n' });
    const reload = await runToEnd(['reload', '--name', 'a'], cwd, env);
    expect(reload).toMatchObject({ code: 0, stdout: 'reloaded 1 slots\n' });
    const one = JSON.parse((await runToEnd(['status', '--json', '--name', 'b'], cwd, env)).stdout) as StatusJson;
    expect(one.stats.slots).toHaveLength(3);

    // The unnamed cluster of the directory joins the list.
    await serve(fixture('express-app.cjs'), ['--workers', '1'], cwd, env);
    expect(statusLines((await runToEnd(['status', '--json'], cwd, env)).stdout).map((s) => s.name)).toEqual(['a', 'b', null]);

    const again = await runToEnd(['serve', fixture('express-app.cjs'), '--workers', '1', '--port', '0', '--name', 'a'], cwd, env);
    expect(again.code).toBe(3);
    expect(again.stderr).toContain(`sticky-runtime: STICKY_ERR_LISTEN_FAILED: A cluster named "a" already runs (its control socket ${join(directory, 'a.sock')} answers). Hint: Stop it first, or choose another \`--name\``);
    expect((await runToEnd(['status', '--name', 'a', '--json'], cwd, env)).code).toBe(0);

    a.child.kill('SIGTERM');
    expect(await waitForExit(a.child)).toEqual({ code: 0, signal: null });
    expect(existsSync(join(directory, 'a.sock'))).toBe(false);
    const gone = await runToEnd(['status', '--name', 'a'], cwd, env);
    expect(gone.code).toBe(4);
    expect(gone.stderr).toContain('STICKY_ERR_CONTROL_UNAVAILABLE');
  }, 90_000);

  it('without $XDG_RUNTIME_DIR the directory is <tmpdir>/sticky-runtime-<uid>', async () => {
    const cwd = workDir();
    const env = { XDG_RUNTIME_DIR: '', TMPDIR: workDir() };
    await serve(fixture('express-app.cjs'), ['--workers', '1', '--name', 'api'], cwd, env);
    const directory = join(env.TMPDIR, `sticky-runtime-${uid}`);
    expect(statSync(directory).mode & 0o777).toBe(0o700);
    expect(statSync(join(directory, 'api.sock')).isSocket()).toBe(true);
    expect(statusLines((await runToEnd(['status', '--json'], cwd, env)).stdout).map((s) => s.name)).toEqual(['api']);
  });

  it('refuses a socket directory with group or other bits (serve exits 3, commands 4) and leaves it; refuses a bad name (2)', async () => {
    const cwd = workDir();
    const env = { XDG_RUNTIME_DIR: workDir() };
    const directory = join(env.XDG_RUNTIME_DIR, 'sticky-runtime');
    mkdirSync(directory, { mode: 0o755 });
    const served = await runToEnd(['serve', fixture('express-app.cjs'), '--workers', '1', '--port', '0', '--name', 'a'], cwd, env);
    expect(served.code).toBe(3);
    expect(served.stderr).toBe(`sticky-runtime: STICKY_ERR_LISTEN_FAILED: Refusing the control socket directory ${directory}: its mode is 755, not 700; it is left as it is. Hint: Remove it if it is yours to remove (serve creates it again, mode 0700), or set $XDG_RUNTIME_DIR.\n`);
    expect(statSync(directory).mode & 0o777).toBe(0o755);
    const status = await runToEnd(['status', '--name', 'a'], cwd, env);
    expect(status.code).toBe(4);
    expect(status.stderr).toContain(`STICKY_ERR_CONTROL_UNTRUSTED: Refusing the control socket directory ${directory}: its mode is 755, not 700.`);
    const listed = await runToEnd(['status'], cwd, env);
    expect(listed.code).toBe(4);
    expect(listed.stderr).toContain('STICKY_ERR_CONTROL_UNTRUSTED');

    for (const name of ['../x', '', 'a/b', '.hidden', 'x'.repeat(65)]) {
      const bad = await runToEnd(['status', '--name', name], cwd, env);
      expect(bad.code, name).toBe(2);
      expect(bad.stderr).toContain('STICKY_ERR_INVALID_OPTION: Expected `--name` to be 1–64 letters');
    }
    const both = await runToEnd(['status', '--name', 'a', '--control-socket', 'x.sock'], cwd, env);
    expect(both.code).toBe(2);
  });
});

/** `status --watch` in a pseudo-terminal: `script` gives it a tty as stdin and stdout. */
function watchInTerminal(args: string[], cwd: string, env: Record<string, string>) {
  const command = [process.execPath, BIN, 'status', '--watch', ...args].join(' ');
  const child = spawn('script', ['-qfec', command, '/dev/null'], { cwd, env: { ...process.env, ...env, TERM: 'xterm' }, stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  onTestFinished(() => stopProcess(child));
  onTestFailed(() => { console.error(`--- status --watch ---\n${JSON.stringify(output.slice(-3000))}`); });
  /** The last frame drawn completely (cursor home … clear to end), without escape sequences. */
  const frame = (): string => {
    const frames = output.split('\x1b[H');
    const complete = frames.filter((part) => part.includes('\x1b[J'));
    return (complete.at(-1) ?? '').replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '');
  };
  return { child, output: () => output, frame };
}

const rowsOf = (frame: string): { slot: number; pid: number; state: string }[] => [...frame.matchAll(/^(\d+)\s+(\d+)\s+(\w+)\s+\S+\s+(\S+)\s+(\S+ ?\w*)\s+(\S+)\s+(\d+)\s+(\d+)/gm)]
  .map((match) => ({ slot: Number(match[1]), pid: Number(match[2]), state: match[3] as string }));

describe('sticky-runtime status --watch', () => {
  it('draws a row per slot in place in a terminal, shows the new pids after a reload, quits on q', async () => {
    const cwd = workDir();
    const env = { XDG_RUNTIME_DIR: workDir() };
    await serve(fixture('express-app.cjs'), ['--workers', '2', '--name', 'web'], cwd, env);
    const pids = async (): Promise<number[]> => statusLines((await runToEnd(['status', '--json', '--name', 'web'], cwd, env)).stdout)[0]?.stats.slots.map((slot) => slot.pid) ?? [];
    const before = await pids();

    const view = watchInTerminal(['--name', 'web'], cwd, env);
    await waitFor(() => JSON.stringify(rowsOf(view.frame())) === JSON.stringify(before.map((pid, slot) => ({ slot, pid, state: 'ready' }))), { timeout: 15_000 });
    expect(view.frame()).toMatch(/SLOT\s+PID\s+STATE\s+UPTIME\s+CPU\s+MEM\s+REQ\/S\s+RESTARTS\s+QUEUED\s+HANDOFFS/);
    expect(view.frame()).toContain(`cluster web (${join(env.XDG_RUNTIME_DIR, 'sticky-runtime', 'web.sock')})`);
    // Redrawn in place on the alternate screen.
    expect(view.output()).toContain('\x1b[?1049h');
    expect(view.output().split('\x1b[H').length).toBeGreaterThan(1);

    expect((await runToEnd(['reload', '--name', 'web'], cwd, env)).code).toBe(0);
    const after = await pids();
    expect(after.filter((pid) => before.includes(pid))).toEqual([]);
    await waitFor(() => JSON.stringify(rowsOf(view.frame())) === JSON.stringify(after.map((pid, slot) => ({ slot, pid, state: 'ready' }))), { timeout: 15_000 });
    // The new workers' own figures: CPU and memory once each reported (every second), requests/s from two polls.
    await waitFor(() => /^0\s+\d+\s+ready\s+\S+\s+\d+\.\d%\s+\d+\.\d MB\s+(\d+\.\d|-)\s+1\s+0\s+\d+$/m.test(view.frame()), { timeout: 10_000 });

    view.child.stdin.write('q');
    expect(await waitForExit(view.child)).toEqual({ code: 0, signal: null });
    // The terminal is left as it was: main screen back, cursor shown.
    expect(view.output()).toContain('\x1b[?1049l');
  }, 60_000);

  it('prints plain frames without escape sequences when stdout is not a terminal; exits 4 when no cluster runs', async () => {
    const cwd = workDir();
    const env = { XDG_RUNTIME_DIR: workDir() };
    const none = await runToEnd(['status', '--watch'], cwd, env);
    expect(none.code).toBe(4);
    expect(none.stderr).toContain('STICKY_ERR_CONTROL_UNAVAILABLE');

    await serve(fixture('express-app.cjs'), ['--workers', '2'], cwd, env);
    const run = runCli(['status', '--watch'], cwd, env);
    await waitFor(() => run.stdout().split('\n\n').filter((part) => /^1\s+\d+\s+ready/m.test(part)).length >= 2, { timeout: 15_000 });
    expect(run.stdout()).not.toMatch(/\x1b/);
    expect(rowsOf(run.stdout().split('\n\n')[1] ?? '').map((row) => row.slot)).toEqual([0, 1]);
    run.child.kill('SIGINT');
    expect(await waitForExit(run.child)).toEqual({ code: 0, signal: null });
  }, 60_000);
});
