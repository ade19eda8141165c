import { describe, expect, it, vi } from 'vitest';
import { parseCommandLine } from '../../src/cli/args.js';
import { figuresOf, formatBytes, renderFrame, type Samples } from '../../src/cli/monitor-view.js';
import { slotState, type SlotStatus, type StatusReply } from '../../src/cli/format.js';
import { checkName, chosenTarget, namedSocketDirectory } from '../../src/cli/socket-path.js';
import { untrustedDirectoryReason } from '../../src/cli/socket-trust.js';
import { ReloadDebouncer, ignoreMatcher, DEFAULT_WATCH_IGNORE } from '../../src/cli/watch-policy.js';

const ME = 1000;
const dir = (uid: number, mode: number, kind: 'dir' | 'link' | 'file' = 'dir') => ({
  uid, mode, isDirectory: () => kind === 'dir', isSymbolicLink: () => kind === 'link',
});

describe('named control sockets', () => {
  it('live in $XDG_RUNTIME_DIR/sticky-runtime, else in <tmpdir>/sticky-runtime-<uid>', () => {
    expect(namedSocketDirectory({ XDG_RUNTIME_DIR: '/run/user/1000' }, ME, '/tmp')).toBe('/run/user/1000/sticky-runtime');
    expect(namedSocketDirectory({}, ME, '/tmp')).toBe('/tmp/sticky-runtime-1000');
    // An empty or relative value is no runtime directory.
    expect(namedSocketDirectory({ XDG_RUNTIME_DIR: '' }, ME, '/tmp')).toBe('/tmp/sticky-runtime-1000');
    expect(namedSocketDirectory({ XDG_RUNTIME_DIR: 'run' }, ME, '/var/tmp')).toBe('/var/tmp/sticky-runtime-1000');
  });

  it('take names of letters, digits, dot, dash and underscore that cannot leave the directory', () => {
    for (const name of ['api', 'web-2', 'a.b_c', 'X'.repeat(64)]) expect(checkName(name)).toBe(name);
    for (const name of ['', '../api', 'a/b', '.hidden', '-x', 'a b', 'x'.repeat(65), 'é']) {
      expect(() => checkName(name), name).toThrow(/STICKY_ERR_INVALID_OPTION|Expected `--name`/);
    }
  });

  it('need a 0700 directory of the user: not a link, not another owner, no group or other bits', () => {
    expect(untrustedDirectoryReason(dir(ME, 0o40700), ME)).toBeUndefined();
    expect(untrustedDirectoryReason(dir(ME, 0o40750), ME)).toBe('its mode is 750, not 700');
    expect(untrustedDirectoryReason(dir(ME, 0o41777), ME)).toBe('its mode is 1777, not 700');
    expect(untrustedDirectoryReason(dir(0, 0o40700), ME)).toBe('it belongs to uid 0, not to you (uid 1000)');
    expect(untrustedDirectoryReason(dir(ME, 0o120777, 'link'), ME)).toBe('it is a symbolic link');
    expect(untrustedDirectoryReason(dir(ME, 0o100600, 'file'), ME)).toBe('it is not a directory');
  });

  it('are chosen by --name or --control-socket (flags before the config file), never both', () => {
    const none = { name: undefined, controlSocket: undefined };
    expect(chosenTarget(none, none)).toBeUndefined();
    expect(chosenTarget({ name: 'a', controlSocket: undefined }, { name: undefined, controlSocket: 'x.sock' })).toEqual({ name: 'a' });
    expect(chosenTarget(none, { name: 'b', controlSocket: undefined })).toEqual({ name: 'b' });
    expect(chosenTarget(none, { name: undefined, controlSocket: '/run/x.sock' })).toEqual({ path: '/run/x.sock' });
    expect(() => chosenTarget({ name: 'a', controlSocket: 'x.sock' }, none)).toThrow('Give either `name` or `controlSocket`, not both');
  });
});

describe('serve --watch: what counts as a change', () => {
  const isIgnored = ignoreMatcher([...DEFAULT_WATCH_IGNORE, '*.log', 'public/uploads']);

  it('ignores node_modules and dotfiles at any depth, and the given patterns', () => {
    for (const path of ['node_modules/x/index.js', 'lib/node_modules/a.js', '.env', '.git/index', 'src/.app.js.swp', 'server.log',
      'public/uploads/a.png', 'public/uploads']) {
      expect(isIgnored(path), path).toBe(true);
    }
    for (const path of ['app.js', 'src/routes/users.js', 'public/index.html', 'uploads/a.png', 'env', 'log/app.js']) {
      expect(isIgnored(path), path).toBe(false);
    }
  });

  it('without the defaults only what is given is ignored', () => {
    const only = ignoreMatcher(['dist/*.map']);
    expect(only('dist/app.js.map')).toBe(true);
    // `*` stays within one segment.
    expect(only('dist/sub/app.js.map')).toBe(false);
    expect(only('dist/app.js')).toBe(false);
    expect(only('.env')).toBe(false);
  });
});

