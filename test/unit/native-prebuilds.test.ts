import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';
import { MANIFEST_NAME, parseManifest, rejectPrebuild } from '../../src/sticky/planes/prebuild-manifest.js';
import { loadFrom } from '../../src/sticky/planes/reuseport-native.js';
import { isKernelAvailable } from '../helpers/platform.js';

// The checksum list of the prebuilt addons: its format, that it matches the committed files, and the
// loader refusing a file it does not vouch for (never loading it, so this runs in-process).

const root = fileURLToPath(new URL('../..', import.meta.url));
const prebuilds = join(root, 'prebuilds');
const SHIPPED = ['linux-x64/reuseport.node', 'linux-arm64/reuseport.node'];
const sha256 = (bytes: Buffer | string): string => createHash('sha256').update(bytes).digest('hex');
const A = 'a'.repeat(64);
const B = 'b'.repeat(64);

describe('the checksum list (pure)', () => {
  it('reads sha256sum lines, text and binary mode, and skips anything else', () => {
    const text = `${A}  linux-x64/reuseport.node\r\n${B} *linux-arm64/reuseport.node\n`
      + `# note\n${A.toUpperCase()}  x\n${A} y\n\n`;
    expect(parseManifest(text)).toEqual([['linux-x64/reuseport.node', A], ['linux-arm64/reuseport.node', B]]);
  });

  it('vouches only for a listed name with exactly its checksum, on every line that names it', () => {
    const text = `${A}  linux-x64/reuseport.node\n`;
    expect(rejectPrebuild(text, 'linux-x64/reuseport.node', A)).toBeUndefined();
    expect(rejectPrebuild(text, 'linux-x64/reuseport.node', B)).toBe(
      `its SHA-256 is ${B.slice(0, 16)}…, SHA256SUMS says ${A.slice(0, 16)}… (a damaged or foreign file)`);
    expect(rejectPrebuild(text, 'linux-arm64/reuseport.node', A))
      .toBe('SHA256SUMS lists no checksum for linux-arm64/reuseport.node');
    expect(rejectPrebuild('', 'linux-x64/reuseport.node', A)).toMatch(/lists no checksum/);
    const twice = `${text}${B}  linux-x64/reuseport.node\n`;
    expect(rejectPrebuild(twice, 'linux-x64/reuseport.node', A)).toMatch(/SHA256SUMS says bbbb/);
  });
});

describe('the committed prebuilds', () => {
  it('are exactly the shipped files, each with its current SHA-256 (a stale list fails here)', () => {
    const listed = parseManifest(readFileSync(join(prebuilds, MANIFEST_NAME), 'utf8'));
    expect(listed.map(([name]) => name).sort()).toEqual([...SHIPPED].sort());
    for (const [name, sum] of listed) {
      expect({ name, sum: sha256(readFileSync(join(prebuilds, name))) }).toEqual({ name, sum });
    }
  });

  it('ship the checksum list with the addons', () => {
    const { files } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { files: string[] };
    const expected = [...SHIPPED.map((name) => `prebuilds/${name}`), `prebuilds/${MANIFEST_NAME}`];
    expect(files).toEqual(expect.arrayContaining(expected));
  });
});

describe.skipIf(!isKernelAvailable)('loading from a prebuilds directory', () => {
  const name = `linux-${process.arch}/reuseport.node`;
  const original = readFileSync(join(prebuilds, name));
  /** A prebuilds directory holding `addon` as this architecture's file and `manifest` (none when undefined). */
  const layout = (addon: Buffer, manifest: string | undefined): string => {
    const dir = mkdtempSync(join(tmpdir(), 'sticky-prebuilds-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    mkdirSync(join(dir, `linux-${process.arch}`));
    writeFileSync(join(dir, name), addon);
    if (manifest !== undefined) writeFileSync(join(dir, MANIFEST_NAME), manifest);
    return dir;
  };
  const load = (dir: string): ReturnType<typeof loadFrom> =>
    loadFrom(dir, 'linux', process.arch, process.versions.node);

  it('loads the file the list vouches for', () => {
    const dir = layout(original, `${sha256(original)}  ${name}\n`);
    expect(load(dir).reason).toBeUndefined();
    expect(load(dir).sockets).toBeDefined();
  });

  it('refuses a flipped byte, a truncated file, a missing entry and a missing list, and says why', () => {
    const flipped = Buffer.from(original);
    flipped[0x1200] = (flipped[0x1200] as number) ^ 0x01;
    const manifest = readFileSync(join(prebuilds, MANIFEST_NAME), 'utf8');
    expect(load(layout(flipped, manifest)).reason)
      .toMatch(/did not load from .*reuseport\.node: its SHA-256 is [0-9a-f]{16}…, SHA256SUMS says/);
    expect(load(layout(original.subarray(0, 1000), manifest)).reason).toMatch(/: its SHA-256 is .*SHA256SUMS says/);
    expect(load(layout(original, `${sha256(original)}  linux-other/reuseport.node\n`)).reason)
      .toMatch(new RegExp(`: SHA256SUMS lists no checksum for ${name}$`));
    expect(load(layout(original, undefined)).reason).toMatch(/: cannot read its checksum list: ENOENT/);
  });

  it('refuses what is not a regular file', () => {
    const dir = layout(original, `${sha256(original)}  ${name}\n`);
    rmSync(join(dir, name));
    mkdirSync(join(dir, name));
    expect(load(dir).reason).toMatch(/not a regular file/);
  });
});
