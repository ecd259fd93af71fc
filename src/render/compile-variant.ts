import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type Handlebars from 'handlebars';
import { emailLocale } from './locale';
import { finishPlainText, htmlToPlainText, plainTextTemplate } from './html-to-plain-text';
import { buildView, createHandlebars, singleLine, type TemplateView } from './template-data';
import { checkHandlebars, checkTagBalance, HELPERS } from './template-lint';
import { dedupe, type TemplateProblem } from './template-problem';
import { composeVariant, type CopyBlock, type Family, type FileStamp, LAYOUT_FILE, type Origin, type Variant } from './template-source';
import { type RenderedEmail, type ReminderEmailInput, TemplateError } from './types';

/** One family × locale × variant, compiled from MJML once and filled per email. */
export interface CompiledVariant {
  family: Family;
  variant: Variant;
  /** The locale of the copy file used (after fallback). */
  locale: string;
  templateVersion: string;
  /** The files it was built from (relative to the templates folder). */
  files: string[];
  /** Filled per email: microseconds, no MJML. Throws TemplateError if a value is missing. */
  fill(input: ReminderEmailInput): RenderedEmail;
}

export interface CompileResult {
  /**
   * The compiled variant, when MJML and Handlebars accepted it. It may exist while `problems`
   * is not empty (validation still fills it to find more); the renderer refuses it then.
   */
  compiled: CompiledVariant | null;
  /** The copy blocks placed in the email (to say where something missing belongs). */
  blocks: CopyBlock[];
  /** The copy file of the family used (after locale fallback), relative to the folder. */
  copyFile: string | null;
  /** The `## subject` block used. */
  subjectBlock: CopyBlock | null;
  problems: TemplateProblem[];
  templateVersion: string;
  stamps: FileStamp[];
  /** The files composed into it, relative path → text: what a stored version keeps. */
  sources: Record<string, string>;
  /** The MJML output and subject the compiled variant fills (null when it did not compile). */
  parts: CompiledParts | null;
}

/** What a compiled variant is made of: enough to rebuild it without MJML or the files on disk. */
export interface CompiledParts {
  family: Family;
  variant: Variant;
  /** The locale of the copy file used (after fallback). */
  locale: string;
  templateVersion: string;
  files: string[];
  /** MJML's output, with the Handlebars placeholders still in it. */
  html: string;
  /** The subject's Handlebars source, and where it was written. */
  subject: string;
  subjectWhere: string;
}

export interface CompileHooks {
  /** Called each time MJML actually runs: lets tests prove the cache works. */
  onMjmlCompile?: (info: { family: Family; locale: string; variant: Variant }) => void;
  /** MJML output by composed document (sha256), shared between variants that compose the same. */
  mjmlCache?: Map<string, Promise<MjmlOutcome>>;
  /**
   * Compiled variants by what they are built from: contacts in de-DE, de-AT and de-CH read the
   * same copy and share one (the contact's locale is applied per email, when it is filled).
   */
  compiledCache?: Map<string, CompiledVariant>;
  /** Lint results (tags, placeholders) by composed document, for the same reason. */
  lintCache?: Map<string, { structural: TemplateProblem[]; placeholders: TemplateProblem[] }>;
}

export type MjmlOutcome = { html: string } | { errors: MjmlError[] };

const handlebars = createHandlebars();
const HANDLEBARS_OPTIONS = {
  strict: true,
  knownHelpersOnly: true,
  knownHelpers: Object.fromEntries(HELPERS.map((h) => [h, true])),
} as const;

/** Short sha256 of the files used, by relative path: recorded in the ledger with each send. */
export function hashContents(contents: Map<string, string>, relative: (absolute: string) => string): string {
  const hash = createHash('sha256');
  for (const [file, text] of [...contents].map(([abs, text]) => [relative(abs), text] as const).sort(([a], [b]) => a.localeCompare(b))) {
    hash.update(file).update('\0').update(text).update('\0');
  }
  return hash.digest('hex').slice(0, 12);
}

export interface MjmlError {
  line?: number;
  message?: string;
  tagName?: string;
}

