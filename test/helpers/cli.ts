import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { onTestFailed, onTestFinished } from 'vitest';
import { stopProcess, until, waitForExit } from './cluster.js';

// The real `sticky-runtime` binary (dist/cli/main.js), run in a directory of its own.

const BIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
export const cliFixture = (name: string): string => fileURLToPath(new URL(`../fixtures/cli/${name}`, import.meta.url));

export interface CliRun { child: ChildProcess; stdout: () => string; stderr: () => string }

/** Starts the binary in `cwd` (its control socket lives there); stopped after the test. */
export function runCli(args: string[], cwd: string, env: Record<string, string> = {}): CliRun {
  const child = spawn(process.execPath, [BIN, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PORT: '', ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
  child.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  onTestFinished(() => stopProcess(child));
  onTestFailed(() => { console.error(`--- sticky-runtime ${args.join(' ')} ---\n${stdout}\n${stderr}`); });
  return { child, stdout: () => stdout, stderr: () => stderr };
}

/** Runs a command to its end. */
export async function runToEnd(args: string[], cwd: string, env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const run = runCli(args, cwd, env);
  const { code } = await waitForExit(run.child, 20_000);
  return { code, stdout: run.stdout(), stderr: run.stderr() };
}

/** A fresh directory (mode 0700), removed after the test. */
export function workDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sticky-cli-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface LogLine { msg: string; port?: number; pid?: number; workerPid?: number; slot?: number; [key: string]: unknown }

export const logLines = (text: string): LogLine[] =>
  text.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as LogLine);

/** Serves `app` and resolves with the public port once the CLI logged `serving`. */
export async function serveCli(app: string, flags: string[], cwd: string, env: Record<string, string> = {}): Promise<CliRun & { port: number }> {
  const run = runCli(['serve', app, '--port', '0', '--host', '127.0.0.1', ...flags], cwd, env);
  let port: number | undefined;
  await until(() => {
    port = logLines(run.stderr()).find((line) => line.msg === 'serving')?.port;
    if (run.child.exitCode !== null) throw new Error(`serve exited with ${run.child.exitCode}`);
    return port !== undefined;
  }, { timeout: 20_000 });
  return { ...run, port: port as number };
}
