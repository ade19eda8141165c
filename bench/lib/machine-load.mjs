// How busy the whole machine is, from /proc/stat (Linux), so that load from processes outside the
// benchmark can be waited out before a measurement and reported next to it.
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

const TICKS_PER_SECOND = 100; // USER_HZ, 100 on Linux

/**
 * CPU time the machine spent outside idle (user, nice, system, irq, softirq), in µs, and when it was
 * read. irq and softirq count because the kernel may book loopback network work there that
 * getrusage() books to the process that caused it.
 */
export function readBusy() {
  try {
    const line = readFileSync('/proc/stat', 'latin1').split('\n', 1)[0];
    const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1, 9).map(Number);
    return {
      micros: ((user + nice + system + irq + softirq) * 1e6) / TICKS_PER_SECOND,
      // Time the hypervisor gave this virtual machine's CPUs to someone else.
      stealMicros: (steal * 1e6) / TICKS_PER_SECOND,
      at: performance.now(),
    };
  } catch {
    return { micros: Number.NaN, stealMicros: Number.NaN, at: performance.now() };
  }
}

/** utime + stime of a process in µs, from /proc/<pid>/stat; NaN when it cannot be read. */
export function processCpuMicros(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // Fields after the command name, which is in parentheses and may contain spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / TICKS_PER_SECOND;
  } catch {
    return Number.NaN;
  }
}

/** Cores' worth of CPU used between two readings, minus `ownMicros` of our own processes. */
export function foreignCores(before, after, ownMicros = 0) {
  return (after.micros - before.micros - ownMicros) / ((after.at - before.at) * 1000);
}

/** Cores' worth of CPU time the hypervisor took away between two readings. */
export function stolenCores(before, after) {
  return (after.stealMicros - before.stealMicros) / ((after.at - before.at) * 1000);
}

/**
 * Waits until the machine is quiet (less than `threshold` cores busy over one second), for at most
 * `maxSeconds`. Resolves to the last reading, in cores, and whether it was quiet.
 */
export async function waitForQuiet({ threshold = 0.15, maxSeconds = 30 } = {}) {
  const deadline = performance.now() + maxSeconds * 1000;
  let cores = Number.NaN;
  do {
    const before = readBusy();
    await sleep(1000);
    cores = foreignCores(before, readBusy());
    if (!(cores >= threshold)) return { cores, isQuiet: true };
  } while (performance.now() < deadline);
  return { cores, isQuiet: false };
}

/**
 * The kernel's count of connections dropped because a listening socket's accept queue was full
 * (TcpExt ListenOverflows, machine-wide); NaN when it cannot be read.
 */
export function readListenOverflows() {
  try {
    const lines = readFileSync('/proc/net/netstat', 'latin1').split('\n').filter((line) => line.startsWith('TcpExt:'));
    const names = lines[0].split(/\s+/);
    const values = lines[1].split(/\s+/);
    return Number(values[names.indexOf('ListenOverflows')]);
  } catch {
    return Number.NaN;
  }
}
