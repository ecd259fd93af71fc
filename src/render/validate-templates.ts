import { readFileSync } from 'node:fs';
import path from 'node:path';
import Handlebars from 'handlebars';
import type { Config } from '../config';
import { type CompileHooks, type CompileResult, compileVariant } from './compile-variant';
import { emailLocale } from './locale';
import { formatDate, formatNumber } from './template-data';
import { dedupe, type TemplateProblem } from './template-problem';
import { COMMON_FOLDER, describeVariant, FAMILIES, KIND_OF_FAMILY, LAYOUT_FILE, parseCopyFile } from './template-source';
import { loadSampleData, SAMPLE_DATA_FILE, type SampleData, sampleInput } from './sample-data';
import type { RenderedEmail, ReminderEmailInput } from './types';
import { listVariants, localeFiles, templateLocales, type VariantRef } from './variants';

export type ValidateConfig = Pick<
  Config,
  'offsets' | 'portalUrl' | 'publicUrl' | 'unsubscribeSecret' | 'salesEmail' | 'supportEmail' | 'timezone'
>;

export interface ValidationReport {
  problems: TemplateProblem[];
  /** How many family × locale × variant emails were compiled and checked. */
  checked: number;
  /** The problems each email has by itself (compiling it, or checking it filled): what makes it "broken". */
  variants: Array<{ ref: VariantRef; problems: TemplateProblem[] }>;
}

/** Where a required thing normally lives, to point at the right file when it is missing. */
interface Requirement {
  what: string;
  block: string;
  expiredBlock?: string;
  values: (input: ReminderEmailInput) => string[];
  /** Must appear as a link target (href), not just as text. */
  link?: boolean;
}

const REQUIREMENTS: readonly Requirement[] = [
  { what: 'the renew link {{links.renew}}', block: 'button', expiredBlock: 'other-ways', values: (i) => [i.links.renew], link: true },
  { what: 'the Upcoming Renewal link {{links.upcomingRenewals}}', block: 'other-ways', values: (i) => [i.links.upcomingRenewals], link: true },
  { what: 'the unsubscribe link {{links.unsubscribe}}', block: 'footer', values: (i) => [i.links.unsubscribe], link: true },
  { what: 'the contact name {{contactName}}', block: 'greeting', values: (i) => (i.contactName ? [i.contactName] : []) },
  { what: 'each product {{product}}', block: 'item', values: (i) => i.items.map((x) => x.product) },
  { what: 'each license key {{licenseKey}}', block: 'item', values: (i) => i.items.map((x) => x.licenseKey) },
  { what: 'each order number {{orderNumber}}', block: 'item', values: (i) => i.items.map((x) => x.orderNumber) },
  { what: 'each customer name {{customerName}}', block: 'item', values: (i) => i.items.map((x) => x.customerName) },
  { what: 'the sales address {{salesEmail}}', block: 'sales-support', values: (i) => [i.salesEmail] },
  { what: 'the support address {{supportEmail}}', block: 'sales-support', expiredBlock: 'intro', values: (i) => [i.supportEmail] },
];

/** One email's own check: what `validate`, the preview and the worker's guard all run. */
export interface VariantCheck {
  result: CompileResult;
  /** Compile problems, then the problems of the filled email (required content, dates, days left…). */
  problems: TemplateProblem[];
  /** The filled subject (to compare families), null when it could not be filled. */
  subject: string | null;
}

/** Compiles one variant and checks it filled with the sample data. */
export async function checkVariant(dir: string, ref: VariantRef, config: ValidateConfig, sample: SampleData | null, hooks: CompileHooks = {}): Promise<VariantCheck> {
  const result = await compileVariant(dir, ref.family, ref.locale, ref.variant, hooks);
  if (!result.compiled || !sample) return { result, problems: result.problems, subject: null };
  const checked = checkRendered(ref, result, sample, config, result.problems.length > 0);
  return { result, problems: [...result.problems, ...checked.problems], subject: checked.subject };
}

/**
 * Compiles every family × offset (each configured one and the expired-late copy) × locale with
 * the sample data at MJML's strict level, and checks what every email must contain.
 * Returns every problem found; an empty list means the templates are good to send.
 */
