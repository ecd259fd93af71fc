import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type CompileHooks, type CompileResult, compileVariant } from '../render/compile-variant';
import { loadSampleData, SAMPLE_DATA_FILE } from '../render/sample-data';
import { dedupe, type TemplateProblem } from '../render/template-problem';
import type { CopyBlock } from '../render/template-source';
import type { StoredVersion } from '../render/template-versions';
import { checkRendered, type ValidateConfig, validateTemplates } from '../render/validate-templates';
import { listVariants, type VariantRef, variantId } from '../render/variants';

/** One variant of a folder of templates, compiled and checked as `templates validate` checks it. */
export interface CheckedVariant {
  ref: VariantRef;
  /** The hash of the files it is built from: the version it would be published as. */
  version: string;
  /** What would be published; null when it does not compile. */
  content: StoredVersion | null;
  /** Its own problems. */
  problems: TemplateProblem[];
  /** The copy blocks placed in it and the subject block used (what the console's editor offers as fields). */
  blocks?: CopyBlock[];
  subjectBlock?: CopyBlock | null;
}

export interface FolderCheck {
  variants: CheckedVariant[];
  /** Every problem of the folder (the report of `templates validate`). */
  problems: TemplateProblem[];
}

/**
 * Compiles and checks every variant of a templates folder: the one validation that a publish from
 * the files and an edit in the console both go through. A folder with any problem is published
 * not at all. MJML runs once per composed document for the whole check.
 */
export async function checkFolder(dir: string, config: ValidateConfig, only?: (ref: VariantRef) => boolean): Promise<FolderCheck> {
  const hooks: CompileHooks = { mjmlCache: new Map() };
  const report = only ? null : await validateTemplates(dir, config, hooks);
  const variants: CheckedVariant[] = [];
  let sample: ReturnType<typeof loadSampleData> | null = null;
  let sampleProblem: TemplateProblem | null = null;
  try {
    sample = loadSampleData(dir);
  } catch (error) {
    sampleProblem = { file: SAMPLE_DATA_FILE, line: 0, message: error instanceof Error ? error.message : String(error) };
  }
  for (const ref of listVariants(dir, config.offsets)) {
    if (only && !only(ref)) continue;
    const result = await compileVariant(dir, ref.family, ref.locale, ref.variant, hooks);
    const problems = [...result.problems];
    if (result.compiled && result.problems.length === 0) {
      if (sample) problems.push(...checkRendered(ref, result, sample, config, false).problems);
      else if (sampleProblem) problems.push(sampleProblem);
    }
    variants.push({ ref, version: result.templateVersion, content: contentOf(ref, result), problems, blocks: result.blocks, subjectBlock: result.subjectBlock });
  }
  return { variants, problems: report ? report.problems : dedupe(variants.flatMap((v) => v.problems)) };
}

function contentOf(ref: VariantRef, result: CompileResult): StoredVersion | null {
  if (!result.parts) return null;
  return { ...result.parts, requestedLocale: ref.locale, sources: result.sources };
}

/**
 * Checks one variant built from an edited set of files (the console's editor): the files are
 * written to a scratch folder, with the sample data of `sampleDir` when the set has none.
 */
export async function checkFileSet(files: Record<string, string>, ref: VariantRef, config: ValidateConfig, sampleDir: string): Promise<CheckedVariant> {
  const parent = mkdtempSync(path.join(os.tmpdir(), 'template-edit-'));
  const dir = path.join(parent, 'templates');
  try {
    for (const [name, text] of Object.entries(files)) {
      const target = path.resolve(dir, name);
      if (!target.startsWith(`${dir}${path.sep}`)) return { ref, version: '', content: null, problems: [{ file: name, line: 0, message: 'a template file must stay inside the templates folder' }] };
      mkdirSync(path.dirname(target), { recursive: true });
      writeFileSync(target, text);
    }
    const sample = path.join(sampleDir, SAMPLE_DATA_FILE);
    if (!files[SAMPLE_DATA_FILE] && existsSync(sample)) copyFileSync(sample, path.join(dir, SAMPLE_DATA_FILE));
    const check = await checkFolder(dir, config, (r) => variantId(r) === variantId(ref));
    return check.variants[0] ?? { ref, version: '', content: null, problems: [{ file: ref.family, line: 0, message: `${variantId(ref)}: no such variant in these files` }] };
  } finally {
    rmSync(parent, { recursive: true, force: true });
  }
}
