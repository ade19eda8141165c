import { describe, expect, it } from 'vitest';
import { heartbeatInterval, isTimedOut } from '../../src/lifecycle/watchdog-primary.js';
import { normalizeListenOptions } from '../../src/options/index.js';

describe('heartbeatInterval', () => {
  it('pings five times per timeout, within 20 ms … 5 s', () => {
    expect(heartbeatInterval(30_000)).toBe(5_000);
    expect(heartbeatInterval(10_000)).toBe(2_000);
    expect(heartbeatInterval(1_000)).toBe(200);
    expect(heartbeatInterval(50)).toBe(20);
    expect(heartbeatInterval(3_600_000)).toBe(5_000);
  });
});

/**
 * The watchdog's rule over a run, for one worker: each tick (ms, `late` when the primary was stalled before
 * it) either gives the worker up or pings it, the first ping since its last message starting its silence;
 * `answers` are the times the primary reads a message from the worker. Returns each tick's verdict.
 */
function run(ticks: readonly (number | { at: number; late: true })[], answers: readonly number[], timeout = 1_000): string[] {
  const verdicts: string[] = [];
  let unansweredSince: number | undefined;
  let answered = 0;
  for (const tick of ticks) {
    const [now, isLate] = typeof tick === 'number' ? [tick, false] : [tick.at, tick.late];
    while (answered < answers.length && (answers[answered] as number) <= now) {
      unansweredSince = undefined;
      answered++;
    }
    if (isTimedOut(now, unansweredSince, timeout, isLate)) {
      verdicts.push(`timeout@${now}`);
      break;
    }
    unansweredSince ??= now;
    verdicts.push(`ping@${now}`);
  }
  return verdicts;
}

/** Ticks every `interval` ms from `from` to `to`, both included. */
const every = (from: number, to: number, interval = 200): number[] =>
  Array.from({ length: Math.floor((to - from) / interval) + 1 }, (_, i) => from + i * interval);

describe('isTimedOut', () => {
  it('gives up on a worker whose ping is unanswered for longer than the timeout, on an on-time tick only', () => {
    expect(isTimedOut(1_200, 200, 1_000, false)).toBe(false);
    expect(isTimedOut(1_400, 200, 1_000, false)).toBe(true);
    expect(isTimedOut(1_400, 200, 1_000, true)).toBe(false);
    // Nothing unanswered: never, however long since its last message.
    expect(isTimedOut(60_000, undefined, 1_000, false)).toBe(false);
  });

  it('gives a worker the whole timeout after the primary stalled, not one heartbeat', () => {
    // Answered at 0; the primary blocked until 1550 (late tick, pings); the worker is busy until 1800.
    expect(run([{ at: 1_550, late: true }, 1_750, 1_950, 2_150], [1_800])).toEqual(['ping@1550', 'ping@1750', 'ping@1950', 'ping@2150']);
    // Silence counted from its last message (0) would have given it up at 1750.
    expect(isTimedOut(1_750, 0, 1_000, false)).toBe(true);
    // Busy until 2500, within the timeout of the ping at 1550: kept.
    expect(run([{ at: 1_550, late: true }, ...every(1_750, 2_550)], [2_500])).not.toContainEqual(expect.stringMatching(/timeout/));
  });

  it('gives up on a hung worker at the first on-time tick past the timeout, with or without a stall', () => {
    // Last answer at 100, hung after it: the ping at 200 is never answered.
    expect(run(every(0, 2_000), [100]).at(-1)).toBe('timeout@1400');
    // The primary stalled from 250 to 1550: its late tick judges nobody, the next one gives up.
    expect(run([0, 200, { at: 1_550, late: true }, ...every(1_750, 2_550)], [100])).toEqual(['ping@0', 'ping@200', 'ping@1550', 'timeout@1750']);
    // Hung during the stall, its last answer read just after the late tick: it has until 2750 to answer the
    // ping at 1750, and is given up on at the tick after.
    expect(run([0, 200, { at: 1_550, late: true }, ...every(1_750, 3_200)], [100, 1_551]).at(-1)).toBe('timeout@2950');
  });
});

describe('workerTimeout', () => {
  it('defaults to 30 s, and 0 disables it', () => {
    expect(normalizeListenOptions({}).workerTimeout).toBe(30_000);
    expect(normalizeListenOptions({ workerTimeout: 0 }).workerTimeout).toBe(0);
  });

  it('rejects what is not a non-negative integer of ms', () => {
    expect(() => normalizeListenOptions({ workerTimeout: -1 })).toThrow(/`workerTimeout`.*-1 \(number\)/);
    // A JavaScript caller's wrong type.
    expect(() => normalizeListenOptions({ workerTimeout: '5s' as unknown as number })).toThrow(/`workerTimeout`/);
  });
});
