import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it, onTestFinished } from 'vitest';

// What a git install or an `npm pack` of a clean checkout gives: no dist/ is committed, so the
// package must build it itself (`prepare`), or the import fails with ERR_MODULE_NOT_FOUND.
const root = fileURLToPath(new URL('../..', import.meta.url));
const run = promisify(execFile);
const isGitCheckout = existsSync(join(root, '.git'));

describe('a package packed from a clean clone', () => {
  it.skipIf(!isGitCheckout)('builds dist/ itself and imports from the tarball', async () => {
    const work = await mkdtemp(join(tmpdir(), 'sticky-pack-'));
    onTestFinished(() => rm(work, { recursive: true, force: true }));
    const clone = join(work, 'clone');
    // The committed tree only: a clean clone has no dist/ and no build output of any kind.
    await run('git', ['clone', '--quiet', '--depth', '1', `file://${root}`, clone], { timeout: 60_000 });
    expect(existsSync(join(clone, 'dist'))).toBe(false);
    // The clone's build tools are this checkout's (a git install installs the devDependencies first).
    await symlink(join(root, 'node_modules'), join(clone, 'node_modules'), 'dir');
    const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', work], { cwd: clone, timeout: 120_000 });
    const [pack] = JSON.parse(stdout.slice(stdout.indexOf('['))) as [{ filename: string; files: { path: string }[] }];
    const packed = new Set(pack.files.map((file) => file.path));
    expect(packed.has('dist/index.js')).toBe(true);
    expect(packed.has('dist/cli/main.js')).toBe(true);

    // A consumer with the tarball unpacked as node_modules/sticky-runtime and the runtime
    // dependencies beside it, as npm lays them out.
    const consumer = join(work, 'consumer');
    const modules = join(consumer, 'node_modules');
    await mkdir(modules, { recursive: true });
    await run('tar', ['-xzf', join(work, pack.filename), '-C', modules], { timeout: 30_000 });
    await run('mv', [join(modules, 'package'), join(modules, 'sticky-runtime')]);
    const manifest = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    for (const name of Object.keys(manifest.dependencies)) {
      await symlink(join(root, 'node_modules', name), join(modules, name), 'dir');
    }
    const probe = [
      "const m = await import('sticky-runtime');",
      "console.log(JSON.stringify(['listen', 'createPrimary', 'attachWorker', 'clientAddress'].map((k) => typeof m[k])));",
    ].join('\n');
    const imported = await run(process.execPath, ['--input-type=module', '-e', probe], { cwd: consumer, timeout: 30_000 });
    expect(JSON.parse(imported.stdout)).toEqual(['function', 'function', 'function', 'function']);
    const cli = await run(process.execPath, [join(modules, 'sticky-runtime', 'dist/cli/main.js'), '--version'], { timeout: 30_000 });
    expect(cli.stdout.trim()).toBe((JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { version: string }).version);
  }, 180_000);
});
