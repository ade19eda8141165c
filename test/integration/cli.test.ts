import { statSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { until, waitForExit } from '../helpers/cluster.js';
import { proxyV1, request, requestHead, sendInParts, sendUntilClosed, sourceAddress } from '../helpers/client.js';
import { cliFixture as fixture, logLines, runToEnd, serveCli as serve, workDir } from '../helpers/cli.js';
import { startLoad } from '../helpers/load.js';

describe('sticky-runtime CLI', () => {
  it('--help prints the usage, the commands and the exit codes', async () => {
    const { code, stdout } = await runToEnd(['--help'], workDir());
    expect(code).toBe(0);
    expect(stdout).toContain('sticky-runtime serve <app> [flags]');
    expect(stdout).toContain('sticky-runtime scale <n>');
    expect(stdout).toMatch(/Exit codes: 0 ok/);
  });

  it('a mistyped flag exits with 2, the error code and a suggestion', async () => {
    const { code, stderr } = await runToEnd(['serve', fixture('express-app.cjs'), '--wrokers', '2'], workDir());
    expect(code).toBe(2);
    expect(stderr).toBe('sticky-runtime: STICKY_ERR_INVALID_OPTION: Unknown flag `--wrokers`. Hint: Did you mean `--workers`?\n');
  });

  it('a bad option value exits with 2, naming the option and what it received', async () => {
    const { code, stderr } = await runToEnd(['serve', fixture('express-app.cjs'), '--workers', 'four'], workDir());
    expect(code).toBe(2);
    expect(stderr).toBe('sticky-runtime: STICKY_ERR_INVALID_OPTION: Expected `workers` to be an integer from 1 to 1024, received "four" (string).\n');
  });

  it('--proxy-protocol without --trusted-proxies exits with 2; with it, only the listed peer may send a PROXY header', async () => {
    const refused = await runToEnd(['serve', fixture('express-app.cjs'), '--workers', '1', '--proxy-protocol'], workDir());
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('sticky-runtime: STICKY_ERR_INVALID_OPTION: `proxyProtocol` needs `trustedProxies`');
    const served = await serve(fixture('express-app.cjs'), ['--workers', '1', '--proxy-protocol', '--trusted-proxies', '127.0.0.1,::1'], workDir());
    const get = `${proxyV1('198.51.100.7')}${requestHead('GET', '/')}`;
    expect((await sendInParts(served.port, [get], { localAddress: '127.0.0.1' })).status).toBe(200);
    expect(await sendUntilClosed(served.port, get, '127.0.0.66')).toEqual({ bytes: 0, closed: true });
  });

  it('an app that exports no server exits with 3 and says what to export', async () => {
    const { code, stderr } = await runToEnd(['serve', fixture('not-an-app.mjs'), '--workers', '1', '--port', '0'], workDir());
    expect(code).toBe(3);
    expect(stderr).toContain('STICKY_ERR_INVALID_APP');
    expect(stderr).toContain('exports 42 (number), which is not a server or an app');
    expect(stderr).toContain('sticky-runtime: STICKY_ERR_WORKER_START_FAILED');
  });

  it('a control command without a running cluster exits with 4', async () => {
    const { code, stderr } = await runToEnd(['status'], workDir());
    expect(code).toBe(4);
    expect(stderr).toContain('sticky-runtime: STICKY_ERR_CONTROL_UNAVAILABLE: No sticky-runtime cluster answers at');
  });

  it('serves an Express app with affinity; status and scale 3 over an owner-only control socket; SIGTERM exits 0', async () => {
    const cwd = workDir();
    const served = await serve(fixture('express-app.cjs'), ['--workers', '2'], cwd);
    const first = await request({ port: served.port, localAddress: sourceAddress(1) });
    expect(first.reply).toMatchObject({ framework: 'express' });
    expect((await request({ port: served.port, localAddress: sourceAddress(1) })).reply.workerId).toBe(first.reply.workerId);

    const socket = join(cwd, 'sticky-runtime.sock');
    expect(statSync(socket).mode & 0o777).toBe(0o600);

    const status = await runToEnd(['status'], cwd);
    expect(status.code).toBe(0);
    const rows = status.stdout.trim().split('\n').slice(2);
    expect(rows).toHaveLength(2);
    // CPU, MEM, REQUESTS, CONNS and LAG are '-' until the slot's worker first reported (within a second).
    for (const row of rows) expect(row).toMatch(/^\d\s+\d+\s+ready\s+\d+s\s+(\d+\.\d%|-)\s+(\d+(\.\d)? [KMG]?B|-)\s+(\d+|-)\s+(\d+|-)\s+(\d+ms|-)\s+0\s+0\s+\d+$/);

    const scaled = await runToEnd(['scale', '3'], cwd);
    expect(scaled).toMatchObject({ code: 0, stdout: 'scaled from 2 to 3 workers\n' });
    const json = JSON.parse((await runToEnd(['status', '--json'], cwd)).stdout) as { stats: { slots: { isReady: boolean; pid: number; state: string }[] } };
    expect(json.stats.slots.map((slot) => slot.isReady)).toEqual([true, true, true]);
    expect(json.stats.slots.map((slot) => slot.state)).toEqual(['ready', 'ready', 'ready']);
    expect(new Set(json.stats.slots.map((slot) => slot.pid)).size).toBe(3);

    served.child.kill('SIGTERM');
    expect(await waitForExit(served.child)).toEqual({ code: 0, signal: null });
    expect(existsSync(socket)).toBe(false);
  });

  it('serves a Fastify app returned by an async factory', async () => {
    const served = await serve(fixture('fastify-app.mjs'), ['--workers', '2'], workDir());
    const replies = await Promise.all([1, 2, 3].map((n) => request({ port: served.port, localAddress: sourceAddress(n) })));
    expect(replies.map((reply) => reply.reply)).toEqual(replies.map(() => expect.objectContaining({ framework: 'fastify' })));
  });

  it('takes options from the config file; flags win over it', async () => {
    const cwd = workDir();
    writeFileSync(join(cwd, 'sticky-runtime.config.mjs'), `export default { workers: 3, logLevel: 'warn', shutdownDelay: 0 };\n`);
    // At the file's `warn` level the `serving` line (info) that serve() waits for would never come.
    const served = await serve(fixture('express-app.cjs'), ['--log-level', 'info'], cwd);
    const json = JSON.parse((await runToEnd(['status', '--json'], cwd)).stdout) as { stats: { slots: unknown[] } };
    expect(json.stats.slots).toHaveLength(3);
    expect(served.port).toBeGreaterThan(0);
  });

  it('SIGHUP and `reload` restart every worker under load with 0 failed requests; reload prints its progress', async () => {
    const cwd = workDir();
    const served = await serve(fixture('express-app.cjs'), ['--workers', '2'], cwd);
    const load = startLoad(served.port, [1, 2, 3, 4, 5, 6].map(sourceAddress), 6);
    await load.until(50);
    served.child.kill('SIGHUP');
    await until(() => logLines(served.stderr()).filter((line) => line.msg === 'reload end').length === 1, { timeout: 30_000 });
    const reload = await runToEnd(['reload'], cwd);
    expect(reload.code).toBe(0);
    expect(reload.stderr).toMatch(/^reload 1\/2: slot 0 replaced \(worker \d+ → \d+\)\nreload 2\/2: slot 1 replaced \(worker \d+ → \d+\)\n$/);
    expect(reload.stdout).toBe('reloaded 2 slots\n');
    await load.until(50);
    const result = await load.stop();
    expect(result.errors).toEqual([]);
    expect(result.failed).toBe(0);
    // Every client stayed on its slot through both reloads.
    for (const slots of result.slotsByAddress.values()) expect(new Set(slots).size).toBe(1);
  }, 60_000);
});
