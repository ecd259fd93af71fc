import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');
const PAGES = ['README.md', 'templates/README.md', ...readdirSync(path.join(ROOT, 'docs')).filter((name) => name.endsWith('.md')).map((name) => `docs/${name}`)];

/** The text outside fenced code blocks and inline code, where a `[x](y)` is a link. */
const prose = (markdown: string) => markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '').replace(/`[^`\n]*`/g, '');

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const result = new Set<string>();
  const withoutCode = markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '');
  for (const [, heading] of withoutCode.matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const text = (heading as string).replace(/\[([^\]]*)\]\([^)]*\)/g, '$1').replace(/<[^>]+>/g, '');
    const slug = text.toLowerCase().replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, '').replace(/ /g, '-');
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    result.add(count === 0 ? slug : `${slug}-${count}`);
  }
  for (const [, id] of markdown.matchAll(/<a\s+(?:name|id)="([^"]+)"/g)) result.add(id as string);
  return result;
}

/** Relative link targets of a page: inline links, images and reference definitions. */
function links(markdown: string): string[] {
  const text = prose(markdown);
  const inline = [...text.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((match) => match[1] as string);
  const references = [...text.matchAll(/^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+"[^"]*")?\s*$/gm)].map((match) => match[1] as string);
  return [...inline, ...references].filter((target) => !/^[a-z][a-z0-9+.-]*:/i.test(target));
}

describe('the README', () => {
  it('stays a front door: under 15 KB, the guides in docs/', () => {
    expect(statSync(path.join(ROOT, 'README.md')).size).toBeLessThan(15 * 1024);
  });
});

describe('links between the docs', () => {
  it.each(PAGES)('every relative link of %s reaches a file, and its #anchor a heading there', (page) => {
    const markdown = readFileSync(path.join(ROOT, page), 'utf8');
    const broken: string[] = [];
    for (const target of links(markdown)) {
      const [file, anchor] = target.split('#') as [string, string | undefined];
      const resolved = file === '' ? path.join(ROOT, page) : path.resolve(path.dirname(path.join(ROOT, page)), decodeURIComponent(file));
      if (!existsSync(resolved)) {
        broken.push(`${target}: no such file`);
        continue;
      }
      if (anchor && resolved.endsWith('.md') && statSync(resolved).isFile() && !anchors(readFileSync(resolved, 'utf8')).has(decodeURIComponent(anchor))) {
        broken.push(`${target}: no heading with the anchor #${anchor}`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('finds the links and anchors it checks (the checker itself)', () => {
    expect(links('See [a](docs/a.md#x), `[not](b.md)`, [web](https://x.org) and\n[ref]: ../c.md\n```\n[code](d.md)\n```')).toEqual(['docs/a.md#x', '../c.md']);
    expect([...anchors('# Quick start\n## What `work --drain` does, and why?\n## Quick start\n```\n# not a heading\n```')]).toEqual([
      'quick-start',
      'what-work---drain-does-and-why',
      'quick-start-1',
    ]);
  });
});
