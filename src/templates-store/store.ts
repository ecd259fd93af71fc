import { type Kysely, sql, type Transaction } from 'kysely';
import type { Database, PublicationAction, TemplateArm } from '../db/types';
import type { StoredVersion } from '../render/template-versions';
import { type VariantRef, variantId } from '../render/variants';
import { UserError } from '../user-error';
import { refOf, variantColumn } from './variant-key';

/**
 * The published template versions in PostgreSQL: which version of each variant and arm is live,
 * the history of publishes and rollbacks with who did them and why, refused publishes, drafts.
 * Every state change of a variant's live version goes through `publishVersions`, one transaction
 * that takes the variant's lock, checks the version the publisher started from, and notifies the
 * workers (`NOTIFY template_published`).
 */

export const PUBLISH_CHANNEL = 'template_published';

export interface PublishEntry {
  ref: VariantRef;
  arm: TemplateArm;
  /** The version to make live; null withdraws the arm (an experiment's arm B when it ends). */
  content: StoredVersion | null;
  /**
   * The live version the publisher started from (null: none). When given and the live version
   * is another one, nothing is published: someone else published meanwhile (PublishConflict).
   */
  expectedBase?: string | null;
}

export interface PublishContext {
  actor: string;
  message: string;
  /** Where it came from: `files`, `console`, `migrate`, `cli`. */
  source: string;
  action: PublicationAction;
}

export interface Publication {
  id: string;
  variant: string;
  ref: VariantRef;
  arm: TemplateArm;
  version: string | null;
  action: PublicationAction;
  source: string;
  actor: string;
  message: string;
  publishedAt: Date;
}

export interface Conflict {
  variant: string;
  arm: TemplateArm;
  expected: string | null;
  live: string | null;
  /** Who published the live version, and when. */
  by: string | null;
  at: Date | null;
}

/** Someone published the variant since the publisher read it: nothing of this publish was applied. */
export class PublishConflict extends Error {
  override name = 'PublishConflict';
  constructor(readonly conflicts: Conflict[]) {
    super(
      conflicts
        .map((c) => `${c.variant} arm ${c.arm} is now at version ${c.live ?? '(none)'}${c.by ? ` (published by ${c.by}${c.at ? ` at ${c.at.toISOString()}` : ''})` : ''}, not ${c.expected ?? '(none)'} as expected`)
        .join('; '),
    );
  }
}

type Db = Kysely<Database> | Transaction<Database>;

const keyOf = (ref: VariantRef, arm: TemplateArm) => `${variantId(ref)}/${arm}`;

const whereVariant = (ref: VariantRef) => ({ family: ref.family, locale: ref.locale, variant: variantColumn(ref.variant) });

/** Makes the given versions live (or withdraws arms) in one transaction: all of them, or none. */
export async function publishVersions(db: Kysely<Database>, entries: readonly PublishEntry[], context: PublishContext): Promise<Publication[]> {
  if (entries.length === 0) return [];
  return db.transaction().execute(async (trx) => {
    // One lock per variant and arm, in a fixed order: two publishers of one variant queue up.
    const sorted = [...entries].sort((a, b) => keyOf(a.ref, a.arm).localeCompare(keyOf(b.ref, b.arm)));
    for (const entry of sorted) {
      await sql`select pg_advisory_xact_lock(hashtext(${`template:${keyOf(entry.ref, entry.arm)}`}))`.execute(trx);
    }
    const conflicts: Conflict[] = [];
    for (const entry of sorted) {
      if (entry.expectedBase === undefined) continue;
      const live = await liveRow(trx, entry.ref, entry.arm);
      if ((live?.version ?? null) !== entry.expectedBase) {
        conflicts.push({ variant: variantId(entry.ref), arm: entry.arm, expected: entry.expectedBase, live: live?.version ?? null, by: live?.actor ?? null, at: live?.published_at ?? null });
      }
    }
    if (conflicts.length > 0) throw new PublishConflict(conflicts);

    const publications: Publication[] = [];
    for (const entry of sorted) {
      const where = whereVariant(entry.ref);
      const content = entry.content;
      if (content) {
        await trx
          .insertInto('template_versions')
          .values({
            ...where,
            version: content.templateVersion,
            files: JSON.stringify(content.sources),
            subject_where: content.subjectWhere,
            html: content.html,
            subject: content.subject,
            template_locale: content.locale,
          })
          .onConflict((oc) => oc.columns(['family', 'locale', 'variant', 'version']).doNothing())
          .execute();
      }
      const row = await trx
        .insertInto('template_publications')
        .values({ ...where, arm: entry.arm, version: content?.templateVersion ?? null, action: context.action, source: context.source, actor: context.actor, message: context.message })
        .returning(['id', 'published_at'])
        .executeTakeFirstOrThrow();
      if (content) {
        await trx
          .insertInto('template_live')
          .values({ ...where, arm: entry.arm, version: content.templateVersion, publication_id: row.id })
          .onConflict((oc) => oc.columns(['family', 'locale', 'variant', 'arm']).doUpdateSet({ version: content.templateVersion, publication_id: row.id }))
          .execute();
        await trx.deleteFrom('template_refusals').where('family', '=', where.family).where('locale', '=', where.locale).where('variant', '=', where.variant).where('arm', '=', entry.arm).execute();
      } else {
        await trx.deleteFrom('template_live').where('family', '=', where.family).where('locale', '=', where.locale).where('variant', '=', where.variant).where('arm', '=', entry.arm).execute();
      }
      publications.push({
        id: row.id,
        variant: variantId(entry.ref),
        ref: entry.ref,
        arm: entry.arm,
        version: content?.templateVersion ?? null,
        action: context.action,
        source: context.source,
        actor: context.actor,
        message: context.message,
        publishedAt: row.published_at,
      });
    }
    // Delivered on commit to every listening worker; the others see it at their next poll.
    await sql`select pg_notify(${PUBLISH_CHANNEL}, ${publications[publications.length - 1]!.id})`.execute(trx);
    return publications;
  });
}