describe('serve --watch: when it reloads', () => {
  function setup() {
    vi.useFakeTimers();
    const reloads: { changed: readonly string[]; done: () => void }[] = [];
    const debouncer = new ReloadDebouncer(300, (changed) => new Promise<void>((resolve) => reloads.push({ changed, done: resolve })), {
      set: (run, ms) => setTimeout(run, ms), clear: (handle) => clearTimeout(handle as NodeJS.Timeout),
    });
    return { reloads, debouncer };
  }

  it('reloads once, 300 ms after the last change of a burst', async () => {
    const { reloads, debouncer } = setup();
    debouncer.change('a.js');
    await vi.advanceTimersByTimeAsync(200);
    debouncer.change('b.js');
    await vi.advanceTimersByTimeAsync(299);
    expect(reloads).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(reloads.map((reload) => reload.changed)).toEqual([['a.js', 'b.js']]);
    vi.useRealTimers();
  });

  it('collapses the changes made during a reload into exactly one more, after it', async () => {
    const { reloads, debouncer } = setup();
    debouncer.change('a.js');
    await vi.advanceTimersByTimeAsync(300);
    expect(reloads).toHaveLength(1);
    for (const name of ['b.js', 'c.js', 'b.js']) {
      debouncer.change(name);
      await vi.advanceTimersByTimeAsync(1000);
    }
    expect(reloads).toHaveLength(1);
    reloads[0]?.done();
    await vi.advanceTimersByTimeAsync(300);
    expect(reloads.map((reload) => reload.changed)).toEqual([['a.js'], ['b.js', 'c.js']]);
    reloads[1]?.done();
    await vi.advanceTimersByTimeAsync(5000);
    expect(reloads).toHaveLength(2);
    vi.useRealTimers();
  });

  it('goes on after a failed reload, and stops for good', async () => {
    vi.useFakeTimers();
    let calls = 0;
    const debouncer = new ReloadDebouncer(300, () => { calls++; return Promise.reject(new Error('syntax error')); }, {
      set: (run, ms) => setTimeout(run, ms), clear: (handle) => clearTimeout(handle as NodeJS.Timeout),
    });
    debouncer.change('a.js');
    await vi.advanceTimersByTimeAsync(300);
    debouncer.change('a.js');
    await vi.advanceTimersByTimeAsync(300);
    expect(calls).toBe(2);
    debouncer.change('a.js');
    debouncer.stop();
    debouncer.change('a.js');
    await vi.advanceTimersByTimeAsync(1000);
    expect(calls).toBe(2);
    vi.useRealTimers();
  });
});

const slot = (n: number, pid: number, extra: Record<string, unknown> = {}): SlotStatus => ({
  slot: n, pid, isReady: true, isFailed: false, isRespawnPending: false, uptime: 5000, generation: 1, queued: 0, handoffs: 7, ...extra,
} as SlotStatus);
const reply = (slots: SlotStatus[]): StatusReply => ({ pid: 10, uptime: 65_000, stats: { state: 'running', workers: slots.length, readyWorkers: slots.length, restarts: 0, slots } });

describe('status --watch frames', () => {
  it('one row per slot; CPU, memory and requests/s are "-" while the workers do not report them', () => {
    const lines = renderFrame([{ label: 'cluster api (/run/api.sock)', reply: reply([slot(0, 101), slot(1, 102)]) }], 0, new Map(), new Map());
    expect(lines.slice(1)).toEqual([
      '', 'cluster api (/run/api.sock)', 'running · primary pid 10 · up 1m5s · 2 slots, 2 ready · 0 respawns',
      'SLOT  PID  STATE  UPTIME  CPU  MEM  REQ/S  RESTARTS  QUEUED  HANDOFFS',
      '0     101  ready  5s      -    -    -      1         0       7',
      '1     102  ready  5s      -    -    -      1         0       7',
    ]);
  });

  it('shows the figures a slot carries, requests/s from two polls of the same worker', () => {
    const first: Samples = new Map();
    renderFrame([{ label: 'x', reply: reply([slot(0, 101, { cpu: 12.345, rss: 50 * 1024 * 1024, requests: 100 })]) }], 1000, new Map(), first);
    const lines = renderFrame([{ label: 'x', reply: reply([slot(0, 101, { cpu: 3, rss: 2048, requests: 350 })]) }], 3000, first, new Map());
    expect(lines.at(-1)).toBe('0     101  ready  5s      3.0%  2.0 KB  125.0  1         0       7');
    expect(figuresOf(slot(0, 1, { cpu: 'x' }))).toEqual({ cpu: undefined, rss: undefined, requests: undefined });
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(3 * 1024 ** 3)).toBe('3.0 GB');
  });

  it('shows the state the primary reports; from an earlier primary\'s answer, the state its facts give', () => {
    const lines = renderFrame([{ label: 'x', reply: reply([slot(0, 101, { state: 'withdrawn' })]) }], 0, new Map(), new Map());
    expect(lines.at(-1)).toBe('0     101  withdrawn  5s      -    -    -      1         0       7');
    expect(slotState(slot(0, 101, { isReady: false }))).toBe('starting');
    expect(slotState(slot(0, 101, { isFailed: true, isReady: false }))).toBe('failed');
    expect(slotState(slot(0, 101, { pid: undefined, isReady: false, isRespawnPending: true }))).toBe('respawning');
    expect(slotState(slot(0, 101, { pid: undefined, isReady: false }))).toBe('vacant');
  });

  it('a cluster that does not answer stays in the view with the reason', () => {
    expect(renderFrame([{ label: 'cluster a (/x)', error: 'gone' }], 0, new Map(), new Map()).slice(1)).toEqual(['', 'cluster a (/x)', '  not answering: gone']);
  });
});

describe('flags of the operations commands', () => {
  it('--watch-path and --watch-ignore repeat; --watch-ignore also takes a comma-separated list', () => {
    const parsed = parseCommandLine(['serve', 'app.js', '--watch', '--watch-path', 'src', '--watch-path', 'views',
      '--watch-ignore', '*.log, tmp', '--watch-ignore', 'public/uploads', '-n', 'api']);
    expect(parsed).toMatchObject({ watch: true, watchPaths: ['src', 'views'], watchIgnore: ['*.log', 'tmp', 'public/uploads'], name: 'api' });
  });
});
