// How busy the whole machine is, from /proc/stat (Linux), so that load from processes outside the
// benchmark can be waited out before a measurement and reported next to it.
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

const TICKS_PER_SECOND = 100; // USER_HZ, 100 on Linux

/** CPU time the machine spent outside idle (user, nice, system), in µs, and when it was read. */
export function readBusy() {
  try {
    const line = readFileSync('/proc/stat', 'latin1').split('\n', 1)[0];
    const [user, nice, system] = line.trim().split(/\s+/).slice(1, 4).map(Number);
    return { micros: ((user + nice + system) * 1e6) / TICKS_PER_SECOND, at: performance.now() };
  } catch {
    return { micros: Number.NaN, at: performance.now() };
  }
}

/** Cores' worth of CPU used between two readings, minus `ownMicros` of our own processes. */
export function foreignCores(before, after, ownMicros = 0) {
  return (after.micros - before.micros - ownMicros) / ((after.at - before.at) * 1000);
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