/** Composes, checks and compiles one variant. Never throws for template mistakes: they are returned. */
export async function compileVariant(
  dir: string,
  family: Family,
  locale: string,
  variant: Variant,
  hooks: CompileHooks = {},
): Promise<CompileResult> {
  const composed = composeVariant(dir, family, locale, variant);
  const relative = (absolute: string) => path.relative(dir, absolute).split(path.sep).join('/');
  const templateVersion = hashContents(composed.contents, relative);
  const files = [...composed.contents.keys()].map(relative).sort();
  const problems = [...composed.problems];
  const locate = (line: number): Origin => composed.origins[line - 1] ?? { file: LAYOUT_FILE, line: 0 };
  const sources = Object.fromEntries([...composed.contents].map(([abs, text]) => [relative(abs), text] as const).sort(([a], [b]) => a.localeCompare(b)));
  const result = (compiled: CompiledVariant | null, parts: CompiledParts | null = null): CompileResult => ({
    compiled,
    blocks: composed.blocks,
    copyFile: composed.copyFile,
    subjectBlock: composed.subject,
    problems: dedupe(problems),
    templateVersion,
    stamps: composed.stamps,
    sources,
    parts,
  });

  // Contacts in de-DE and de-AT (both using de.mjml) compose the same document: it is linted once.
  const key = createHash('sha256').update(composed.mjml).digest('hex');
  const subject = composed.subject;
  const lintKey = `${templateVersion}|${key}|${subject ? `${subject.file}:${subject.line}` : ''}`;
  let lint = hooks.lintCache?.get(lintKey);
  if (!lint) {
    const tags = checkTagBalance(composed.mjml, locate);
    // MJML drops HTML comments (keepComments: false), so placeholders in them are never filled.
    const withoutComments = composed.mjml.replace(/<!--[\s\S]*?-->/g, (comment) => comment.replace(/[^\n]/g, ' '));
    const placeholders = [
      ...checkHandlebars(withoutComments, locate),
      ...(subject ? checkHandlebars(subject.text, (line) => ({ file: subject.file, line: subject.line + line - 1 }), { exclude: ['subject'] }) : []),
    ];
    lint = { structural: tags, placeholders };
    if (hooks.lintCache) {
      if (hooks.lintCache.size >= 500) hooks.lintCache.clear();
      hooks.lintCache.set(lintKey, lint);
    }
  }
  const structural = lint.structural;
  problems.push(...structural, ...lint.placeholders);
  // Missing blocks or refused includes leave a gap but MJML can still check the rest; unbalanced
  // tags would only produce confusing MJML errors, and without a layout there is nothing to check.
  if (structural.length > 0 || !composed.mjml.trim() || !existsSync(dir)) return result(null);

  let pending = hooks.mjmlCache?.get(key);
  if (!pending) {
    hooks.onMjmlCompile?.({ family, locale: composed.locale, variant });
    pending = runMjml(composed.mjml, dir);
    if (hooks.mjmlCache) {
      if (hooks.mjmlCache.size >= 500) hooks.mjmlCache.clear();
      hooks.mjmlCache.set(key, pending);
    }
  }
  const output = await pending;
  if ('errors' in output) {
    for (const e of output.errors) {
      const origin = e.line ? locate(e.line) : { file: LAYOUT_FILE, line: 0 };
      problems.push({ file: origin.file, line: origin.line, message: `MJML: ${e.message ?? 'invalid'}${e.tagName ? ` (${e.tagName})` : ''}` });
    }
    return result(null);
  }
  const html = output.html;
  if (!subject) return result(null);

  const parts: CompiledParts = {
    family,
    variant,
    locale: composed.locale,
    templateVersion,
    files,
    html,
    subject: subject.text,
    subjectWhere: `${subject.file}:${subject.line}`,
  };
  try {
    const cacheKey = `${family}|${variant}|${composed.locale}|${templateVersion}|${key}`;
    let compiled = hooks.compiledCache?.get(cacheKey);
    if (!compiled) {
      compiled = compiledFromParts(parts);
      if (hooks.compiledCache) {
        if (hooks.compiledCache.size >= 500) hooks.compiledCache.clear();
        hooks.compiledCache.set(cacheKey, compiled);
      }
    }
    return result(compiled, parts);
  } catch (error) {
    problems.push({ file: LAYOUT_FILE, line: 0, message: `Handlebars (after MJML): ${error instanceof Error ? error.message : String(error)}` });
    return result(null);
  }
}

