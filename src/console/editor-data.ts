import path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { App } from '../app';
import type { TemplateArm } from '../db/types';
import { compileVariant, compiledFromParts } from '../render/compile-variant';
import { licenseInput } from '../render/license-input';
import { loadSampleData, sampleInput } from '../render/sample-data';
import type { TemplateProblem } from '../render/template-problem';
import { type CopyBlock, COMMON_FOLDER, type Family, KIND_OF_FAMILY, LAYOUT_FILE, type Variant } from '../render/template-source';
import { listVariants, type VariantRef, variantId } from '../render/variants';
import { senderDomain } from '../send/address';
import { smtpSendFailure } from '../service-checks';
import { checkFileSet } from '../templates-store/check-files';
import { type Draft, listDrafts, type LiveVersion, liveVersions, loadVersion, type Publication, publicationHistory } from '../templates-store/store';
import { UserError } from '../user-error';

/** A copy block the editor offers as a field or a place to jump to. */
export interface EditorBlock {
  name: string;
  file: string;
  /** The heading line as written, e.g. `## intro 30`. */
  heading: string;
}

/** Everything the editor page needs for one variant and arm. */
export interface EditorState {
  ref: VariantRef;
  variant: string;
  arm: TemplateArm;
  /** The arm's live version the edit starts from (null: the arm has none yet). */
  baseVersion: string | null;
  liveA: LiveVersion | null;
  liveB: LiveVersion | null;
  /** Where the text comes from: the live version, a draft, arm A (a new arm B), or the templates folder. */
  origin: { kind: 'live' | 'draft' | 'arm A' | 'files'; label: string };
  /** The files the variant is composed of, relative path → text, the copy file first. */
  files: Record<string, string>;
  fileOrder: string[];
  subject: EditorBlock | null;
  blocks: EditorBlock[];
  history: Publication[];
  drafts: Draft[];
}

/** The variants the picker offers: those of the templates folder and those ever published. */
export async function editableVariants(app: App): Promise<VariantRef[]> {
  const seen = new Map<string, VariantRef>();
  for (const ref of listVariants(app.config.templatesDir, app.config.offsets)) seen.set(variantId(ref), ref);
  for (const live of await liveVersions(app.db)) seen.set(variantId(live.ref), live.ref);
  return [...seen.values()];
}

/** Reads `annual/en/30` (or `annual/en/expired`) from a form; null when it names no variant. */
export function parseVariant(value: string, offsets: readonly number[]): VariantRef | null {
  const match = /^(annual|maintenance)\/([A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})*)\/(\d{1,3}|expired)$/.exec(value);
  if (!match) return null;
  const variant: Variant = match[3] === 'expired' ? 'expired' : Number(match[3]);
  if (variant !== 'expired' && !offsets.includes(variant)) return null;
  return { family: match[1] as Family, locale: match[2]!, variant };
}

const headingOf = (block: CopyBlock) => `## ${block.name}${block.key ? ` ${block.key}` : ''}`;

