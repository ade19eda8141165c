import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { codeBlocksOf, documentationFiles, REPO_ROOT, type CodeBlock } from './markdown.js';

// The TypeScript and JavaScript blocks of the documentation, written out as modules and type-checked
// with `tsc --strict` against the built package (`import … from 'sticky-runtime'` resolves to dist/
// through the package's own name, as it does for a user).
//
// - A block with an `import` (or `module.exports`) is a complete module and is checked alone.
// - A block without one is a fragment: it gets the package's exports imported for it, and the
//   placeholders of the application around it (PLACEHOLDERS: `server`, `app`, `db`, …) declared.
// - `<!-- snippet: fragment -->` before a complete module gives it the placeholders too (its own
//   imports stay): for examples that show the library's part of a bigger program.

export const CODE_LANGS = new Set(['js', 'ts', 'javascript', 'typescript']);

/** The application objects fragments use without declaring them, as their types. */
export const PLACEHOLDERS = `import type { Express } from 'express';
import type { Server } from 'node:http';
import type { WebSocketServer } from 'ws';
import type { CloseMaster, StickyPrimary } from 'sticky-runtime';

declare global {
  interface Task { id: string; input: string }
  interface Session { user: string; since: number }
  /** The application's server in a worker (or the primary's copy of it). */
  const server: Server;
  /** An Express app. */
  const app: Express;
  /** What the drop-in listen() returned in the primary. */
  const closeMaster: CloseMaster;
  const primary: StickyPrimary;
  const wss: WebSocketServer;
  const db: { connect(): Promise<void>; close(): Promise<void> };
  const cache: { warm(): Promise<void>; persist(): Promise<void>; delete(key: string): boolean };
  const queue: { flush(): Promise<void>; shift(): Task | undefined };
  const sessions: Map<string, Session>;
  const totals: { add(from: unknown, requests: number): void };
  const metrics: { increment(name: string): void };
  const logger: { warn(fields: object, message: string): void };
  const jobs: number;
  function report(stats: unknown): void;
  function alert(text: string): void;
}
export {};
`;

/** Modules a complete example imports besides packages: the files next to the example in the app. */
const NEIGHBOURS: Record<string, string> = {
  // docs/frameworks.md: a Fastify plugin that takes a while to load.
  'db-plugin.ts': "import type { FastifyInstance } from 'fastify';\nexport default async function dbPlugin(_app: FastifyInstance): Promise<void> {}\n",
};

export interface Snippet extends CodeBlock {
  kind: 'module' | 'fragment';
  /** The file it was written to, relative to the snippet directory. */
  path: string;
}

export const isCodeBlock = (block: CodeBlock): boolean => CODE_LANGS.has(block.lang);

/** Every code block of the user documentation (README, SECURITY, docs/; not docs/_pending/ nor ARCHITECTURE.md). */
export function documentationBlocks(): CodeBlock[] {
  return documentationFiles().filter((file) => file !== 'ARCHITECTURE.md').flatMap((file) => codeBlocksOf(file, readFileSync(join(REPO_ROOT, file), 'utf8')));
}

function valueExports(): string[] {
  const declarations = readFileSync(join(REPO_ROOT, 'dist/index.d.ts'), 'utf8');
  const names = new Set<string>();
  for (const match of declarations.matchAll(/export\s*\{([^}]*)\}/g)) {
    for (const item of (match[1] as string).split(',')) {
      const name = item.trim();
      if (name !== '' && !name.startsWith('type ')) names.add(name.split(/\s+as\s+/).pop() as string);
    }
  }
  return [...names].sort();
}

function classify(block: CodeBlock): Snippet['kind'] {
  const isModule = /^\s*import\s[^(]/m.test(block.code) || /\bmodule\.exports\b/.test(block.code);
  if (!isModule) return 'fragment';
  return block.marker === 'fragment' ? 'fragment' : 'module';
}

function fileName(block: CodeBlock, kind: Snippet['kind']): string {
  const base = `${block.file.replace(/[/.]/g, '_')}_L${block.line}`;
  const isCommonJs = /\bmodule\.exports\b/.test(block.code);
  const isTs = block.lang === 'ts' || block.lang === 'typescript';
  return `${kind}/${base}.${isTs ? (isCommonJs ? 'cts' : 'mts') : isCommonJs ? 'cjs' : 'mjs'}`;
}

export interface SnippetCheck {
  snippets: Snippet[];
  /** tsc's output per program, empty when it found nothing. */
  output: string;
  status: number | null;
}

/**
 * Writes every TS/JS block into a new directory inside the repository (so the package resolves by its
 * own name) and runs tsc --strict over the complete modules and, separately, over the fragments.
 */
export function typeCheckSnippets(blocks = documentationBlocks().filter(isCodeBlock)): SnippetCheck {
  const dir = mkdtempSync(join(REPO_ROOT, '.docs-snippets-'));
  try {
    const exportsLine = `import { ${valueExports().join(', ')} } from 'sticky-runtime';`;
    const snippets = blocks.map((block) => {
      const kind = classify(block);
      const path = fileName(block, kind);
      // The import goes last (imports are hoisted), so tsc's line N is line N of the block.
      const code = kind === 'fragment' && !/^\s*import\s[^(]/m.test(block.code) ? `${block.code}${exportsLine}\n` : block.code;
      return { ...block, kind, path, code };
    });
    for (const kind of ['module', 'fragment'] as const) {
      rmSync(join(dir, kind), { recursive: true, force: true });
      spawnSync('mkdir', ['-p', join(dir, kind)]);
      for (const [name, text] of Object.entries(NEIGHBOURS)) writeFileSync(join(dir, kind, name), text);
      const files = [...Object.keys(NEIGHBOURS).map((name) => `${kind}/${name}`)];
      if (kind === 'fragment') {
        writeFileSync(join(dir, 'fragment/placeholders.d.ts'), PLACEHOLDERS);
        files.push('fragment/placeholders.d.ts');
      }
      for (const snippet of snippets.filter((s) => s.kind === kind)) {
        writeFileSync(join(dir, snippet.path), snippet.code);
        files.push(snippet.path);
      }
      writeFileSync(join(dir, `tsconfig.${kind}.json`), JSON.stringify({
        compilerOptions: {
          strict: true, noEmit: true, allowJs: true, checkJs: true, skipLibCheck: true,
          target: 'ES2022', module: 'nodenext', moduleResolution: 'nodenext', lib: ['ES2023'], types: ['node'],
        },
        files,
      }));
    }
    const tsc = join(REPO_ROOT, 'node_modules/typescript/bin/tsc');
    const runs = (['module', 'fragment'] as const).map((kind) =>
      spawnSync(process.execPath, [tsc, '-p', join(dir, `tsconfig.${kind}.json`), '--pretty', 'false'], { cwd: dir, encoding: 'utf8' }));
    const output = runs.map((run) => `${run.stdout}${run.stderr}`).join('').trim();
    return { snippets, output: locate(output, snippets), status: runs.some((run) => run.status !== 0) ? 1 : 0 };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** tsc's `fragment/docs_x_md_L12.mjs(3,5): error …` → `docs/x.md:15: error …`. */
function locate(output: string, snippets: readonly Snippet[]): string {
  return output.replace(/^(\S+)\((\d+),\d+\): /gm, (whole, path: string, line: string) => {
    const snippet = snippets.find((s) => s.path === path);
    return snippet === undefined ? whole : `${snippet.file}:${snippet.line + Number(line)}: `;
  });
}
