import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { isCodeBlock, documentationBlocks, typeCheckSnippets } from '../helpers/doc-snippets.js';
import { REPO_ROOT, type CodeBlock } from '../helpers/markdown.js';
import { configTokens, haproxyHeaderBackend, haproxyProxyProtocolBackend, nginxProxyProtocolStream } from '../helpers/load-balancer.js';
import { haproxyFleetConfig, nginxFleetConfig } from '../helpers/fleet.js';
import { logLines, runCli } from '../helpers/cli.js';
import { request } from '../helpers/client.js';
import { waitFor, waitForExit } from '../helpers/cluster.js';

// Every code block of README.md, SECURITY.md and docs/ is checked: TS/JS blocks by tsc --strict (and
// the quick start by running it as pasted), the HAProxy/nginx blocks against the configurations the load
// balancer tests run, the deployment blocks by running their command lines with the real CLI.

const blocks = documentationBlocks();
const inFile = (file: string, lang: string): CodeBlock[] => blocks.filter((b) => b.file === file && b.lang === lang);
const only = <T>(items: readonly T[], what: string): T => {
  expect(items.length, what).toBe(1);
  return items[0] as T;
};

/** A directory inside the repository, so that `sticky-runtime` and the dev dependencies resolve from it. */
function snippetDir(): string {
  return mkdtempSync(join(REPO_ROOT, '.docs-snippets-'));
}