async function liveRow(db: Db, ref: VariantRef, arm: TemplateArm) {
  const where = whereVariant(ref);
  return db
    .selectFrom('template_live as l')
    .innerJoin('template_publications as p', 'p.id', 'l.publication_id')
    .select(['l.version', 'p.actor', 'p.published_at'])
    .where('l.family', '=', where.family)
    .where('l.locale', '=', where.locale)
    .where('l.variant', '=', where.variant)
    .where('l.arm', '=', arm)
    .executeTakeFirst();
}

export interface LiveVersion {
  ref: VariantRef;
  variant: string;
  arm: TemplateArm;
  version: string;
  publicationId: string;
  action: PublicationAction;
  source: string;
  actor: string;
  message: string;
  publishedAt: Date;
}

/** Every variant's live version per arm, with who published it and when. */
export async function liveVersions(db: Db): Promise<LiveVersion[]> {
  const rows = await db
    .selectFrom('template_live as l')
    .innerJoin('template_publications as p', 'p.id', 'l.publication_id')
    .select(['l.family', 'l.locale', 'l.variant', 'l.arm', 'l.version', 'l.publication_id', 'p.action', 'p.source', 'p.actor', 'p.message', 'p.published_at'])
    .orderBy('l.family')
    .orderBy('l.locale')
    .orderBy('l.variant')
    .orderBy('l.arm')
    .execute();
  return rows.map((r) => ({
    ref: refOf(r),
    variant: variantId(refOf(r)),
    arm: r.arm,
    version: r.version,
    publicationId: r.publication_id,
    action: r.action,
    source: r.source,
    actor: r.actor,
    message: r.message,
    publishedAt: r.published_at,
  }));
}

/** The newest publication's id: a worker compares it to decide whether to reload the live versions. */
export async function publicationCursor(db: Db): Promise<string | null> {
  const row = await db.selectFrom('template_publications').select(sql<string | null>`max(id)::text`.as('id')).executeTakeFirst();
  return row?.id ?? null;
}

/** True when nothing was ever published (the shipped files are published on the first `migrate`). */
export async function nothingPublished(db: Db): Promise<boolean> {
  return !(await db.selectFrom('template_publications').select('id').limit(1).executeTakeFirst());
}

/** One stored version of one variant, as a worker fills it. */
export async function loadVersion(db: Db, ref: VariantRef, version: string): Promise<StoredVersion | null> {
  const row = await db.selectFrom('template_versions').selectAll().where('family', '=', ref.family).where('locale', '=', ref.locale).where('variant', '=', variantColumn(ref.variant)).where('version', '=', version).executeTakeFirst();
  if (!row) return null;
  return {
    family: ref.family,
    variant: ref.variant,
    locale: row.template_locale,
    requestedLocale: row.locale,
    templateVersion: row.version,
    files: Object.keys(row.files),
    sources: row.files,
    html: row.html,
    subject: row.subject,
    subjectWhere: row.subject_where,
  };
}

export interface HistoryFilter {
  family?: string;
  locale?: string;
  variant?: string;
  limit?: number;
}