export async function validateTemplates(dir: string, config: ValidateConfig, hooks: CompileHooks = {}): Promise<ValidationReport> {
  const root = path.resolve(dir);
  const problems: TemplateProblem[] = [];
  problems.push(...checkFolders(root));

  let sample: SampleData | null = null;
  try {
    sample = loadSampleData(root);
  } catch (error) {
    problems.push({ file: SAMPLE_DATA_FILE, line: 0, message: error instanceof Error ? error.message.replace(/^.*?sample-data\.json: /, '') : String(error) });
  }

  const usedBlocks = new Set<string>();
  const subjects = new Map<string, { subject: string; file: string; line: number }>();
  // The same missing link in a shared block shows in many variants: reported once, naming them.
  const rendered = new Map<string, { problem: TemplateProblem; variants: VariantRef[] }>();
  const refs = listVariants(root, config.offsets);
  const variants: ValidationReport['variants'] = [];
  for (const ref of refs) {
    const { result, problems: own, subject } = await checkVariant(root, ref, config, sample, hooks);
    variants.push({ ref, problems: own });
    problems.push(...result.problems);
    for (const block of [...result.blocks, ...(result.subjectBlock ? [result.subjectBlock] : [])]) usedBlocks.add(block.name);
    if (!result.compiled || !sample) continue;
    for (const problem of own.slice(result.problems.length)) {
      const key = `${problem.file}\0${problem.line}\0${problem.message}`;
      const seen = rendered.get(key);
      if (seen) seen.variants.push(ref);
      else rendered.set(key, { problem, variants: [ref] });
    }
    if (subject && result.compiled.locale === ref.locale) {
      const other = subjects.get(`${ref.locale}|${ref.variant}`);
      const here = { subject, ...subjectWhere(result) };
      if (other && other.subject === here.subject) {
        problems.push({
          file: here.file,
          line: here.line,
          message: `the ${describeVariant(ref.variant)} subject is the same for annual licenses and maintenance ("${here.subject}"): say which one expires`,
        });
      }
      subjects.set(`${ref.locale}|${ref.variant}`, here);
    }
  }
  problems.push(...unusedBlocks(root, usedBlocks));
  const merged = mergeMissingBlocks(root, problems);
  problems.length = 0;
  problems.push(...merged);
  for (const { problem, variants: where } of rendered.values()) {
    problems.push({ ...problem, message: `${problem.message} (${describeVariants(where)})` });
  }
  return { problems: dedupe(problems), checked: refs.length, variants };
}

function checkFolders(root: string): TemplateProblem[] {
  const problems: TemplateProblem[] = [];
  const locales = templateLocales(root);
  for (const folder of [...FAMILIES, COMMON_FOLDER]) {
    const { locales: present, strays } = localeFiles(root, folder);
    for (const stray of strays) {
      problems.push({ file: `${folder}/${stray}`, line: 0, message: `"${stray}" is not named after a language (en.mjml, de.mjml, de-AT.mjml…): it is never used` });
    }
    for (const locale of locales) {
      if (present.includes(locale)) continue;
      const language = locale.split('-')[0]!;
      const fallback = present.includes(language) ? language : 'en';
      if (locale === 'en' || fallback !== language) {
        problems.push({
          file: `${folder}/${locale}.mjml`,
          line: 0,
          message:
            locale === 'en'
              ? 'missing: English is the fallback for every contact and must exist'
              : `missing: other folders have "${locale}" copy, so "${locale}" contacts would get this part in English`,
        });
      }
    }
  }
  return problems;
}

/**
 * The checks of one compiled variant filled with the sample data: required content (links,
 * unsubscribe, addresses, each item's details), the expiry date, the true days left of a late
 * reminder, and the single-item and nameless wordings. The worker runs the same before adopting
 * an edited template.
 */
