import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadApp } from '../../src/cli/app-loader-worker.js';

// An app module for `serve` may export its prom-client registry as `metricsRegistry`.
const dir = mkdtempSync(join(tmpdir(), 'sticky-app-loader-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const app = (name: string, source: string): string => {
  const path = join(dir, name);
  writeFileSync(path, source);
  return path;
};
const SERVER = 'import http from "node:http"; export default http.createServer();';

describe('loadApp: metricsRegistry', () => {
  it('takes a registry the module exports', async () => {
    const loaded = await loadApp(app('with.mjs', `${SERVER} export const metricsRegistry = { getMetricsAsJSON: () => [] };`));
    expect(typeof loaded.metricsRegistry?.getMetricsAsJSON).toBe('function');
    expect((await loadApp(app('without.mjs', SERVER))).metricsRegistry).toBeUndefined();
  });

  it('refuses an export that is no registry, saying what to export', async () => {
    const path = app('bad.mjs', `${SERVER} export const metricsRegistry = 42;`);
    await expect(loadApp(path)).rejects.toMatchObject({
      code: 'STICKY_ERR_INVALID_APP',
      message: `${path} exports \`metricsRegistry\` as 42 (number), which is not a prom-client registry. `
        + 'Hint: Export the registry your metrics are registered in: `export { register as metricsRegistry } from \'prom-client\'`.',
    });
  });
});
