import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { anchorsOf, brokenLinks, documentationFiles, linksOf, REPO_ROOT, slug } from '../helpers/markdown.js';

// Every relative link in the documentation reaches a file, and every anchor a heading of that file.

describe('documentation links', () => {
  it('every relative link and anchor in README, SECURITY, ARCHITECTURE and docs/ resolves', () => {
    expect(brokenLinks(documentationFiles())).toEqual([]);
  });

  it('the links of bench/ and CHANGELOG resolve too', () => {
    expect(brokenLinks(['bench/README.md', 'bench/RESULTS.md', 'CHANGELOG.md'])).toEqual([]);
  });

  it('the checker sees a broken anchor and a missing file (it can fail)', () => {
    const text = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
    expect(linksOf('README.md', text).length).toBeGreaterThan(10);
    expect(anchorsOf('## Quick start\n```sh\n# not a heading\n```\n<a id="x"></a>')).toEqual(new Set(['quick-start', 'x']));
    expect(slug('Proxy header: `proxyHeader` and `trustedProxies`')).toBe('proxy-header-proxyheader-and-trustedproxies');
    expect(slug('Frameworks: Express, Fastify, Koa, ws, Socket.IO')).toBe('frameworks-express-fastify-koa-ws-socketio');
  });
});
