import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { userInfo } from 'node:os';
import { onTestFinished } from 'vitest';
import { pEvent } from 'p-event';
import { stopProcess } from './cluster.js';

// A local attacker of another uid: a real Node process run as `nobody`, which the tests can start only
// when they run as root (CI does). And what a process's sockets listen on, read from /proc.

/** Whether a user other than the owner may run this Node: every directory above it searchable, the binary executable. */
function othersMayRun(path: string): boolean {
  for (let at = path; ; at = dirname(at)) {
    if ((statSync(at).mode & 0o001) === 0) return false;
    if (at === dirname(at)) return true;
  }
}

/**
 * The uid and gid of `nobody`, or undefined when this process cannot start one (not root, no such
 * user, or this Node lies where other users cannot run it).
 */
export const nobody: { uid: number; gid: number } | undefined = ((): { uid: number; gid: number } | undefined => {
  if (process.platform !== 'linux' || process.getuid?.() !== 0 || !othersMayRun(process.execPath)) return undefined;
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((entry) => entry.startsWith('nobody:'));
  const [, , uid, gid] = line?.split(':') ?? [];
  return uid === undefined || gid === undefined ? undefined : { uid: Number(uid), gid: Number(gid) };
})();

export const NEEDS_ROOT =
  `needs root and a Node that other users may run, to run the attacker as nobody (running as ${userInfo().username}, ` +
  `Node at ${process.execPath})`;

/**
 * Runs `script` (CommonJS, `node -e`) as `nobody`, with `args` in `process.argv.slice(1)`; its
 * `process.send` reaches the test. Stopped when the test ends.
 */
export function runAsNobody(script: string, args: readonly string[] = []): ChildProcess {
  if (nobody === undefined) throw new Error(NEEDS_ROOT);
  const child = spawn(process.execPath, ['-e', script, ...args], {
    uid: nobody.uid, gid: nobody.gid, cwd: '/', stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  onTestFinished(() => stopProcess(child));
  return child;
}

/** The first message of `type` from the attacker. */
export async function messageOf<T>(child: ChildProcess, type: string, timeout = 15_000): Promise<T> {
  return (await pEvent(child, 'message', {
    filter: (message: unknown) => (message as { type?: unknown } | null)?.type === type, timeout,
  })) as T;
}

/** What a process's sockets listen on: Unix socket names (abstract ones as `\0name`) and TCP ports. */
export interface Listeners {
  unix: string[];
  tcpPorts: number[];
}

/** Reads the listening sockets among the open files of `pids` (as root, which may read every /proc/<pid>/fd). */
export function listenersOf(pids: readonly number[]): Listeners {
  const inodes = new Set<string>();
  for (const pid of pids) {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      const target = safeReadlink(`/proc/${pid}/fd/${fd}`);
      const inode = /^socket:\[(\d+)\]$/.exec(target ?? '')?.[1];
      if (inode !== undefined) inodes.add(inode);
    }
  }
  const unix: string[] = [];
  // Num RefCount Protocol Flags Type St Inode Path; Flags has __SO_ACCEPTCON (0x10000) when listening.
  for (const line of readFileSync('/proc/net/unix', 'utf8').split('\n').slice(1)) {
    const [, , , flags, , , inode, path] = line.trim().split(/\s+/);
    if (inode === undefined || !inodes.has(inode) || (Number.parseInt(flags ?? '0', 16) & 0x10000) === 0) continue;
    unix.push(path === undefined ? '' : path.replace(/^@/, '\0'));
  }
  const tcpPorts: number[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    // sl local_address rem_address st ... inode; st 0A is LISTEN.
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields[3] !== '0A' || !inodes.has(fields[9] ?? '')) continue;
      tcpPorts.push(Number.parseInt(fields[1]?.split(':')[1] ?? '0', 16));
    }
  }
  return { unix, tcpPorts };
}

function safeReadlink(path: string): string | undefined {
  try {
    return readlinkSync(path);
  } catch {
    return undefined; // The fd closed while we listed it.
  }
}