describe('documentation code blocks', () => {
  it('every block has a language this test checks, or is shell, a diff or output', () => {
    const known = new Set(['js', 'ts', 'sh', 'diff', 'haproxy', 'nginx', 'dockerfile', 'yaml', 'ini', 'text']);
    expect(blocks.filter((b) => !known.has(b.lang)).map((b) => `${b.file}:${b.line} '${b.lang}'`)).toEqual([]);
    expect(blocks.filter(isCodeBlock).length).toBeGreaterThan(20);
  });

  it('every TS/JS block type-checks with tsc --strict against the built package; a wrong one fails', () => {
    // The Errors example as it was: `err.code` on an `Error`. It must be the one error reported.
    const wrong: CodeBlock = {
      file: 'wrong.md', line: 100, lang: 'js', marker: undefined,
      code: "import { listen } from 'sticky-runtime';\nimport http from 'node:http';\nconst server = http.createServer();\n"
        + "listen(server, 3000);\nserver.on('error', (err) => { if (err.code === 'STICKY_ERR_LISTEN_FAILED') console.error(err); });\n",
    };
    const result = typeCheckSnippets([...blocks.filter(isCodeBlock), wrong]);
    const errors = result.output.split('\n').filter((line) => line.includes('error TS'));
    expect(errors).toEqual([expect.stringMatching(/^wrong\.md:105: error TS2339: Property 'code' does not exist on type 'Error'/)]);
    expect(result.snippets.filter((s) => s.kind === 'module').length).toBeGreaterThan(5);
  }, 120_000);

  it.skipIf(process.platform !== 'linux')('the README quick start runs as pasted: sticky, and Ctrl-C ends it with exit code 0 and no error output', async () => {
    const block = only(inFile('README.md', 'js').filter((b) => b.code.includes("from 'sticky-runtime'") && b.code.includes('onShutdown')), 'the quick start');
    const dir = snippetDir();
    try {
      writeFileSync(join(dir, 'server.mjs'), block.code);
      // Its own process group, as a shell runs it: Ctrl-C signals the primary and every worker.
      const child = spawn(process.execPath, ['server.mjs'], {
        cwd: dir, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PORT: '0' },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
      child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
      onTestFailed(() => { console.error(`--- quick start ---\n${stdout}\n${stderr}`); });
      try {
        await waitFor(() => /listening on \d+/.test(stdout), { timeout: 15_000 });
        const port = Number(/listening on (\d+)/.exec(stdout)?.[1]);
        const ask = async (): Promise<string> => {
          const { text } = await fetchText(port, '127.0.0.2');
          return text;
        };
        const first = await ask();
        const second = await ask();
        expect(first).toMatch(/^worker \d+: visit 1 from 127\.0\.0\.2\n$/);
        expect(second).toBe(first.replace('visit 1', 'visit 2'));
        // Ctrl-C once every worker has started (and registered its hook), as a user would after reading the logs.
        await waitFor(() => logLines(stderr).filter((line) => line.msg === 'worker ready').length === 4, { timeout: 20_000 });
        process.kill(-(child.pid as number), 'SIGINT');
        const { code, signal } = await waitForExit(child, 15_000);
        expect({ code, signal }).toEqual({ code: 0, signal: null });
      } finally {
        if (child.exitCode === null && child.signalCode === null) process.kill(-(child.pid as number), 'SIGKILL');
      }
      // Four workers ran their onShutdown hook; the one that served 127.0.0.2 counted one client.
      expect(stdout.match(/stopped after serving \d+ clients/g)).toHaveLength(4);
      expect(stdout).toMatch(/stopped after serving 1 clients/);
      // Nothing but the runtime's own log lines, none of them a warning or an error: no ReferenceError, no stack.
      const lines = stderr.split('\n').filter((line) => line !== '');
      expect(lines.filter((line) => !line.startsWith('{'))).toEqual([]);
      expect(logLines(stderr).filter((line) => (line.level as number) >= 40)).toEqual([]);
      expect(logLines(stderr).map((line) => line.msg)).toContain('shutdown end');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

async function fetchText(port: number, localAddress: string): Promise<{ text: string }> {
  const { default: http } = await import('node:http');
  return new Promise((resolve, reject) => {
    const req = http.get({ port, host: '127.0.0.1', localAddress, path: '/', agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { text += chunk; });
      res.on('end', () => resolve({ text }));
    });
    req.on('error', reject);
  });
}

describe('load balancer blocks are the configurations the load balancer tests run', () => {
  const primaries = ['10.0.0.1:3000', '10.0.0.2:3000'];

  it('HAProxy: PROXY protocol v2, and header mode with http-reuse never', () => {
    const haproxy = inFile('docs/routing.md', 'haproxy').map((b) => configTokens(b.code));
    expect(haproxy).toEqual([
      configTokens(haproxyProxyProtocolBackend('app', primaries).join('\n')),
      configTokens(haproxyHeaderBackend('app', primaries, 'never').join('\n')),
    ]);
  });

  it('nginx: stream with proxy_protocol on', () => {
    const nginx = only(inFile('docs/routing.md', 'nginx'), 'the nginx block');
    expect(configTokens(nginx.code)).toBe(configTokens(nginxProxyProtocolStream(primaries, '443').join('\n')));
  });

  // Running a fleet: the fleet tests' configurations, with deployment addresses for the tests' loopback ones
  // (the balancer connects from 10.0.0.2 where the tests use 127.0.3.1) and without nginx's foreground lines.
  const fleetHosts = [0, 1, 2].map((i) => ({ name: `host${String(i)}`, address: `10.0.0.${String(10 + i)}`, port: 3000 }));
  const deployed = (config: string): string => config.replaceAll('127.0.3.1', '10.0.0.2')
    .replace('bind 127.0.0.1:8080', 'bind :8080').replace('listen 127.0.0.1:8080', 'listen 8080')
    .split('\n').filter((line) => !/^(daemon|master_process|pid|error_log) /.test(line)).join('\n');

  it('Running a fleet: the HAProxy and nginx blocks', () => {
    const haproxy = only(inFile('docs/fleet.md', 'haproxy'), 'the fleet HAProxy block');
    const checked = fleetHosts.map((host) => ({ ...host, metricsPort: 9464 }));
    expect(configTokens(haproxy.code)).toBe(configTokens(deployed(haproxyFleetConfig(checked, 8080, '/run/haproxy/admin.sock'))));
    const nginx = only(inFile('docs/fleet.md', 'nginx'), 'the fleet nginx block');
    expect(configTokens(nginx.code)).toBe(configTokens(deployed(nginxFleetConfig(fleetHosts, 8080, '/unused', null))));
  });

  it('the comparison notices a changed line (it can fail)', () => {
    expect(configTokens(haproxyHeaderBackend('app', primaries, 'safe').join('\n')))
      .not.toBe(configTokens(haproxyHeaderBackend('app', primaries, 'never').join('\n')));
  });
});

// Docker, Kubernetes and systemd need a daemon, a cluster or systemd as PID 1, which the tests do not
// have: their blocks are checked by running the command line each one gives the CLI (with a free port
// on loopback and the control socket in a temporary directory), with the app the Command line section
// shows, and by checking that each stop grace period outlasts the shutdown it configures.
describe('deployment blocks', () => {
  const ops = 'docs/operations.md';
  let dir: string;
  beforeAll(() => {
    dir = snippetDir();
    const app = only(inFile(ops, 'js').filter((b) => b.code.startsWith('// app.js')), 'the app.js block');
    writeFileSync(join(dir, 'app.js'), app.code);
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  /** The words after `.../dist/cli/main.js` (or the args list) in a block. */
  const commandLines = (): Record<string, string[]> => {
    const docker = only(inFile(ops, 'dockerfile'), 'the Dockerfile').code;
    const kubernetes = only(inFile(ops, 'yaml'), 'the Kubernetes block').code;
    const systemd = only(inFile(ops, 'ini'), 'the systemd unit').code;
    const pm2 = only(inFile(ops, 'js').filter((b) => b.code.includes('module.exports')), 'the PM2 block').code;
    const json = (text: string): string[] => JSON.parse(text) as string[];
    return {
      docker: json(/^CMD (\[.*\])$/m.exec(docker)?.[1] ?? '[]').slice(2),
      kubernetes: json(/args: (\[[^\]]*\])/.exec(kubernetes)?.[1] ?? '[]'),
      systemd: (/^ExecStart=\S+ \S+main\.js (.*)$/m.exec(systemd)?.[1] ?? '').split(' '),
      pm2: (/args: '([^']*)'/.exec(pm2)?.[1] ?? '').split(' '),
    };
  };

  const flag = (args: readonly string[], name: string, fallback: number): number => {
    const index = args.indexOf(name);
    return index === -1 ? fallback : Number(args[index + 1]);
  };

  it('each stop grace period is longer than shutdownDelay + shutdownTimeout', () => {
    const lines = commandLines();
    const shutdown = (args: readonly string[]): number => flag(args, '--shutdown-delay', 0) + flag(args, '--shutdown-timeout', 30_000);
    const kubernetes = only(inFile(ops, 'yaml'), 'the Kubernetes block').code;
    const grace = Number(/terminationGracePeriodSeconds: (\d+)/.exec(kubernetes)?.[1]) * 1000;
    expect(grace).toBeGreaterThan(shutdown(lines.kubernetes as string[]));
    const systemd = Number(/^TimeoutStopSec=(\d+)$/m.exec(only(inFile(ops, 'ini'), 'the unit').code)?.[1]) * 1000;
    expect(systemd).toBeGreaterThan(shutdown(lines.systemd as string[]));
    const pm2Block = only(inFile(ops, 'js').filter((b) => b.code.includes('module.exports')), 'the PM2 block');
    const path = join(dir, 'ecosystem.config.cjs');
    writeFileSync(path, pm2Block.code);
    const pm2 = (createRequire(import.meta.url)(path) as { apps: { kill_timeout: number; treekill: boolean; exec_mode: string; instances: number }[] }).apps[0];
    expect(pm2).toMatchObject({ treekill: false, exec_mode: 'fork', instances: 1 });
    expect(pm2?.kill_timeout).toBeGreaterThan(shutdown(lines.pm2 as string[]));
  });

  for (const name of ['docker', 'kubernetes', 'systemd', 'pm2'] as const) {
    it(`the ${name} command line serves the app and stops with exit code 0`, async () => {
      const args = commandLines()[name] as string[];
      expect(args[0]).toBe('serve');
      const local = args.map((word, i) => {
        const before = args[i - 1];
        if (before === '--port' || before === '--metrics-port') return '0';
        if (before === '--host' || before === '--metrics-host') return '127.0.0.1';
        if (before === '--control-socket') return join(dir, `${name}.sock`);
        return word;
      });
      const run = runCli(local, dir);
      let port: number | undefined;
      await waitFor(() => {
        if (run.child.exitCode !== null) throw new Error(`serve exited with ${run.child.exitCode}`);
        port = logLines(run.stderr()).find((line) => line.msg === 'serving')?.port;
        return port !== undefined;
      }, { timeout: 20_000 });
      const response = await request({ port: port as number, path: '/' });
      expect({ status: response.status, body: response.reply }).toEqual({ status: 200, body: { hello: 'world' } });
      run.child.kill('SIGTERM');
      expect((await waitForExit(run.child, 20_000)).code).toBe(0);
    }, 40_000);
  }
});
