import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// Reads the project's Markdown as GitHub renders it: the anchors its headings get, the links that
// point at files and anchors, and the fenced code blocks (with the `<!-- snippet: … -->` marker
// written right before a block, if any). Pure: no processes, no network.

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** The user documentation: README, SECURITY, ARCHITECTURE and docs/*.md (not docs/_pending/, fragments to merge). */
export function documentationFiles(root = REPO_ROOT): string[] {
  const docs = readdirSync(join(root, 'docs')).filter((name) => name.endsWith('.md')).map((name) => join('docs', name));
  return ['README.md', 'SECURITY.md', 'ARCHITECTURE.md', ...docs.sort()];
}

/** Markdown text without fenced code blocks, so `#` comments in them are not headings and links in them not links. */
function proseLines(text: string): string[] {
  const lines = text.split('\n');
  let fence: string | undefined;
  return lines.map((line) => {
    const open = /^\s*(`{3,}|~{3,})/.exec(line)?.[1];
    if (fence === undefined && open !== undefined) {
      fence = open;
      return '';
    }
    if (fence !== undefined) {
      if (line.trim().startsWith(fence) && line.trim().replace(/[`~]/g, '') === '') fence = undefined;
      return '';
    }
    return line;
  });
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
export function slug(heading: string): string {
  const text = heading
    .replace(/<[^>]+>/g, '')
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .trim()
    .toLowerCase();
  return text.replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '').replace(/ /g, '-');
}

/** Every anchor a file defines: its headings' slugs (repeats numbered as GitHub does) and `<a id="…">`. */
export function anchorsOf(text: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of proseLines(text)) {
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)?.[1];
    if (heading !== undefined) {
      const base = slug(heading);
      const count = seen.get(base) ?? 0;
      seen.set(base, count + 1);
      anchors.add(count === 0 ? base : `${base}-${count}`);
    }
    for (const match of line.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) anchors.add(match[1] as string);
  }
  return anchors;
}

export interface MarkdownLink {
  file: string;
  line: number;
  target: string;
}

/** The relative links of a file (`[text](target)`, outside code), with their line numbers; web links left out. */
export function linksOf(file: string, text: string): MarkdownLink[] {
  const links: MarkdownLink[] = [];
  proseLines(text).forEach((line, index) => {
    const prose = line.replace(/`[^`]*`/g, '``');
    for (const match of prose.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
      const target = match[1] as string;
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue;
      links.push({ file, line: index + 1, target });
    }
  });
  return links;
}

/** Links whose file does not exist or whose anchor is not a heading (or `<a id>`) of that file, as "file:line → target". */
export function brokenLinks(files: readonly string[], root = REPO_ROOT): string[] {
  const broken: string[] = [];
  const anchorCache = new Map<string, Set<string> | undefined>();
  const anchorsAt = (path: string): Set<string> | undefined => {
    if (!anchorCache.has(path)) {
      let text: string | undefined;
      try {
        text = readFileSync(join(root, path), 'utf8');
      } catch {
        text = undefined;
      }
      anchorCache.set(path, text === undefined ? undefined : anchorsOf(text));
    }
    return anchorCache.get(path);
  };
  for (const file of files) {
    for (const link of linksOf(file, readFileSync(join(root, file), 'utf8'))) {
      const [pathPart = '', anchor] = link.target.split('#', 2);
      const path = pathPart === '' ? file : relative(root, resolve(root, dirname(file), decodeURIComponent(pathPart)));
      const where = `${file}:${link.line} → ${link.target}`;
      if (pathPart !== '' && !existsAt(root, path)) {
        broken.push(`${where} (no such file)`);
        continue;
      }
      if (anchor === undefined || anchor === '') continue;
      if (!path.endsWith('.md')) {
        broken.push(`${where} (an anchor into a file that is not Markdown)`);
        continue;
      }
      if (!anchorsAt(path)?.has(anchor)) broken.push(`${where} (no such heading)`);
    }
  }
  return broken;
}

const existsAt = (root: string, path: string): boolean => existsSync(join(root, path));

export interface CodeBlock {
  file: string;
  /** Line of the opening fence, 1-based. */
  line: number;
  /** The fence's info string: `js`, `ts`, `sh`, … ('' when none). */
  lang: string;
  /** The marker right before the block, `<!-- snippet: fragment -->` → 'fragment'. */
  marker: string | undefined;
  code: string;
}

/** The fenced code blocks of a file, in order. */
export function codeBlocksOf(file: string, text: string): CodeBlock[] {
  const blocks: CodeBlock[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,}|~{3,})\s*([\w+-]*)/.exec(lines[i] as string);
    if (open === null) continue;
    const [, indent = '', fence = '', lang = ''] = open;
    let previous = i - 1;
    while (previous >= 0 && (lines[previous] as string).trim() === '') previous--;
    const marker = previous >= 0 ? /^\s*<!--\s*snippet:\s*(.*?)\s*-->\s*$/.exec(lines[previous] as string)?.[1] : undefined;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length; j++) {
      const line = lines[j] as string;
      if (line.trim().startsWith(fence) && line.trim().replace(/[`~]/g, '') === '') break;
      body.push(line.startsWith(indent) ? line.slice(indent.length) : line.trimStart());
    }
    blocks.push({ file, line: i + 1, lang, marker, code: `${body.join('\n')}\n` });
    i = j;
  }
  return blocks;
}
