import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { dirname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

// What a user installs: the packed file list (npm's own `files` logic), not the working tree.
const root = fileURLToPath(new URL('../..', import.meta.url));
const run = promisify(execFile);

async function packedFiles(): Promise<Set<string>> {
  const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, timeout: 60_000 });
  const [pack] = JSON.parse(stdout) as [{ files: { path: string }[] }];
  return new Set(pack.files.map((file) => file.path));
}

describe('the published package', () => {
  it('ships a license, its metadata, and sources for every source map and declaration map', async () => {
    const files = await packedFiles();
    expect(files.has('LICENSE')).toBe(true);
    const manifest = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as Record<string, unknown>;
    expect(manifest.license).toBe('MIT');
    expect(manifest.repository).toMatchObject({ type: 'git', url: expect.stringMatching(/^git\+https:\/\//) });
    expect(manifest.homepage).toMatch(/^https:\/\//);
    expect(manifest.bugs).toMatchObject({ url: expect.stringMatching(/^https:\/\//) });

    const declarations = [...files].filter((file) => file.endsWith('.d.ts'));
    expect(declarations).toContain('dist/index.d.ts');
    const unresolved: string[] = [];
    for (const declaration of declarations) {
      // Every declaration has its map (go-to-definition lands in the .ts source).
      if (!files.has(`${declaration}.map`)) unresolved.push(`${declaration}: no declaration map`);
    }
    const maps = [...files].filter((file) => file.endsWith('.map'));
    expect(maps.length).toBeGreaterThan(declarations.length);
    for (const map of maps) {
      const { sources } = JSON.parse(await readFile(join(root, map), 'utf8')) as { sources: string[] };
      for (const source of sources) {
        const target = normalize(join(dirname(map), source));
        if (!files.has(target)) unresolved.push(`${map} -> ${target}`);
      }
    }
    expect(unresolved).toEqual([]);
  }, 60_000);

  it('ships the prebuilt addons with their checksum list, and what rebuilds them', async () => {
    const files = await packedFiles();
    const native = [...files].filter((file) => file.startsWith('prebuilds/') || file.startsWith('native/')).sort();
    expect(native).toEqual(['native/build.sh', 'native/reuseport.c', 'prebuilds/SHA256SUMS',
      'prebuilds/linux-arm64/reuseport.node', 'prebuilds/linux-x64/reuseport.node']);
  }, 60_000);

  it('keeps internals out of the declarations', async () => {
    const primary = await readFile(join(root, 'dist/primary.d.ts'), 'utf8');
    expect(primary).toContain('declare class StickyPrimary');
    expect(primary).not.toMatch(/constructor\(|closeMaster\(/);
    expect(await readFile(join(root, 'dist/index.d.ts'), 'utf8')).toMatch(/type StickyPrimary\b/);
  });

  it('has declarations that compile for a consumer on target ES2020 (no lib es2022 ErrorOptions)', async () => {
    const tsc = join(root, 'node_modules/typescript/bin/tsc');
    const result = await run(process.execPath, [tsc, '-p', 'types-test/es2020/tsconfig.json'], { cwd: root, timeout: 60_000 })
      .then(() => ({ code: 0, stdout: '' }), (error: { code: number; stdout: string }) => ({ code: error.code, stdout: error.stdout }));
    expect(result.stdout).toBe('');
    expect(result.code).toBe(0);
  }, 60_000);
});
