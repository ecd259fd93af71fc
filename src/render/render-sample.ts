import type { TemplateProblem } from './template-problem';
import { type CompileHooks, compileVariant } from './compile-variant';
import { resolveLocale } from './locale';
import { variantOf } from './renderer';
import { FAMILY_OF_KIND } from './template-source';
import type { RenderedEmail, ReminderEmailInput } from './types';

export interface RenderOutcome {
  email: RenderedEmail | null;
  /** Every problem of the variant's templates (empty when the email is good to send). */
  problems: TemplateProblem[];
  /** The locale of the copy actually used (after fallback). */
  locale: string | null;
}

/** Compiles the one variant an input needs and fills it: for the CLI and the preview, not the worker. */
export async function renderOnce(templatesDir: string, input: ReminderEmailInput, hooks: CompileHooks = {}): Promise<RenderOutcome> {
  const result = await compileVariant(templatesDir, FAMILY_OF_KIND[input.kind], resolveLocale(input.locale).key, variantOf(input), hooks);
  if (!result.compiled || result.problems.length > 0) {
    return { email: null, problems: result.problems, locale: result.compiled?.locale ?? null };
  }
  try {
    return { email: result.compiled.fill(input), problems: [], locale: result.compiled.locale };
  } catch (error) {
    const file = result.copyFile ?? 'layout.mjml';
    return { email: null, problems: [{ file, line: 0, message: error instanceof Error ? error.message : String(error) }], locale: result.compiled.locale };
  }
}
