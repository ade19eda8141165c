import { describe, expect, it } from 'vitest';
import { clockOf, formatLogLine, formatRecord, valueText, whoOf } from '../../src/log-format.js';

describe('log-format: one terminal line per record', () => {
  const time = new Date(2025, 0, 2, 14, 2, 7, 381).getTime();

  it('time, level, component[slot/worker], message, then the other fields; pino\'s pid and hostname left out', () => {
    const line = formatRecord({ level: 30, time, pid: 10, hostname: 'h', component: 'lifecycle', slot: 0, workerId: 3,
      workerPid: 41207, msg: 'worker ready' }, false);
    expect(line).toBe('14:02:07.381 INFO  lifecycle[0/3]   worker ready workerPid=41207');
    expect(line).not.toContain('\n');
  });

  it('names only what the record has: no brackets without slot or worker, `-` for the missing one', () => {
    expect(whoOf({ component: 'primary' })).toBe('primary');
    expect(whoOf({ component: 'worker', workerId: 2 })).toBe('worker[-/2]');
    expect(whoOf({ component: 'primary', slot: 1 })).toBe('primary[1/-]');
    expect(whoOf({})).toBe('-');
  });

  it('keeps a record on one line: values with spaces or newlines quoted and escaped; errors as code and message', () => {
    expect(valueText('path', '/tmp/a.sock')).toBe('/tmp/a.sock');
    expect(valueText('hint', 'two\nlines')).toBe('"two\\nlines"');
    expect(valueText('err', { code: 'STICKY_ERR_X', message: 'boom', stack: 'Error: boom\n    at x' })).toBe('"STICKY_ERR_X: boom"');
    expect(valueText('slots', [0, 1])).toBe('[0,1]');
    const line = formatRecord({ level: 50, time, component: 'lifecycle', msg: 'worker exited\nunexpectedly', err: { message: 'a\nb' } }, false);
    expect(line).toBe('14:02:07.381 ERROR lifecycle        worker exited\\nunexpectedly err="a\\nb"');
  });

  it('colours the level and dims the time only when asked', () => {
    expect(formatRecord({ level: 40, time, msg: 'x' }, true)).toContain('\x1b[33mWARN \x1b[0m');
    expect(formatRecord({ level: 40, time, msg: 'x' }, false)).not.toContain('\x1b');
  });

  it('passes a line that is not a JSON object through as it is', () => {
    expect(formatLogLine('not json\n', false)).toBe('not json');
    expect(formatLogLine('[1,2]\n', false)).toBe('[1,2]');
    expect(formatLogLine(`${JSON.stringify({ level: 20, time, msg: 'm', component: 'sticky' })}\n`, false)).toBe('14:02:07.381 DEBUG sticky           m');
    expect(clockOf(time)).toBe('14:02:07.381');
  });
});
