import { cpSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { onTestFinished } from 'vitest';

// A copy of the package as an application installs it (package.json, dist/, prebuilds/) with the test
// fixtures beside it and this checkout's node_modules, for what only an installed package shows: a
// damaged or missing native part. Removed after the test.

const root = fileURLToPath(new URL('../..', import.meta.url));

/** The prebuilt addon for this machine, relative to the package root. */
export const ADDON_PATH = `prebuilds/linux-${process.arch}/reuseport.node`;

/** A copy of the package whose addon for this machine is `addon` (bytes), or missing (null); its root. */
export function packageCopy(addon: Buffer | null): string {
  const dir = mkdtempSync(join(tmpdir(), 'sticky-package-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  for (const part of ['package.json', 'dist', 'prebuilds', 'test/fixtures']) {
    cpSync(join(root, part), join(dir, part), { recursive: true });
  }
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
  if (addon === null) rmSync(join(dir, ADDON_PATH), { force: true });
  else writeFileSync(join(dir, ADDON_PATH), addon);
  return dir;
}