export function checkRendered(
  ref: VariantRef,
  result: CompileResult,
  sample: SampleData,
  config: ValidateConfig,
  /** The variant already has problems: a failure to fill is a consequence, not news. */
  alreadyBroken: boolean,
): { problems: TemplateProblem[]; subject: string | null } {
  const compiled = result.compiled!;
  const problems: TemplateProblem[] = [];
  const kind = KIND_OF_FAMILY[ref.family];
  const expired = ref.variant === 'expired';
  const offset = expired ? 0 : (ref.variant as number);
  const where = (blockName: string) => {
    const block = result.blocks.find((b) => b.name === blockName);
    return block ? { file: block.file, line: Math.max(1, block.line - 1) } : { file: result.copyFile ?? LAYOUT_FILE, line: 0 };
  };
  const fill = (input: ReminderEmailInput): RenderedEmail | null => {
    try {
      return compiled.fill(input);
    } catch (error) {
      if (!alreadyBroken) {
        problems.push({ file: result.copyFile ?? LAYOUT_FILE, line: 0, message: error instanceof Error ? error.message : String(error) });
      }
      return null;
    }
  };

  const input = sampleInput(config, sample, { kind, offset, expired, locale: ref.locale });
  const email = fill(input);
  if (!email) return { problems, subject: null };
  // A variant missing a block lacks what that block showed: reporting each missing link or name
  // again, at no line of its own, would bury the one cause under its consequences.
  const missing = new Set(result.problems.flatMap((p) => (p.missingBlock ? [p.missingBlock.name] : [])));

  if (!email.subject) problems.push({ ...subjectWhere(result), message: 'the subject is empty' });
  for (const requirement of REQUIREMENTS) {
    if (missing.has(requirement.block) || (requirement.expiredBlock && missing.has(requirement.expiredBlock))) continue;
    for (const value of requirement.values(input)) {
      const escaped = Handlebars.escapeExpression(value);
      const found = requirement.link ? email.html.includes(`href="${escaped}"`) : email.html.includes(escaped);
      if (!found) {
        const block = expired && requirement.expiredBlock ? requirement.expiredBlock : requirement.block;
        problems.push({ ...where(block), message: `the email does not show ${requirement.what}` });
        break;
      }
      if (requirement.link && !email.text.includes(value)) {
        problems.push({ ...where(requirement.block), message: `the plain-text part does not show ${requirement.what} as a URL` });
        break;
      }
    }
  }
  // What the email must show is what it shows in the locale it is rendered for: an en-GB contact
  // reading English copy sees '27 December 2026', not 'December 27, 2026'.
  const locale = emailLocale(input.locale, compiled.locale);
  const expiry = formatDate(input.items[0]!.expiresOn, locale.format);
  if (!missing.has('item-expiry') && !missing.has('item') && !email.html.includes(Handlebars.escapeExpression(expiry))) {
    problems.push({ ...where('item-expiry'), message: 'the email does not show the expiry date {{expiresOn}}' });
  }
  if (expired) {
    const intro = result.blocks.find((b) => b.name === 'intro');
    if (intro && !intro.text.includes('supportEmail')) {
      problems.push({ file: intro.file, line: Math.max(1, intro.line - 1), message: 'the expired copy must tell the reader to renew through support: mention {{supportEmail}}' });
    }
  }
  // A reminder sent late (catch-up) must say the true number of days in its subject.
  if (!expired && offset >= 2) {
    const late = fill(sampleInput(config, sample, { kind, offset, expired, locale: ref.locale, daysLeft: offset - 1 }));
    const shown = formatNumber(offset - 1, locale.format);
    if (late && !new RegExp(`(^|\\P{Nd})${shown.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(\\P{Nd}|$)`, 'u').test(late.subject)) {
      problems.push({
        ...subjectWhere(result),
        message: `the subject does not show the true days left (a late reminder with ${offset - 1} days left reads "${late.subject}"): use {{plural daysLeft one="# day" other="# days"}}`,
      });
    }
  }
  // The single-item wording and a contact without a name must fill too.
  const one = fill({ ...sampleInput(config, sample, { kind, offset, expired, locale: ref.locale, itemCount: 1 }), contactName: null });
  // One email lists every due license of a recipient: a subject written for one ("your annual
  // license") is wrong for two. The sign: the same words for one and for several, naming a license
  // in the singular. (A subject that names no license, "Your support & maintenance ends today", fits both.)
  const several = input.items.length > 1 ? email : fill(sampleInput(config, { ...sample, items: [...sample.items, ...sample.items] }, { kind, offset, expired, locale: ref.locale }));
  const singular = SINGULAR_ITEM[compiled.locale.split('-')[0] ?? ''];
  if (one && several && one.subject === several.subject && singular?.test(several.subject)) {
    problems.push({
      ...subjectWhere(result),
      message: `the subject reads the same for one license and for several ("${one.subject}"): write both, e.g. {{#if single}}your annual license{{else}}your {{itemCount}} annual licenses{{/if}}`,
    });
  }
  return { problems, subject: email.subject };
}

/** The word for one license, per language, as a subject written for a single license shows it. */
const SINGULAR_ITEM: Readonly<Record<string, RegExp>> = {
  en: /\blicen[cs]e\b(?!s)/i,
  de: /\bLizenz\b(?!en)/i,
  fr: /\blicence\b(?!s)/i,
  es: /\blicencia\b(?!s)/i,
};

function subjectWhere(result: CompileResult): { file: string; line: number } {
  const block = result.subjectBlock;
  return block ? { file: block.file, line: Math.max(1, block.line - 1) } : { file: result.copyFile ?? LAYOUT_FILE, line: 0 };
}