/**
 * Builds the fillable variant from its compiled parts: from a fresh MJML run, or from a version
 * kept in the database. Throws when Handlebars cannot compile them.
 */
export function compiledFromParts(parts: CompiledParts): CompiledVariant {
  const { family, variant, locale: templateLocale, templateVersion, files } = parts;
  handlebars.parse(parts.html);
  const htmlTemplate: Handlebars.TemplateDelegate = handlebars.compile(parts.html, HANDLEBARS_OPTIONS);
  const subjectTemplate: Handlebars.TemplateDelegate = handlebars.compile(parts.subject, { ...HANDLEBARS_OPTIONS, noEscape: true });
  const textTemplate = compileTextTemplate(parts.html);
  const where = `${family}/${templateLocale} ${variant === 'expired' ? 'expired' : `offset ${variant}`}`;
  return {
    family,
    variant,
    locale: templateLocale,
    templateVersion,
    files,
    fill(input) {
      const view = buildView(input, emailLocale(input.locale, templateLocale));
      let subjectText: string;
      let filled: string;
      try {
        subjectText = singleLine(subjectTemplate(view));
        view.subject = subjectText;
        filled = htmlTemplate(view);
      } catch (error) {
        throw new TemplateError(`template ${where} (${files.join(', ')}) cannot be filled: ${error instanceof Error ? error.message : String(error)}`, {
          cause: error,
        });
      }
      if (!subjectText) throw new TemplateError(`template ${where}: the subject is empty once filled (${parts.subjectWhere})`);
      // A template whose text part could not be precompiled still sends: derived per email.
      const text = textTemplate ? finishPlainText(textTemplate(textView(view))) : htmlToPlainText(filled);
      return { subject: subjectText, html: filled, text, templateVersion };
    },
  };
}

/**
 * The plain-text part as a template, converted from the HTML template once per template version
 * (html-to-text per email was three quarters of a render). Null when Handlebars refuses what the
 * conversion left: such a template falls back to converting each filled email.
 */
function compileTextTemplate(html: string): Handlebars.TemplateDelegate | null {
  try {
    const text = plainTextTemplate(html);
    handlebars.parse(text);
    return handlebars.compile(text, { ...HANDLEBARS_OPTIONS, noEscape: true });
  } catch {
    return null;
  }
}

/** HTML collapses runs of whitespace in values; the text template must see them the same way. */
function textView(view: TemplateView): TemplateView {
  const collapse = (value: string) => value.replace(/\s+/g, ' ');
  return {
    ...view,
    items: view.items.map((item) => ({
      ...item,
      product: collapse(item.product),
      licenseKey: collapse(item.licenseKey),
      orderNumber: collapse(item.orderNumber),
      customerName: collapse(item.customerName),
    })),
  };
}

/** Runs MJML at the strict level; never rejects, errors come back as data (they are cached too). */
async function runMjml(mjml: string, dir: string): Promise<MjmlOutcome> {
  // Loaded on the first compile: MJML and what it brings (juice, cheerio, undici, js-beautify) are
  // tens of MB that commands which never compile, and the CLI's own process, do not need.
  const mjml2html = require('mjml') as typeof import('mjml');
  try {
    const output = await mjml2html(mjml, {
      validationLevel: 'strict',
      keepComments: false,
      fonts: {},
      // Includes were expanded (and confined to the folder) before; any left are held to it too.
      ignoreIncludes: false,
      filePath: dir,
      includePath: [dir],
    });
    return { html: output.html };
  } catch (error) {
    const errors = (error as { errors?: MjmlError[] }).errors;
    if (Array.isArray(errors) && errors.length > 0) return { errors };
    return { errors: [{ message: error instanceof Error ? error.message : String(error) }] };
  }
}
