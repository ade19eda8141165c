import { execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, renameSync } from 'node:fs';
import { get } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, onTestFailed, onTestFinished } from 'vitest';
import { stopProcess, waitFor, waitForExit } from '../helpers/cluster.js';
import { cliFixture as fixture, logLines, runCli, runToEnd, serveCli as serve, workDir } from '../helpers/cli.js';
import { repeatedKeys } from '../helpers/json-keys.js';

const BIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const PRETTY_LINE = /^\d\d:\d\d:\d\d\.\d{3} (TRACE|DEBUG|INFO |WARN |ERROR) \S+ +\S/;

/** The body of GET `path`, from `localAddress`. */
function getText(port: number, path: string, localAddress = '127.0.0.1'): Promise<string> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path, localAddress, agent: false, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => { body += chunk; }).on('end', () => resolve(body));
    }).on('error', reject).on('timeout', () => reject(new Error(`GET ${path} timed out`)));
  });
}

/** The primary's pid and each slot's worker pid, from `status --json`. */
async function statusOf(cwd: string): Promise<{ pid: number; slots: Map<number, number> }> {
  const status = JSON.parse((await runToEnd(['status', '--json'], cwd)).stdout) as { pid: number; stats: { slots: { slot: number; pid: number }[] } };
  return { pid: status.pid, slots: new Map(status.stats.slots.map((slot) => [slot.slot, slot.pid])) };
}

async function reloadAndStop(cwd: string, child: ReturnType<typeof runCli>['child']): Promise<void> {
  expect((await runToEnd(['reload'], cwd)).code).toBe(0);
  await stopProcess(child);
}

