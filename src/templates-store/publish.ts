import type { Kysely } from 'kysely';
import type { Database, TemplateArm } from '../db/types';
import type { TemplateProblem } from '../render/template-problem';
import type { ValidateConfig } from '../render/validate-templates';
import { type VariantRef, variantId } from '../render/variants';
import { checkFileSet, checkFolder } from './check-files';
import { clearRefusals, type LiveVersion, liveVersions, type Publication, type PublishEntry, publishVersions, recordRefusals } from './store';

const problemLine = (p: TemplateProblem) => `${p.file}:${p.line}: ${p.message}`;

export interface PublishRequest {
  actor: string;
  message: string;
  /** Arm B starts (or changes) a copy experiment on the changed variants. */
  arm: TemplateArm;
  /** `files` (CI, a person with the repository), `migrate` (the shipped files, once). */
  source: string;
}

export type FolderPublishOutcome =
  | { status: 'published'; publications: Publication[]; unchanged: number }
  | { status: 'unchanged'; unchanged: number }
  | { status: 'refused'; problems: TemplateProblem[]; refused: string[] };

/**
 * `templates publish`: checks every variant of the folder and publishes those whose files differ
 * from their live version, as new versions, in one transaction. Any problem anywhere publishes
 * nothing; the changed variants that fail are recorded as refused (visible to every process)
 * and their live versions keep sending. A variant published by someone else while this ran is a
 * PublishConflict, also publishing nothing.
 */
export async function publishFolder(db: Kysely<Database>, dir: string, config: ValidateConfig, request: PublishRequest): Promise<FolderPublishOutcome> {
  const live = await liveVersions(db);
  const check = await checkFolder(dir, config);
  const liveOf = (ref: VariantRef, arm: TemplateArm): LiveVersion | undefined => live.find((l) => l.variant === variantId(ref) && l.arm === arm);
  // Arm B is compared with arm B if it runs, else with arm A: identical copy makes no experiment.
  const base = (ref: VariantRef) => (request.arm === 'B' ? (liveOf(ref, 'B') ?? liveOf(ref, 'A')) : liveOf(ref, 'A'));
  const changed = check.variants.filter((v) => base(v.ref)?.version !== v.version);
  const unchanged = check.variants.length - changed.length;

  if (check.problems.length > 0) {
    const failing = changed.filter((v) => v.problems.length > 0);
    // A problem of the whole folder (a stray file, two families with one subject) refuses every changed variant.
    const refused = failing.length > 0 ? failing : changed;
    await recordRefusals(
      db,
      refused.map((v) => ({
        ref: v.ref,
        arm: request.arm,
        version: v.version,
        problems: (v.problems.length > 0 ? v.problems : check.problems).map(problemLine),
        source: request.source,
        actor: request.actor,
      })),
    );
    return { status: 'refused', problems: check.problems, refused: refused.map((v) => variantId(v.ref)) };
  }
  // The whole folder passes: a refusal of any of its variants is over (fixed, or reverted).
  const passed = check.variants.filter((v) => !changed.includes(v)).map((v) => v.ref);
  if (changed.length === 0) {
    await clearRefusals(db, passed, request.arm);
    return { status: 'unchanged', unchanged };
  }
  const entries: PublishEntry[] = changed.map((v) => ({
    ref: v.ref,
    arm: request.arm,
    content: v.content,
    // What this run compared with: a publish by someone else meanwhile is a conflict, not overwritten.
    expectedBase: liveOf(v.ref, request.arm)?.version ?? null,
  }));
  const publications = await publishVersions(db, entries, { actor: request.actor, message: request.message, source: request.source, action: 'publish' });
  await clearRefusals(db, passed, request.arm);
  return { status: 'published', publications, unchanged };
}

export interface EditRequest {
  ref: VariantRef;
  arm: TemplateArm;
  /** Every file the variant is composed of, relative to the templates folder, as edited. */
  files: Record<string, string>;
  /** The live version the editor started from (null: the variant had none). */
  baseVersion: string | null;
  actor: string;
  message: string;
}

export type EditPublishOutcome = { status: 'published'; publication: Publication } | { status: 'refused'; problems: TemplateProblem[] };

/**
 * The console's editor publishing one variant: the same checks as `templates publish`, and the
 * version the editor started from must still be live (else PublishConflict: the second of two
 * people editing one variant is told, not silently overwritten). The sample data comes from
 * `sampleDir` (TEMPLATES_DIR) unless the files carry their own.
 */
export async function publishEdit(db: Kysely<Database>, config: ValidateConfig, sampleDir: string, request: EditRequest): Promise<EditPublishOutcome> {
  const checked = await checkFileSet(request.files, request.ref, config, sampleDir);
  if (checked.problems.length > 0 || !checked.content) {
    await recordRefusals(db, [{ ref: request.ref, arm: request.arm, version: checked.version, problems: checked.problems.map(problemLine), source: 'console', actor: request.actor }]);
    return { status: 'refused', problems: checked.problems };
  }
  const [publication] = await publishVersions(db, [{ ref: request.ref, arm: request.arm, content: checked.content, expectedBase: request.baseVersion }], {
    actor: request.actor,
    message: request.message,
    source: 'console',
    action: 'publish',
  });
  return { status: 'published', publication: publication! };
}