/** Copy file, shared copy, layout, then the partials: the order a marketer edits them in. */
function orderFiles(names: string[], ref: VariantRef): string[] {
  const rank = (name: string) =>
    name.startsWith(`${ref.family}/`) ? 0 : name.startsWith(`${COMMON_FOLDER}/`) ? 1 : name === LAYOUT_FILE ? 2 : name.startsWith('partials/') ? 3 : 4;
  return [...names].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

/** The files of a variant as the templates folder has them (a variant never published). */
async function filesOnDisk(app: App, ref: VariantRef): Promise<Record<string, string>> {
  const result = await compileVariant(app.config.templatesDir, ref.family, ref.locale, ref.variant);
  if (Object.keys(result.sources).length === 0) throw new UserError(`${variantId(ref)}: the templates folder has no files for this variant`);
  return result.sources;
}

/** The editor's starting point: a draft when asked for, else the arm's live version (arm A's for a new arm B). */
export async function editorState(app: App, ref: VariantRef, arm: TemplateArm, draftId?: string): Promise<EditorState> {
  const live = (await liveVersions(app.db)).filter((l) => l.variant === variantId(ref));
  const liveA = live.find((l) => l.arm === 'A') ?? null;
  const liveB = live.find((l) => l.arm === 'B') ?? null;
  const mine = arm === 'B' ? liveB : liveA;
  const drafts = (await listDrafts(app.db, ref)).filter((d) => d.arm === arm);
  let files: Record<string, string>;
  let origin: EditorState['origin'];
  const draft = draftId ? drafts.find((d) => d.id === draftId) : undefined;
  if (draftId && !draft) throw new UserError(`no draft ${draftId} of ${variantId(ref)} arm ${arm}`);
  if (draft) {
    files = draft.files;
    origin = { kind: 'draft', label: `draft saved by ${draft.actor} at ${draft.savedAt.toISOString()}` };
  } else {
    const from = mine ?? (arm === 'B' ? liveA : null);
    const stored = from ? await loadVersion(app.db, ref, from.version) : null;
    if (stored) {
      files = stored.sources;
      origin = mine ? { kind: 'live', label: `live version ${from!.version}` } : { kind: 'arm A', label: `arm A's live version ${from!.version} (arm B starts as a copy of it)` };
    } else {
      files = await filesOnDisk(app, ref);
      origin = { kind: 'files', label: 'the templates folder (no version published yet)' };
    }
  }
  const check = await checkFileSet(files, ref, app.config, app.config.templatesDir);
  const relative = (file: string) => (path.isAbsolute(file) ? path.relative(app.config.templatesDir, file).split(path.sep).join('/') : file);
  const blocks = (check.blocks ?? []).map((b) => ({ name: b.name, file: relative(b.file), heading: headingOf(b) }));
  const subject = check.subjectBlock ? { name: 'subject', file: relative(check.subjectBlock.file), heading: headingOf(check.subjectBlock) } : null;
  const history = await publicationHistory(app.db, { family: ref.family, locale: ref.locale, variant: String(ref.variant), limit: 100 });
  return {
    ref,
    variant: variantId(ref),
    arm,
    baseVersion: draft ? draft.baseVersion : (mine?.version ?? null),
    liveA,
    liveB,
    origin,
    files,
    fileOrder: orderFiles(Object.keys(files), ref),
    subject,
    blocks: dedupeBlocks(blocks),
    history,
    drafts,
  };
}

function dedupeBlocks(blocks: EditorBlock[]): EditorBlock[] {
  const seen = new Set<string>();
  return blocks.filter((b) => {
    const key = `${b.file}|${b.heading}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

export interface PreviewResult {
  /** The version these files would be published as. */
  version: string;
  subject: string | null;
  html: string | null;
  text: string | null;
  /** Every problem, at its file and line: the same checks as `templates publish`. */
  problems: TemplateProblem[];
  /** What the preview is filled with. */
  filledWith: string;
  /** Why the license asked for could not fill it (the sample data did). */
  licenseProblem: string | null;
  recipient: string | null;
}

/**
 * Renders edited files as the workers would send them, with the sample data or a real license
 * (and its order's first contact), and checks them as a publish would.
 */
export async function previewEdit(app: App, ref: VariantRef, files: Record<string, string>, options: { license?: string; recipient?: string } = {}): Promise<PreviewResult> {
  const { config } = app;
  const kind = KIND_OF_FAMILY[ref.family];
  const offset = ref.variant === 'expired' ? 0 : ref.variant;
  const expired = ref.variant === 'expired';
  const check = await checkFileSet(files, ref, config, config.templatesDir);
  const problems = [...check.problems];
  const sample = () => sampleInput(config, loadSampleData(config.templatesDir), { kind, offset, expired, locale: ref.locale });
  let input = null;
  let filledWith = 'the sample data';
  let licenseProblem: string | null = null;
  if (options.license) {
    try {
      input = (await licenseInput(app.db, config, options.license, { kind, offset, expired, locale: ref.locale })).input;
      filledWith = `license ${options.license} (${input.recipient})`;
    } catch (error) {
      if (!(error instanceof UserError)) throw error;
      // The command line's advice (`use --kind …`) said the console's way; the sample data meanwhile.
      licenseProblem = error.message.replace(/: use --kind (\w+)$/, (_, k: string) => `: its reminders are the ${k === 'license' ? 'annual license' : 'maintenance'} emails`);
    }
  }
  input ??= sample();
  if (options.recipient) input = { ...input, recipient: options.recipient };
  if (!check.content) return { version: check.version, subject: null, html: null, text: null, problems, filledWith, licenseProblem, recipient: input.recipient };
  try {
    const email = compiledFromParts(check.content).fill(input);
    return { version: check.version, subject: email.subject, html: email.html, text: email.text, problems, filledWith, licenseProblem, recipient: input.recipient };
  } catch (error) {
    problems.push({ file: check.content.files[0] ?? LAYOUT_FILE, line: 0, message: error instanceof Error ? error.message : String(error) });
    return { version: check.version, subject: null, html: null, text: null, problems, filledWith, licenseProblem, recipient: input.recipient };
  }
}

/**
 * Sends the edited email to the signed-in person only (never an address from the form), through
 * the product's mailer, subject prefixed "[TEST] "; nothing is recorded in the ledger. An edit
 * that fails the checks is not sent: it could not be published either.
 */
export async function sendTestEdit(app: App, ref: VariantRef, files: Record<string, string>, to: string, license?: string): Promise<{ subject: string; response: string }> {
  const preview = await previewEdit(app, ref, files, { license, recipient: to });
  if (preview.licenseProblem) throw new UserError(`not sent: ${preview.licenseProblem}`);
  if (preview.problems.length > 0 || !preview.html || preview.subject === null || preview.text === null) {
    throw new UserError(`not sent: this edit fails the checks (${preview.problems.length} problem(s)); fix them first`);
  }
  const subject = `[TEST] ${preview.subject}`;
  const result = await app
    .mailer()
    .send({
      from: app.config.mailFrom,
      to,
      subject,
      html: preview.html,
      text: preview.text,
      messageId: `test.${randomUUID()}@${senderDomain(app.config.mailFrom)}`,
      headers: { 'X-Reminders-Test': '1', 'X-Reminders-Template-Version': preview.version },
    })
    .catch((error: unknown) => {
      throw smtpSendFailure(app.config.smtpUrl ?? '', to, error);
    });
  return { subject, response: result.response };
}