/** Publishes, rollbacks and ended experiments, newest first. */
export async function publicationHistory(db: Db, filter: HistoryFilter = {}): Promise<Publication[]> {
  const rows = await db
    .selectFrom('template_publications')
    .selectAll()
    .$if(filter.family !== undefined, (q) => q.where('family', '=', filter.family!))
    .$if(filter.locale !== undefined, (q) => q.where('locale', '=', filter.locale!))
    .$if(filter.variant !== undefined, (q) => q.where('variant', '=', filter.variant!))
    .orderBy('id', 'desc')
    .limit(filter.limit ?? 200)
    .execute();
  return rows.map((r) => ({
    id: r.id,
    variant: variantId(refOf(r)),
    ref: refOf(r),
    arm: r.arm,
    version: r.version,
    action: r.action,
    source: r.source,
    actor: r.actor,
    message: r.message,
    publishedAt: r.published_at,
  }));
}

export interface Refusal {
  ref: VariantRef;
  arm: TemplateArm;
  /** The refused version (hash of its files). */
  version: string;
  problems: string[];
  source: string;
  actor: string;
}

/** Records refused publishes (the latest per variant and arm), for every process to see. */
export async function recordRefusals(db: Db, refusals: readonly Refusal[]): Promise<void> {
  for (const r of refusals) {
    const values = { ...whereVariant(r.ref), arm: r.arm, version: r.version, problems: JSON.stringify(r.problems), source: r.source, actor: r.actor };
    await db
      .insertInto('template_refusals')
      .values(values)
      .onConflict((oc) =>
        oc.columns(['family', 'locale', 'variant', 'arm']).doUpdateSet({ version: values.version, problems: values.problems, source: values.source, actor: values.actor, refused_at: sql`now()` }),
      )
      .execute();
  }
  // Listening workers re-read the refusals at once: a language refused on its first publish then
  // fails its reminders rather than going out in another language until the next poll.
  if (refusals.length > 0) await sql`select pg_notify(${PUBLISH_CHANNEL}, 'refused')`.execute(db);
}

/** Forgets the refusals of variants whose files now pass and are live as they are. */
export async function clearRefusals(db: Db, refs: readonly VariantRef[], arm: TemplateArm): Promise<void> {
  for (const ref of refs) {
    const where = whereVariant(ref);
    await db.deleteFrom('template_refusals').where('family', '=', where.family).where('locale', '=', where.locale).where('variant', '=', where.variant).where('arm', '=', arm).execute();
  }
}

/** A refused publish as /healthz, /metrics and `templates status` show it. */
export interface RefusedTemplate {
  /** family/locale/variant (with `/B` for arm B). */
  variant: string;
  version: string;
  problems: string[];
  /** The live version sent meanwhile, or null: then its reminders fail until one is published. */
  serving: string | null;
  actor: string;
  since: string;
}

/** Refused publishes not yet followed by a good one, read from PostgreSQL: the same in every process. */
export async function listRefusals(db: Db): Promise<RefusedTemplate[]> {
  const rows = await db
    .selectFrom('template_refusals as r')
    .leftJoin('template_live as l', (join) =>
      join.onRef('l.family', '=', 'r.family').onRef('l.locale', '=', 'r.locale').onRef('l.variant', '=', 'r.variant').onRef('l.arm', '=', 'r.arm'),
    )
    .select(['r.family', 'r.locale', 'r.variant', 'r.arm', 'r.version', 'r.problems', 'r.actor', 'r.refused_at', 'l.version as serving'])
    .execute();
  return rows
    .map((r) => ({
      variant: `${variantId(refOf(r))}${r.arm === 'B' ? '/B' : ''}`,
      version: r.version,
      problems: r.problems,
      serving: r.serving,
      actor: r.actor,
      since: r.refused_at.toISOString(),
    }))
    .sort((a, b) => a.variant.localeCompare(b.variant));
}

/** Publishes a stored version again, for every variant that has it (optionally narrowed). */
export async function rollback(db: Kysely<Database>, version: string, options: { actor: string; message: string; filter?: HistoryFilter; source?: string }): Promise<Publication[]> {
  const filter = options.filter ?? {};
  const stored = await db
    .selectFrom('template_versions')
    .select(['family', 'locale', 'variant'])
    .where('version', '=', version)
    .$if(filter.family !== undefined, (q) => q.where('family', '=', filter.family!))
    .$if(filter.locale !== undefined, (q) => q.where('locale', '=', filter.locale!))
    .$if(filter.variant !== undefined, (q) => q.where('variant', '=', filter.variant!))
    .execute();
  if (stored.length === 0) throw new UserError(`no template version ${version}${filter.family ? ' for that variant' : ''} in this database (see \`reminders templates versions\`)`);
  const entries: PublishEntry[] = [];
  for (const row of stored) {
    const ref = refOf(row);
    const content = await loadVersion(db, ref, version);
    // The arm it was last published on; a version never published (kept by an earlier release) goes to A.
    const last = await db
      .selectFrom('template_publications')
      .select('arm')
      .where('family', '=', row.family)
      .where('locale', '=', row.locale)
      .where('variant', '=', row.variant)
      .where('version', '=', version)
      .orderBy('id', 'desc')
      .limit(1)
      .executeTakeFirst();
    entries.push({ ref, arm: last?.arm ?? 'A', content });
  }
  return publishVersions(db, entries, { actor: options.actor, message: options.message || `rollback to ${version}`, source: options.source ?? 'cli', action: 'rollback' });
}