/** 'annual/en: 30, 7; maintenance/en: expired' */
function describeVariants(refs: readonly VariantRef[]): string {
  const groups = new Map<string, string[]>();
  for (const ref of refs) {
    const key = `${ref.family}/${ref.locale}`;
    groups.set(key, [...(groups.get(key) ?? []), String(ref.variant)]);
  }
  return [...groups].map(([key, variants]) => `${key}: ${variants.join(', ')}`).join('; ');
}

/** Blocks no layout slot asks for: a typo in a name. */
function unusedBlocks(root: string, used: ReadonlySet<string>): TemplateProblem[] {
  const problems: TemplateProblem[] = [];
  for (const folder of [...FAMILIES, COMMON_FOLDER]) {
    for (const locale of localeFiles(root, folder).locales) {
      const file = `${folder}/${locale}.mjml`;
      let text: string;
      try {
        text = readFileSync(path.join(root, file), 'utf8');
      } catch {
        continue;
      }
      for (const block of parseCopyFile(file, text).copy.blocks) {
        const heading = { file, line: Math.max(1, block.line - 1) };
        // A block for an offset that is not configured is fine (REMINDER_OFFSETS may change);
        // a name no slot asks for is almost always a typo.
        if (!used.has(block.name)) {
          problems.push({ ...heading, message: `block "## ${block.name}" is not used: no <mj-slot name="${block.name}"/> in the layout or partials (a typo?)` });
        }
      }
    }
  }
  return problems;
}

/**
 * A block deleted from `common/en.mjml` leaves a slot empty in every email of both families: one
 * problem per variant, all pointing at the untouched partial. They are one cause, reported once,
 * at the copy file the block is missing from, next to where a sibling language has it.
 */
function mergeMissingBlocks(root: string, problems: readonly TemplateProblem[]): TemplateProblem[] {
  const rest: TemplateProblem[] = [];
  const groups = new Map<string, { name: string; target: string; searched: Set<string>; at: TemplateProblem }>();
  for (const problem of problems) {
    const missing = problem.missingBlock;
    if (!missing) {
      rest.push(problem);
      continue;
    }
    // The last file searched is the shared one (common/<locale>.mjml): where a block every family uses belongs.
    const target = missing.searched[missing.searched.length - 1] ?? problem.file;
    const key = `${missing.name}\0${target}`;
    const group = groups.get(key) ?? { name: missing.name, target, searched: new Set<string>(), at: problem };
    for (const file of missing.searched) group.searched.add(file);
    groups.set(key, group);
  }
  for (const { name, target, searched, at } of groups.values()) {
    const used = `${at.file}:${at.line} shows it in every email without a "## ${name}" of its own (${[...searched].join(', ')})`;
    const place = whereBlockBelongs(root, target, name);
    rest.push(
      place
        ? { file: target, line: place.line, message: `the "## ${name}" block is missing${place.before ? ` here, before "## ${place.before}"` : ''} (${place.sibling} has one): ${used}` }
        : { file: target, line: 1, message: `no "## ${name}" block in ${[...searched].join(' or ')}: ${used}` },
    );
  }
  return rest;
}

/** Where a missing block would go in `file`: before the block that follows it in a sibling language's file. */
function whereBlockBelongs(root: string, file: string, name: string): { line: number; sibling: string; before: string | null } | null {
  const folder = path.posix.dirname(file);
  let own: string[];
  try {
    own = readFileSync(path.join(root, file), 'utf8').split(/\r?\n/);
  } catch {
    return null;
  }
  for (const locale of localeFiles(root, folder).locales) {
    const sibling = `${folder}/${locale}.mjml`;
    if (sibling === file) continue;
    let headings: Array<{ name: string; heading: string }>;
    try {
      headings = parseCopyFile(sibling, readFileSync(path.join(root, sibling), 'utf8')).copy.blocks.map((b) => ({ name: b.name, heading: b.key ? `${b.name} ${b.key}` : b.name }));
    } catch {
      continue;
    }
    const index = headings.findIndex((h) => h.name === name);
    if (index < 0) continue;
    for (const next of headings.slice(index + 1).filter((h) => h.name !== name)) {
      const line = own.findIndex((text) => text.trim() === `## ${next.heading}`);
      if (line >= 0) return { line: line + 1, sibling, before: next.heading };
    }
    return { line: own.length, sibling, before: null };
  }
  return null;
}
