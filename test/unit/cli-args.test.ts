import { describe, expect, it } from 'vitest';
import { closestFlag, parseCommandLine } from '../../src/cli/args.js';
import { formatDuration, formatProgress } from '../../src/cli/format.js';

describe('parseCommandLine', () => {
  it('maps flags to the options of the same name', () => {
    const parsed = parseCommandLine(['serve', './app.js', '-w', '4', '--port', '3000', '--proxy-header', 'x-forwarded-for', '--slot-wait-timeout', '500', '--shutdown-delay', '5000']);
    expect(parsed).toMatchObject({ command: 'serve', positionals: ['./app.js'], port: '3000' });
    expect(parsed.options).toEqual({ workers: 4, proxyHeader: 'x-forwarded-for', slotWaitTimeout: 500, shutdownDelay: 5000 });
  });

  it('splits --trusted-proxies into the list trustedProxies takes', () => {
    expect(parseCommandLine(['serve', 'a.js', '--proxy-protocol', '--trusted-proxies', '10.0.0.0/8, ::1,,fd00::/8,']).options)
      .toEqual({ proxyProtocol: true, trustedProxies: ['10.0.0.0/8', '::1', 'fd00::/8'] });
  });

  it('takes the output flags as the CLI\'s own, not as library options', () => {
    const parsed = parseCommandLine(['serve', 'a.js', '--prefix-output', '--log-file', 'all.log', '--log-dir', 'logs']);
    expect(parsed).toMatchObject({ prefixOutput: true, logFile: 'all.log', logDir: 'logs' });
    expect(parsed.options).toEqual({});
    expect(parseCommandLine(['serve', 'a.js'])).toMatchObject({ prefixOutput: false, logFile: undefined, logDir: undefined });
  });

  it('leaves a value that is no number as it came, for validation to name', () => {
    expect(parseCommandLine(['serve', 'a.js', '--workers', 'four']).options).toEqual({ workers: 'four' });
  });

  it('rejects an unknown flag with a suggestion, and a flag without its value', () => {
    expect(() => parseCommandLine(['serve', '--proxy-heder', 'x'])).toThrow('Unknown flag `--proxy-heder`. Hint: Did you mean `--proxy-header`?');
    expect(() => parseCommandLine(['serve', '--zzz'])).toThrow('Unknown flag `--zzz`. Hint: Run `sticky-runtime --help` for the flags.');
    expect(() => parseCommandLine(['serve', '--workers'])).toThrow(/STICKY_ERR|argument missing|workers/);
  });

  it('suggests only flags within two edits', () => {
    expect(closestFlag('wrokers')).toBe('workers');
    expect(closestFlag('completely-else')).toBeUndefined();
  });
});

describe('format', () => {
  it('prints durations and reload progress lines', () => {
    expect(formatDuration(3_725_000)).toBe('1h2m5s');
    expect(formatDuration(59_999)).toBe('59s');
    expect(formatProgress({ done: 2, total: 4, slot: 1, status: 'replaced', oldWorkerId: 2, newWorkerId: 6 })).toBe('reload 2/4: slot 1 replaced (worker 2 → 6)\n');
  });
});
