// A private copy of dist/ for one benchmark run, so that a rebuild of the working tree while the
// benchmark runs cannot change (or half-write) the code that later processes load. Bare imports
// (pino, …) still resolve through the repository's node_modules, which are above the copy.
import { cpSync, rmSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const DIST = fileURLToPath(new URL('../../dist', import.meta.url));
// The native part is found relative to dist/ (../prebuilds), so it is copied beside the snapshot.
const PREBUILDS = fileURLToPath(new URL('../../prebuilds', import.meta.url));

/** Copies dist/ and sets BENCH_DIST, which child processes inherit; returns a function that removes the copy. */
export function useDistSnapshot() {
  if (process.env.BENCH_DIST) return () => {};
  const root = fileURLToPath(new URL(`../tmp/run-${process.pid}`, import.meta.url));
  const copy = `${root}/dist`;
  cpSync(DIST, copy, { recursive: true });
  cpSync(PREBUILDS, `${root}/prebuilds`, { recursive: true });
  process.env.BENCH_DIST = copy;
  return () => {
    rmSync(root, { recursive: true, force: true });
    delete process.env.BENCH_DIST;
  };
}

/** URL of a file under the run's dist/ (the snapshot when there is one). */
export function distUrl(file) {
  const base = process.env.BENCH_DIST ?? DIST;
  return pathToFileURL(`${base}/${file}`).href;
}
