import type { Kysely } from 'kysely';
import type { Database } from '../db/types';
import type { CompiledParts } from './compile-variant';
import type { Family, Variant } from './template-source';

/** A template version that passed validation, as kept in the database. */
export interface StoredVersion extends CompiledParts {
  /** The locale asked for (a contact's), which may differ from the copy file's `locale`. */
  requestedLocale: string;
  sources: Record<string, string>;
}

/** Where good template versions are kept, so a restarted worker still has them. */
export interface TemplateVersionStore {
  save(version: StoredVersion): Promise<void>;
  /** The newest good version of a variant, if any. */
  latest(family: Family, locale: string, variant: Variant): Promise<StoredVersion | null>;
  /** Every stored variant of a version hash (operators: "what did version X say?"). */
  find(version: string): Promise<StoredVersion[]>;
}

/** The store on the `template_versions` table. */
export function databaseVersionStore(db: Kysely<Database>): TemplateVersionStore {
  const toStored = (row: {
    family: string;
    locale: string;
    variant: string;
    version: string;
    files: Record<string, string>;
    html: string;
    subject: string;
    template_locale: string;
    subject_where: string;
  }): StoredVersion => {
    const sources = row.files;
    return {
      family: row.family as Family,
      variant: row.variant === 'expired' ? 'expired' : Number(row.variant),
      locale: row.template_locale,
      requestedLocale: row.locale,
      templateVersion: row.version,
      files: Object.keys(sources),
      sources,
      html: row.html,
      subject: row.subject,
      subjectWhere: row.subject_where,
    };
  };
  return {
    async save(v) {
      await db
        .insertInto('template_versions')
        .values({
          family: v.family,
          locale: v.requestedLocale,
          variant: String(v.variant),
          version: v.templateVersion,
          files: JSON.stringify(v.sources),
          subject_where: v.subjectWhere,
          html: v.html,
          subject: v.subject,
          template_locale: v.locale,
        })
        .onConflict((oc) => oc.columns(['family', 'locale', 'variant', 'version']).doNothing())
        .execute();
    },
    async latest(family, locale, variant) {
      const row = await db
        .selectFrom('template_versions')
        .selectAll()
        .where('family', '=', family)
        .where('locale', '=', locale)
        .where('variant', '=', String(variant))
        .orderBy('created_at', 'desc')
        .limit(1)
        .executeTakeFirst();
      return row ? toStored(row) : null;
    },
    async find(version) {
      const rows = await db.selectFrom('template_versions').selectAll().where('version', '=', version).orderBy('family').orderBy('locale').orderBy('variant').execute();
      return rows.map(toStored);
    },
  };
}