describe('CLI logs', () => {
  it('writes one pid per JSON line: the primary\'s lines about a worker name it workerPid (start, reload, shutdown)', async () => {
    const cwd = workDir();
    const served = await serve(fixture('express-app.cjs'), ['--workers', '2', '--log-level', 'debug'], cwd);
    await reloadAndStop(cwd, served.child);
    const raw = served.stderr().split('\n').filter((line) => line.startsWith('{'));
    expect(raw.map(repeatedKeys).filter((keys) => keys.length > 0)).toEqual([]);
    const lines = logLines(served.stderr());
    const forked = lines.filter((line) => line.msg === 'worker forked');
    expect(forked).toHaveLength(4);
    for (const line of forked) {
      expect(line.pid).toBe(served.child.pid);
      expect(line.workerPid).not.toBe(served.child.pid);
    }
    expect(lines.filter((line) => line.msg === 'shutdown end')).toHaveLength(1);
  });

  it('on a terminal, writes each event on one line: time, level, component[slot/worker], message, fields', async () => {
    const cwd = workDir();
    const command = [process.execPath, BIN, 'serve', fixture('express-app.cjs'), '--port', '0', '--host', '127.0.0.1', '--workers', '2', '--log-level', 'debug']
      .map((arg) => `'${arg}'`).join(' ');
    // script(1) runs the command on a pseudo-terminal: stderr is a TTY, as in an operator's shell.
    const child = spawn('script', ['-qfec', command, '/dev/null'], { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1', PORT: '' } });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString(); });
    onTestFinished(() => stopProcess(child));
    onTestFailed(() => { console.error(output); });
    await waitFor(() => / serving port=\d+/.test(output), { timeout: 20_000 });
    const { pid } = await statusOf(cwd);
    expect((await runToEnd(['reload'], cwd)).code).toBe(0);
    process.kill(pid, 'SIGTERM');
    await waitForExit(child, 20_000);
    const lines = output.split(/\r?\n/).filter((line) => line !== '');
    expect(lines.filter((line) => !PRETTY_LINE.test(line))).toEqual([]);
    const count = (message: string): number => lines.filter((line) => line.includes(` ${message}`)).length;
    // Two slots, each started and replaced once: four workers, each forked, ready and drained once.
    expect([count('worker forked'), count('worker ready'), count('drain begin'), count('drain end')]).toEqual([4, 4, 4, 4]);
    expect(lines.filter((line) => / lifecycle\[[01]\/[1-4]\] +worker ready workerPid=\d+$/.test(line))).toHaveLength(4);
    expect(lines.filter((line) => / worker\[[01]\/[1-4]\] +drain begin waitForConnections=true$/.test(line))).toHaveLength(4);
    // One line per event: every line above is an event's first line (no continuation lines), and the
    // run is these 16 worker events plus about ten milestones (listening, serving, reload and shutdown steps).
    expect(lines.length).toBeLessThanOrEqual(4 * 4 + 14);
  });

  it('--prefix-output: each worker\'s stdout and stderr lines carry its slot and pid; partial and long lines kept whole', async () => {
    const cwd = workDir();
    const served = await serve(fixture('output-app.mjs'), ['--workers', '2', '--prefix-output'], cwd, { LONG_LINE: '1' });
    const { slots } = await statusOf(cwd);
    await waitFor(() => served.stdout().includes(`[slot 1|pid ${slots.get(1)}] partial line of slot 1\n`)
      && served.stdout().includes(`[slot 0|pid ${slots.get(0)}] partial line of slot 0\n`), { timeout: 10_000 });
    for (const [slot, pid] of slots) {
      expect(served.stdout()).toContain(`[slot ${slot}|pid ${pid}] app started in slot ${slot}\n`);
      expect(served.stderr()).toContain(`[slot ${slot}|pid ${pid}] app stderr in slot ${slot}\n`);
      // 40,000 characters without a newline: cut at 16 KiB, each piece a prefixed line of its own.
      const long = served.stdout().split('\n').filter((line) => line.startsWith(`[slot ${slot}|pid ${pid}] L`));
      expect(long.map((line) => line.length - `[slot ${slot}|pid ${pid}] `.length)).toEqual([16_384, 16_384, 7_232]);
    }
    const answer = await getText(served.port, '/say?text=hello');
    const slot = Number(answer.replace('slot ', ''));
    await waitFor(() => served.stdout().includes(`[slot ${slot}|pid ${slots.get(slot)}] said hello\n`), { timeout: 10_000 });
    await waitFor(() => served.stderr().includes(`[slot ${slot}|pid ${slots.get(slot)}] warned hello\n`), { timeout: 10_000 });
  });

  it('a chatty worker does not stall the cluster when the primary\'s stdout is not read: lines are dropped, counted', { timeout: 90_000 }, async () => {
    const cwd = workDir();
    const logDir = join(cwd, 'logs');
    // stdout is a pipe (a FIFO, as in `serve … | less`) nobody reads: once its 64 KiB are full, no
    // write to it completes. A primary that stopped reading the workers then (stream backpressure)
    // would leave their output queued in their memory: `chatty done` would never reach the files.
    const fifo = join(cwd, 'stdout.fifo');
    execFileSync('mkfifo', [fifo]);
    const unread = openSync(fifo, 'r+');
    onTestFinished(() => closeSync(unread));
    const child = spawn(process.execPath, [BIN, 'serve', fixture('output-app.mjs'), '--port', '0', '--host', '127.0.0.1', '--workers', '2', '--log-dir', logDir],
      { cwd, stdio: ['ignore', unread, 'pipe'], env: { ...process.env, PORT: '', CHATTY_BYTES: String(16 * 1024 * 1024) } });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    onTestFinished(() => stopProcess(child));
    onTestFailed(() => { console.error(stderr); });
    let port: number | undefined;
    await waitFor(() => (port = logLines(stderr).find((line) => line.msg === 'serving')?.port) !== undefined, { timeout: 20_000 });
    // Dropping, not stalling: both workers still answer, and each wrote its 16 MB to the end.
    const answers = await Promise.all(['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5'].map((address) => getText(port as number, '/', address)));
    expect(answers.every((answer) => /^slot [01]$/.test(answer))).toBe(true);
    for (const slot of [0, 1]) {
      await waitFor(() => existsSync(join(logDir, `slot-${slot}.log`)) && readFileSync(join(logDir, `slot-${slot}.log`), 'utf8').includes(`chatty done in slot ${slot}\n`), { timeout: 60_000 });
    }
    await waitFor(() => logLines(stderr).some((line) => line.msg === 'app output dropped: a destination is not keeping up'), { timeout: 20_000 });
    const dropped = logLines(stderr).filter((line) => line.msg === 'app output dropped: a destination is not keeping up');
    expect(Number(dropped.at(-1)?.droppedLines)).toBeGreaterThan(0);
    // And it still shuts down on its own: no write to the full pipe holds the process.
    child.kill('SIGTERM');
    expect((await waitForExit(child, 15_000)).code).toBe(0);
  });

  it('--log-file keeps the runtime\'s JSON lines and the prefixed output; --log-dir one file per slot, reopened on SIGUSR2', async () => {
    const cwd = workDir();
    const served = await serve(fixture('output-app.mjs'), ['--workers', '2', '--log-file', 'all.log', '--log-dir', 'logs'], cwd);
    const { pid, slots } = await statusOf(cwd);
    const slotLog = (slot: number): string => readFileSync(join(cwd, 'logs', `slot-${slot}.log`), 'utf8');
    await waitFor(() => [0, 1].every((slot) => existsSync(join(cwd, 'logs', `slot-${slot}.log`)) && slotLog(slot).includes(`app stderr in slot ${slot}\n`)), { timeout: 10_000 });
    for (const slot of [0, 1]) {
      // (Its stdout and stderr are two pipes: their lines interleave in the order the primary reads them.)
      expect(slotLog(slot)).toContain(`app started in slot ${slot}\n`);
      expect(slotLog(slot)).toContain(`partial line of slot ${slot}\n`);
      expect(slotLog(slot)).not.toContain(`slot ${1 - slot}`);
    }
    // logrotate moves the file away, then signals: the next lines go to a new file of the same name.
    renameSync(join(cwd, 'logs', 'slot-0.log'), join(cwd, 'logs', 'slot-0.log.1'));
    process.kill(pid, 'SIGUSR2');
    await waitFor(() => logLines(served.stderr()).some((line) => line.msg === 'log files reopened'), { timeout: 10_000 });
    await reloadAndStop(cwd, served.child);
    expect(slotLog(0)).toContain('app started in slot 0\n');
    expect(readFileSync(join(cwd, 'logs', 'slot-0.log.1'), 'utf8')).not.toContain('drain end');
    const all = readFileSync(join(cwd, 'all.log'), 'utf8').split('\n').filter((line) => line !== '');
    expect(logLines(all.join('\n')).map((line) => line.msg)).toEqual(expect.arrayContaining(['serving', 'reload end', 'shutdown end']));
    expect(all).toEqual(expect.arrayContaining([`[slot 0|pid ${slots.get(0)}] app started in slot 0`, `[slot 1|pid ${slots.get(1)}] app stderr in slot 1`]));
  });

  it('a log file that cannot be written exits with 2 before anything starts', async () => {
    const cwd = workDir();
    const { code, stderr } = await runToEnd(['serve', fixture('output-app.mjs'), '--workers', '1', '--port', '0', '--log-file', 'missing/dir/all.log'], cwd);
    expect(code).toBe(2);
    expect(stderr).toContain(`sticky-runtime: STICKY_ERR_INVALID_OPTION: Cannot append to the log file ${join(cwd, 'missing/dir/all.log')}.`);
  });

  it('--log-file without --prefix-output: the primary and each worker append their runtime lines, the app\'s output stays out', async () => {
    const cwd = workDir();
    const served = await serve(fixture('output-app.mjs'), ['--workers', '2', '--log-file', 'runtime.log'], cwd);
    await stopProcess(served.child);
    const raw = readFileSync(join(cwd, 'runtime.log'), 'utf8').split('\n').filter((line) => line !== '');
    expect(raw.every((line) => line.startsWith('{') && repeatedKeys(line).length === 0)).toBe(true);
    const lines = logLines(raw.join('\n'));
    expect(lines.filter((line) => line.msg === 'drain end' && line.component === 'worker').map((line) => line.slot).sort()).toEqual([0, 1]);
    expect(lines.filter((line) => line.msg === 'shutdown end')).toHaveLength(1);
    expect(served.stdout()).toContain('app started in slot 0\n');
  });
});