/**
 * Ends a copy experiment on the given variants: `keep B` makes arm B's version arm A's, and arm B
 * is withdrawn either way, so every series gets the kept copy from then on.
 */
export async function endExperiment(
  db: Kysely<Database>,
  refs: readonly VariantRef[],
  keep: TemplateArm,
  options: { actor: string; message: string; source?: string },
): Promise<Publication[]> {
  const entries: PublishEntry[] = [];
  for (const ref of refs) {
    const b = await liveRow(db, ref, 'B');
    if (!b) continue;
    const a = await liveRow(db, ref, 'A');
    if (keep === 'B') {
      entries.push({ ref, arm: 'A', content: await loadVersion(db, ref, b.version), expectedBase: a?.version ?? null });
    }
    entries.push({ ref, arm: 'B', content: null, expectedBase: b.version });
  }
  if (entries.length === 0) throw new UserError('no arm B is live for that variant: there is no experiment to end');
  return publishVersions(db, entries, { actor: options.actor, message: options.message || `experiment ended, kept ${keep}`, source: options.source ?? 'cli', action: 'end-experiment' });
}

/** The variants (locales × variant) that match kind/offset/locale, among those ever stored. */
export async function storedVariants(db: Db, filter: HistoryFilter): Promise<VariantRef[]> {
  const rows = await db
    .selectFrom('template_live')
    .select(['family', 'locale', 'variant'])
    .distinct()
    .$if(filter.family !== undefined, (q) => q.where('family', '=', filter.family!))
    .$if(filter.locale !== undefined, (q) => q.where('locale', '=', filter.locale!))
    .$if(filter.variant !== undefined, (q) => q.where('variant', '=', filter.variant!))
    .execute();
  return rows.map(refOf);
}

/** A unified diff of the files of two versions (any variant holding them: a version names its files). */
export async function diffVersions(db: Db, from: string, to: string): Promise<string> {
  const files = async (version: string) => {
    const row = await db.selectFrom('template_versions').select('files').where('version', '=', version).limit(1).executeTakeFirst();
    if (!row) throw new UserError(`no template version ${version} in this database`);
    return row.files;
  };
  const [a, b] = await Promise.all([files(from), files(to)]);
  // Loaded here, not by every process that reads the store: only this command diffs.
  const { createTwoFilesPatch } = await import('diff');
  const names = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  return names
    .filter((name) => a[name] !== b[name])
    .map((name) => createTwoFilesPatch(`${from}/${name}`, `${to}/${name}`, a[name] ?? '', b[name] ?? ''))
    .join('');
}

export interface Draft {
  id: string;
  ref: VariantRef;
  arm: TemplateArm;
  baseVersion: string | null;
  files: Record<string, string>;
  actor: string;
  message: string;
  savedAt: Date;
}

/** Saves an edit without publishing it: drafts are never sent. */
export async function saveDraft(db: Db, draft: Omit<Draft, 'id' | 'savedAt'>): Promise<Draft> {
  const row = await db
    .insertInto('template_drafts')
    .values({ ...whereVariant(draft.ref), arm: draft.arm, base_version: draft.baseVersion, files: JSON.stringify(draft.files), actor: draft.actor, message: draft.message })
    .returning(['id', 'saved_at'])
    .executeTakeFirstOrThrow();
  return { ...draft, id: row.id, savedAt: row.saved_at };
}

/** The drafts of a variant, newest first. */
export async function listDrafts(db: Db, ref: VariantRef): Promise<Draft[]> {
  const where = whereVariant(ref);
  const rows = await db.selectFrom('template_drafts').selectAll().where('family', '=', where.family).where('locale', '=', where.locale).where('variant', '=', where.variant).orderBy('id', 'desc').execute();
  return rows.map((r) => ({ id: r.id, ref: refOf(r), arm: r.arm, baseVersion: r.base_version, files: r.files, actor: r.actor, message: r.message, savedAt: r.saved_at }));
}
