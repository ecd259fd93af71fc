import { readFileSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import type { ReminderKind } from '../db/types';
import { localeCandidates } from './locale';
import type { TemplateProblem } from './template-problem';

/**
 * Reads the template files of one email variant and stitches them into one MJML document:
 * `layout.mjml` with its `<mj-include>`s expanded and each `<mj-slot name="x"/>` replaced by
 * the `## x` block of the copy files. Every composed line remembers the file and line it came
 * from, so MJML and Handlebars errors can be reported as `file:line`.
 */

export type Family = 'annual' | 'maintenance';
export const FAMILIES: readonly Family[] = ['annual', 'maintenance'];
export const FAMILY_OF_KIND: Readonly<Record<ReminderKind, Family>> = { license: 'annual', maintenance: 'maintenance' };
export const KIND_OF_FAMILY: Readonly<Record<Family, ReminderKind>> = { annual: 'license', maintenance: 'maintenance' };

/** Which copy is used: the reminder's offset, or the expiry-day reminder sent after expiry. */
export type Variant = number | 'expired';

export const LAYOUT_FILE = 'layout.mjml';
export const COMMON_FOLDER = 'common';

/** A file read (or looked for) while composing: re-checked on each render for hot reload. */
export interface FileStamp {
  absolute: string;
  exists: boolean;
  mtimeMs: number;
  size: number;
}

/** A `## name [offset|expired]` block of a copy file. */
export interface CopyBlock {
  name: string;
  /** '30', 'expired', or null for the block used when there is no specific one. */
  key: string | null;
  text: string;
  file: string;
  /** Line of the block's first character in its file. */
  line: number;
}

export interface CopyFile {
  file: string;
  blocks: CopyBlock[];
}

export interface Origin {
  file: string;
  line: number;
}

export interface ComposedSource {
  family: Family;
  variant: Variant;
  /** The locale whose copy file was found ('de' for a 'de-AT' contact without de-AT files). */
  locale: string;
  mjml: string;
  subject: CopyBlock | null;
  /** The family's copy file used, relative to the folder (null when none was found). */
  copyFile: string | null;
  /** The copy blocks placed in the email, in order. */
  blocks: CopyBlock[];
  /** Origin of each composed line; index 0 is line 1. */
  origins: Origin[];
  /** Every file read, with its contents (for the template version). */
  contents: Map<string, string>;
  stamps: FileStamp[];
  problems: TemplateProblem[];
}

const HEADING = /^##(?:\s+(.*))?$/;
const HEADING_BODY = /^([a-z][a-z0-9-]*)(?:\s+(\d+|expired))?\s*$/;
const DIRECTIVE = /<mj-(include|slot)\b([^>]*?)\/?>(?:\s*<\/mj-\1\s*>)?/g;

export const toPosix = (file: string) => file.split(path.sep).join('/');

/** Splits a copy file into its `## name [key]` blocks; text before the first heading is a comment. */
export function parseCopyFile(file: string, text: string): { copy: CopyFile; problems: TemplateProblem[] } {
  const problems: TemplateProblem[] = [];
  const blocks: CopyBlock[] = [];
  const lines = text.split(/\r?\n/);
  let current: { name: string; key: string | null; line: number; body: string[] } | null = null;
  const finish = () => {
    if (!current) return;
    const body = current.body;
    let start = 0;
    while (start < body.length && body[start]!.trim() === '') start += 1;
    let end = body.length;
    while (end > start && body[end - 1]!.trim() === '') end -= 1;
    const key = `${current.name} ${current.key ?? ''}`;
    if (blocks.some((b) => `${b.name} ${b.key ?? ''}` === key)) {
      problems.push({ file, line: current.line, message: `block "## ${key.trim()}" appears twice` });
    }
    blocks.push({
      name: current.name,
      key: current.key,
      text: body.slice(start, end).join('\n'),
      file,
      line: current.line + 1 + start,
    });
  };
  lines.forEach((raw, index) => {
    const heading = HEADING.exec(raw.trimEnd());
    if (!heading) {
      current?.body.push(raw);
      return;
    }
    finish();
    const parsed = HEADING_BODY.exec((heading[1] ?? '').trim());
    if (!parsed) {
      problems.push({
        file,
        line: index + 1,
        message: `malformed block heading "${raw.trim()}": write "## name", "## name 30" or "## name expired"`,
      });
      current = { name: '#invalid', key: null, line: index + 1, body: [] };
      return;
    }
    current = { name: parsed[1]!, key: parsed[2] ?? null, line: index + 1, body: [] };
  });
  finish();
  return { copy: { file, blocks: blocks.filter((b) => b.name !== '#invalid') }, problems };
}

/** The block for this variant: `## name 30` (or `## name expired`) first, then `## name`. */
export function pickBlock(copies: readonly CopyFile[], name: string, variant: Variant): CopyBlock | null {
  const key = String(variant);
  for (const copy of copies) {
    const exact = copy.blocks.find((b) => b.name === name && b.key === key);
    if (exact) return exact;
    const fallback = copy.blocks.find((b) => b.name === name && b.key === null);
    if (fallback) return fallback;
  }
  return null;
}

const attribute = (attrs: string, name: string): string | null => {
  const match = new RegExp(`\\b${name}\\s*=\\s*(?:"([^"]*)"|'([^']*)')`).exec(attrs);
  return match ? (match[1] ?? match[2] ?? '') : null;
};

/** Reads template files below one folder, refusing paths that leave it. Records what it touched. */
export class TemplateReader {
  readonly contents = new Map<string, string>();
  readonly stamps: FileStamp[] = [];
  private readonly root: string;

  constructor(readonly dir: string) {
    let root = path.resolve(dir);
    try {
      root = realpathSync(root);
    } catch {
      // A missing folder is reported when its first file is read.
    }
    this.root = root;
  }

  relative(absolute: string): string {
    return toPosix(path.relative(this.dir, absolute));
  }

  /** True when `absolute` (after following symlinks) is inside the templates folder. */
  isInside(absolute: string): boolean {
    let target: string;
    try {
      target = realpathSync(absolute);
    } catch {
      target = path.resolve(this.root, path.relative(this.dir, absolute));
    }
    const relative = path.relative(this.root, target);
    return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative);
  }

  /** Whether a file exists, remembered so that creating it later invalidates the cache. */
  exists(absolute: string): boolean {
    const stat = statSync(absolute, { throwIfNoEntry: false });
    const exists = Boolean(stat?.isFile());
    if (!exists) this.stamp(absolute, false, 0, 0);
    return exists;
  }

  read(absolute: string): string | null {
    const known = this.contents.get(absolute);
    if (known !== undefined) return known;
    const stat = statSync(absolute, { throwIfNoEntry: false });
    if (!stat?.isFile()) {
      this.stamp(absolute, false, 0, 0);
      return null;
    }
    const text = readFileSync(absolute, 'utf8');
    this.stamp(absolute, true, stat.mtimeMs, stat.size);
    this.contents.set(absolute, text);
    return text;
  }

  private stamp(absolute: string, exists: boolean, mtimeMs: number, size: number) {
    if (!this.stamps.some((s) => s.absolute === absolute)) this.stamps.push({ absolute, exists, mtimeMs, size });
  }
}

