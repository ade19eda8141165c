import { describe, expect, it } from 'vitest';
import { resolveLogger, isLoggerLike, type StickyLogger } from '../../src/logger.js';

/** A logger with pino's method shape but no child(), recording its calls. */
function recordingLogger(): StickyLogger & { calls: [string, object, string][] } {
  const calls: [string, object, string][] = [];
  const method = (level: string) => (fields: object, message: string) => { calls.push([level, fields, message]); };
  return { calls, error: method('error'), warn: method('warn'), info: method('info'), debug: method('debug') };
}

describe('resolveLogger', () => {
  it('gives a logger without child() one that merges the bindings into every call', () => {
    const target = recordingLogger();
    const log = resolveLogger(target, 'info').child({ component: 'lifecycle' }).child({ workerId: 3 });
    log.warn({ slot: 1 }, 'worker exited unexpectedly');
    log.info({}, 'reload end');
    expect(target.calls).toEqual([
      ['warn', { component: 'lifecycle', workerId: 3, slot: 1 }, 'worker exited unexpectedly'],
      ['info', { component: 'lifecycle', workerId: 3 }, 'reload end'],
    ]);
  });

  it('uses a logger with child() as it is', () => {
    const target = { ...recordingLogger(), child: () => target };
    expect(resolveLogger(target, 'info')).toBe(target);
  });

  it('tells pino-shaped objects from others', () => {
    expect(isLoggerLike(console)).toBe(true);
    expect(isLoggerLike({ info() {}, warn() {}, error() {} })).toBe(false);
    expect(isLoggerLike({ ...recordingLogger(), child: 'no' })).toBe(false);
  });
});
