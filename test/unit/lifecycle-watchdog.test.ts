import { describe, expect, it } from 'vitest';
import { heartbeatInterval, isTimedOut, silenceStart } from '../../src/lifecycle/watchdog-primary.js';
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
 * it) either gives the worker up or pings it; `answers` are the times the primary reads a message from the
 * worker (a message read at a tick's time is read after it, as the channels are read after the timers).
 * Returns each tick's verdict.
 */
function run(ticks: readonly (number | { at: number; late: true })[], answers: readonly number[], timeout = 1_000): string[] {
  const verdicts: string[] = [];
  let unansweredSince: number | undefined;
  let previousTick = 0;
  let answered = 0;
  for (const tick of ticks) {
    const [now, isLate] = typeof tick === 'number' ? [tick, false] : [tick.at, tick.late];
    while (answered < answers.length && (answers[answered] as number) < now) {
      unansweredSince = undefined;
      answered++;
    }
    if (isTimedOut(now, unansweredSince, timeout, isLate)) {
      verdicts.push(`timeout@${now}`);
      break;
    }
    unansweredSince = silenceStart(now, unansweredSince, previousTick, isLate);
    previousTick = now;
    verdicts.push(`ping@${now}`);
  }
  return verdicts;
}

/** Ticks every `interval` ms from `from` to `to`, both included. */
const every = (from: number, to: number, interval = 200): number[] =>
  Array.from({ length: Math.floor((to - from) / interval) + 1 }, (_, i) => from + i * interval);

const timeouts = (verdicts: string[]): string[] => verdicts.filter((verdict) => verdict.startsWith('timeout'));

describe('isTimedOut', () => {
  it('gives up on a worker whose ping is unanswered for the timeout, on an on-time tick only', () => {
    expect(isTimedOut(1_199, 200, 1_000, false)).toBe(false);
    expect(isTimedOut(1_200, 200, 1_000, false)).toBe(true);
    expect(isTimedOut(1_400, 200, 1_000, true)).toBe(false);
    // Nothing unanswered: never, however long since its last message.
    expect(isTimedOut(60_000, undefined, 1_000, false)).toBe(false);
  });
});

describe('silenceStart', () => {
  it('counts from the first unanswered ping; after a stall, anew if only the ping just before it is unanswered', () => {
    expect(silenceStart(400, undefined, 200, false)).toBe(400);
    expect(silenceStart(400, 200, 200, false)).toBe(200);
    expect(silenceStart(1_550, 200, 200, true)).toBe(1_550);
    expect(silenceStart(1_550, 0, 200, true)).toBe(0);
  });
});

describe('the watchdog over a run (heartbeat 200 ms, timeout 1000 ms)', () => {
  it('gives a worker the whole timeout after the primary stalled, not one heartbeat', () => {
    // Answered at 0; the primary blocked until 1550 (late tick, pings); the worker is busy until 1800.
    expect(run([{ at: 1_550, late: true }, 1_750, 1_950, 2_150], [1_800])).toEqual(['ping@1550', 'ping@1750', 'ping@1950', 'ping@2150']);
    // Silence counted from its last message (0) would have given it up at 1750.
    expect(isTimedOut(1_750, 0, 1_000, false)).toBe(true);
    // Busy until 2500, within the timeout of the ping at 1550: kept; until 2600, past it: given up on.
    expect(timeouts(run([{ at: 1_550, late: true }, ...every(1_750, 2_750)], [2_500]))).toEqual([]);
    expect(timeouts(run([{ at: 1_550, late: true }, ...every(1_750, 2_750)], [2_600]))).toEqual(['timeout@2550']);
  });

  it('does not hold the ping sent just before a stall against a worker (it may have left the primary after the stall)', () => {
    // Pinged at 200, the primary stalled from 210 to 1550, the worker answers at 1800.
    expect(timeouts(run([0, 200, { at: 1_550, late: true }, ...every(1_750, 2_750)], [100, 1_800]))).toEqual([]);
  });

  it('gives up on a hung worker at the first on-time tick a timeout after its first missed ping', () => {
    // Last answer at 100, hung after it: the ping at 200 is never answered.
    expect(run(every(0, 2_000), [100]).at(-1)).toBe('timeout@1200');
    // It missed the pings at 200 and 400, then the primary stalled until 1550: given up on at the next on-time tick.
    expect(run([...every(0, 400), { at: 1_550, late: true }, ...every(1_750, 2_550)], [100])).toEqual(['ping@0', 'ping@200', 'ping@400', 'ping@1550', 'timeout@1750']);
    // Hung just before the stall (only the ping at 400 missed): the timeout counts from the late tick.
    expect(run([...every(0, 400), { at: 1_550, late: true }, ...every(1_750, 3_000)], [100, 300]).at(-1)).toBe('timeout@2550');
    // Hung during the stall, its last answer read after the late tick: the timeout counts from the ping at 1750.
    expect(run([...every(0, 400), { at: 1_550, late: true }, ...every(1_750, 3_200)], [100, 300, 1_550]).at(-1)).toBe('timeout@2750');
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