/** True when any file recorded in `stamps` changed, appeared or disappeared. */
export function stampsChanged(stamps: readonly FileStamp[]): boolean {
  for (const stamp of stamps) {
    const stat = statSync(stamp.absolute, { throwIfNoEntry: false });
    const exists = Boolean(stat?.isFile());
    if (exists !== stamp.exists) return true;
    if (stat && exists && (stat.mtimeMs !== stamp.mtimeMs || stat.size !== stamp.size)) return true;
  }
  return false;
}

/** Finds the copy file of a family for a locale, falling back to the language, then English. */
export function resolveCopyFile(
  reader: TemplateReader,
  folder: string,
  locale: string,
): { locale: string; absolute: string } | null {
  for (const candidate of localeCandidates(locale)) {
    const absolute = path.join(reader.dir, folder, `${candidate}.mjml`);
    if (reader.exists(absolute)) return { locale: candidate, absolute };
  }
  return null;
}

interface Piece {
  text: string;
  file: string;
  line: number;
}

/** Builds the MJML document of one family × locale × variant; problems are collected, not thrown. */
export function composeVariant(dir: string, family: Family, locale: string, variant: Variant): ComposedSource {
  const reader = new TemplateReader(dir);
  const problems: TemplateProblem[] = [];
  const copies: CopyFile[] = [];

  const familyCopy = resolveCopyFile(reader, family, locale);
  let resolvedLocale = familyCopy?.locale ?? 'en';
  if (!familyCopy) {
    problems.push({ file: `${family}/en.mjml`, line: 0, message: `missing copy file for "${family}" (looked for ${localeCandidates(locale).map((c) => `${family}/${c}.mjml`).join(', ')})` });
  }
  const commonCopy = resolveCopyFile(reader, COMMON_FOLDER, resolvedLocale);
  if (!commonCopy) {
    problems.push({ file: `${COMMON_FOLDER}/en.mjml`, line: 0, message: `missing shared copy file ${COMMON_FOLDER}/${resolvedLocale}.mjml` });
  }
  for (const found of [familyCopy, commonCopy]) {
    if (!found) continue;
    const text = reader.read(found.absolute) ?? '';
    const parsed = parseCopyFile(reader.relative(found.absolute), text);
    problems.push(...parsed.problems);
    copies.push(parsed.copy);
  }
  if (familyCopy) resolvedLocale = familyCopy.locale;

  const pieces: Piece[] = [];
  const used: CopyBlock[] = [];
  const layoutPath = path.join(dir, LAYOUT_FILE);
  const layout = reader.read(layoutPath);
  if (layout === null) {
    problems.push({ file: LAYOUT_FILE, line: 0, message: 'missing layout file' });
  } else {
    expand(layout, LAYOUT_FILE, 1, path.dirname(layoutPath), []);
  }

  function expand(text: string, file: string, startLine: number, baseDir: string, stack: string[]): void {
    if (stack.length > 20) {
      problems.push({ file, line: startLine, message: 'includes and slots nest more than 20 levels deep' });
      return;
    }
    let last = 0;
    let line = startLine;
    const advance = (upTo: number) => {
      const chunk = text.slice(last, upTo);
      if (chunk) pieces.push({ text: chunk, file, line });
      line += chunk.split('\n').length - 1;
      last = upTo;
    };
    const comments = [...text.matchAll(/<!--[\s\S]*?-->/g)].map((m) => [m.index, m.index + m[0].length] as const);
    for (const match of text.matchAll(DIRECTIVE)) {
      if (comments.some(([from, to]) => match.index >= from && match.index < to)) continue;
      advance(match.index);
      const directiveLine = line;
      const [whole, kind, attrs = ''] = match;
      line += whole.split('\n').length - 1;
      last = match.index + whole.length;
      if (kind === 'include') {
        includeFile(attrs, file, directiveLine, baseDir, stack);
      } else {
        fillSlot(attrs, file, directiveLine, stack);
      }
    }
    advance(text.length);
  }

  function includeFile(attrs: string, file: string, line: number, baseDir: string, stack: string[]): void {
    const target = attribute(attrs, 'path');
    const type = attribute(attrs, 'type');
    if (!target) {
      problems.push({ file, line, message: 'mj-include without a path="…" attribute' });
      return;
    }
    if (type && type !== 'mjml') {
      problems.push({ file, line, message: `mj-include type="${type}" is not supported here: include MJML partials only` });
      return;
    }
    const absolute = path.resolve(baseDir, target);
    if (path.isAbsolute(target) || target.includes('\0') || !reader.isInside(absolute)) {
      problems.push({ file, line, message: `mj-include "${target}" points outside the templates folder` });
      return;
    }
    const relative = reader.relative(absolute);
    if (stack.includes(`file:${relative}`)) {
      problems.push({ file, line, message: `mj-include "${target}" includes itself (${[...stack, `file:${relative}`].filter((s) => s.startsWith('file:')).map((s) => s.slice(5)).join(' → ')})` });
      return;
    }
    const text = reader.read(absolute);
    if (text === null) {
      problems.push({ file, line, message: `mj-include "${target}": file not found (${relative})` });
      return;
    }
    expand(text, relative, 1, path.dirname(absolute), [...stack, `file:${relative}`]);
  }

  function fillSlot(attrs: string, file: string, line: number, stack: string[]): void {
    const name = attribute(attrs, 'name');
    if (!name) {
      problems.push({ file, line, message: 'mj-slot without a name="…" attribute' });
      return;
    }
    if (name === 'subject') {
      problems.push({ file, line, message: 'the subject is not a slot: use {{subject}} to show it' });
      return;
    }
    if (stack.includes(`slot:${name}`)) {
      problems.push({ file, line, message: `block "## ${name}" uses itself` });
      return;
    }
    const block = pickBlock(copies, name, variant);
    if (!block) {
      const where = copies.map((c) => c.file).join(' or ') || `${family}/${resolvedLocale}.mjml`;
      problems.push({ file, line, message: `no "## ${name}" block for the ${describeVariant(variant)} reminder in ${where}`, missingBlock: { name, searched: copies.map((c) => c.file) } });
      return;
    }
    used.push(block);
    expand(block.text, block.file, block.line, path.join(dir, path.dirname(block.file)), [...stack, `slot:${name}`]);
  }

  const subject = pickBlock(copies.slice(0, 1), 'subject', variant);
  if (!subject && familyCopy) {
    problems.push({ file: reader.relative(familyCopy.absolute), line: 0, message: `no "## subject" block for the ${describeVariant(variant)} reminder` });
  } else if (subject && subject.text.trim() === '') {
    problems.push({ file: subject.file, line: subject.line - 1, message: `the subject for the ${describeVariant(variant)} reminder is empty` });
  }

  const { text, origins } = joinPieces(pieces);
  return {
    family,
    variant,
    locale: resolvedLocale,
    mjml: text,
    subject,
    copyFile: familyCopy ? reader.relative(familyCopy.absolute) : null,
    blocks: used,
    origins,
    contents: reader.contents,
    stamps: reader.stamps,
    problems,
  };
}

export function describeVariant(variant: Variant): string {
  return variant === 'expired' ? 'expired (sent after the expiry date)' : `${variant}-day`;
}

/** Concatenates pieces and attributes each output line to the first piece with text on it. */
function joinPieces(pieces: readonly Piece[]): { text: string; origins: Origin[] } {
  const strong: (Origin | undefined)[] = [];
  const weak: (Origin | undefined)[] = [];
  let current = 0;
  for (const piece of pieces) {
    piece.text.split('\n').forEach((segment, index) => {
      if (index > 0) current += 1;
      const origin = { file: piece.file, line: piece.line + index };
      weak[current] ??= origin;
      if (!strong[current] && segment.trim() !== '') strong[current] = origin;
    });
  }
  const origins: Origin[] = [];
  for (let i = 0; i <= current; i += 1) origins.push(strong[i] ?? weak[i] ?? { file: LAYOUT_FILE, line: 0 });
  return { text: pieces.map((p) => p.text).join(''), origins };
}
