import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { pEvent } from 'p-event';
import { isMessage, pause, spawnCluster, waitFor, waitForExit, type SpawnedCluster } from '../helpers/cluster.js';
import { isKernelAvailable, onLinux } from '../helpers/platform.js';

// Connections the kernel completed but nobody accepted yet, when the cluster shuts down: each one is
// accepted and answered, none is reset. Made deterministic by stopping the process that accepts
// (SIGSTOP of the slot's worker on the kernel plane, a blocked event loop in the primary on the
// primary hop) while the connections queue.

interface Outcome { id: number; connected: boolean; reset: boolean; text: string }

/** Connects and writes one GET; resolves once the kernel completed the handshake, with the answer to come. */
async function queueRequest(port: number, id: number): Promise<{ outcome: Promise<Outcome> }> {
  const socket = net.connect({ port, host: '127.0.0.1', localAddress: '127.0.0.2' });
  onTestFinished(() => { socket.destroy(); });
  let text = '';
  const outcome = new Promise<Outcome>((resolve) => {
    socket.on('data', (chunk: Buffer) => { text += chunk.toString(); });
    socket.on('end', () => resolve({ id, connected: true, reset: false, text }));
    socket.on('error', (error: NodeJS.ErrnoException) => resolve({ id, connected: true, reset: error.code === 'ECONNRESET', text }));
    // Closed without an end of stream or an error: not answered.
    socket.on('close', () => resolve({ id, connected: true, reset: false, text }));
  });
  await pEvent(socket, 'connect', { timeout: 5_000 });
  socket.write(`GET /queued?id=${id} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
  return { outcome };
}

/** Every queued connection got its own complete answer from the worker. */
function expectAllAnswered(outcomes: Outcome[], count: number): void {
  expect(outcomes.filter((outcome) => outcome.reset).map((outcome) => outcome.id)).toEqual([]);
  expect(outcomes).toHaveLength(count);
  for (const { id, text } of outcomes) {
    expect(text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    const body = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as { url: string };
    expect(body.url).toBe(`/queued?id=${id}`);
  }
}

const COUNT = 40;
/** Ms a worker stays stopped while its slot's socket goes away. */
const STALL_MS = 300;

/** One GET on a fresh connection: 'answered', or the error code the client saw. */
function attempt(port: number, id: number): Promise<string> {
  const socket = net.connect({ port, host: '127.0.0.1', localAddress: '127.0.0.3' });
  onTestFinished(() => { socket.destroy(); });
  socket.on('connect', () => socket.write(`GET /late?id=${id} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
  return new Promise((resolve) => {
    let text = '';
    socket.on('data', (chunk: Buffer) => { text += chunk.toString(); });
    socket.on('end', () => resolve(text.startsWith('HTTP/1.1 200 OK') ? 'answered' : 'unanswered'));
    socket.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
  });
}

function start(steering: 'kernel' | 'primary'): Promise<SpawnedCluster> {
  return spawnCluster('shutdown-app.mjs', { env: { WORKERS: '1', HOOK: 'none', OPTIONS: JSON.stringify({ steering }) } });
}

describe.skipIf(!onLinux)('shutdown with connections waiting in the accept queue', () => {
  it.skipIf(!isKernelAvailable)('kernel plane: the stopped worker accepts and answers all 40 queued connections after SIGTERM', async () => {
    const cluster = await start('kernel');
    const [workerPid] = (cluster.ready.workers as { pid: number }[]).map((worker) => worker.pid) as [number];
    process.kill(workerPid, 'SIGSTOP');
    onTestFinished(() => { try { process.kill(workerPid, 'SIGCONT'); } catch { /* exited */ } });
    const pending: Promise<Outcome>[] = [];
    for (let id = 0; id < COUNT; id++) pending.push((await queueRequest(cluster.port, id)).outcome);
    const shutdownStart = pEvent(cluster.child, 'message', { filter: isMessage('shutdownStart'), timeout: 5_000 });
    cluster.child.kill('SIGTERM');
    await shutdownStart;
    // The primary has begun closing the slot's socket while all 40 still wait in its queue.
    process.kill(workerPid, 'SIGCONT');
    expectAllAnswered(await Promise.all(pending), COUNT);
    expect((await waitForExit(cluster.child)).code).toBe(0);
  });

  it.skipIf(!isKernelAvailable)('kernel plane: connections attempted while the draining worker is stalled are refused, never reset', async () => {
    const cluster = await start('kernel');
    const [workerPid] = (cluster.ready.workers as { pid: number }[]).map((worker) => worker.pid) as [number];
    onTestFinished(() => { try { process.kill(workerPid, 'SIGCONT'); } catch { /* exited */ } });
    cluster.child.kill('SIGTERM');
    await waitFor(() => cluster.output().includes('"msg":"drain begin"'));
    // A worker starved of CPU while its slot's socket closes, for longer than any fixed grace would allow.
    process.kill(workerPid, 'SIGSTOP');
    const attempts = Array.from({ length: 20 }, (_, id) => attempt(cluster.port, id));
    await pause(STALL_MS);
    process.kill(workerPid, 'SIGCONT');
    const outcomes = await Promise.all(attempts);
    expect(outcomes.filter((outcome) => outcome === 'ECONNRESET')).toEqual([]);
    // Their handshakes never completed: each meets the closed port.
    expect(outcomes).toEqual(Array.from({ length: 20 }, () => 'ECONNREFUSED'));
    expect((await waitForExit(cluster.child)).code).toBe(0);
  });

  it('primary hop: 40 connections queued while the primary is blocked are all handed over and answered', async () => {
    const cluster = await start('primary');
    const dir = mkdtempSync(join(tmpdir(), 'sticky-queue-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const release = join(dir, 'release');
    const blocking = pEvent(cluster.child, 'message', { filter: isMessage('blocking'), timeout: 5_000 });
    cluster.child.send({ type: 'blockThenClose', file: release, waitForConnections: true });
    await blocking;
    const pending: Promise<Outcome>[] = [];
    for (let id = 0; id < COUNT; id++) pending.push((await queueRequest(cluster.port, id)).outcome);
    // The primary wakes and starts its shutdown before its event loop sees the queued connections.
    writeFileSync(release, '');
    expectAllAnswered(await Promise.all(pending), COUNT);
    await pEvent(cluster.child, 'message', { filter: isMessage('closed'), timeout: 15_000 });
  });
});
