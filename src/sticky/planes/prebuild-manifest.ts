// The checksum list of the prebuilt addons (prebuilds/SHA256SUMS, written by native/build.sh in the
// format of `sha256sum`: `<64 hex digits><space><space or *><name>` per line). Pure: the loader reads
// the files, this decides.

/** The checksum list's file name, in the prebuilds directory. */
export const MANIFEST_NAME = 'SHA256SUMS';

const LINE = /^([0-9a-f]{64}) [ *](.+)$/;

/** Every well-formed line as [name, checksum] (lower-case hex); other lines are not entries. */
export function parseManifest(text: string): [string, string][] {
  return text.split('\n').flatMap((line) => {
    const match = LINE.exec(line.replace(/\r$/, ''));
    return match === null ? [] : [[match[2] as string, match[1] as string] as [string, string]];
  });
}

/**
 * Why the file `name` (relative to the prebuilds directory) with SHA-256 `sha256` must not be
 * loaded, or undefined when the list names it with exactly that checksum (every line for it, if
 * there are several).
 */
export function rejectPrebuild(manifest: string, name: string, sha256: string): string | undefined {
  const listed = parseManifest(manifest).filter(([entry]) => entry === name).map(([, sum]) => sum);
  if (listed.length === 0) return `${MANIFEST_NAME} lists no checksum for ${name}`;
  const expected = listed.find((sum) => sum !== sha256);
  if (expected === undefined) return undefined;
  const sums = `its SHA-256 is ${sha256.slice(0, 16)}…, ${MANIFEST_NAME} says ${expected.slice(0, 16)}…`;
  return `${sums} (a damaged or foreign file)`;
}
