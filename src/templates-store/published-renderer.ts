import type { Kysely } from 'kysely';
import type { Database, TemplateArm } from '../db/types';
import type { Logger } from '../logger';
import { type CompiledVariant, compiledFromParts } from '../render/compile-variant';
import { localeCandidates } from '../render/locale';
import { variantOf } from '../render/renderer';
import { FAMILY_OF_KIND, type Family } from '../render/template-source';
import { type RenderedEmail, type Renderer, type ReminderEmailInput, TemplateError } from '../render/types';
import { variantId } from '../render/variants';
import { armFor } from './arms';
import { listRefusals, liveVersions, loadVersion, publicationCursor } from './store';

export interface PublishedRendererOptions {
  /** How long the live versions are trusted before the publication cursor is read again. */
  pollMs: number;
  now?: () => number;
}

export interface PublishedRenderer extends Renderer {
  /** Makes the next render read the live versions again (a NOTIFY arrived). */
  invalidate(): void;
  stats(): { loadedVersions: number; liveReloads: number };
}

/**
 * The workers' renderer: sends each variant's published version (arm A, or the series' arm when
 * the variant runs an experiment), never a draft and never a file of this host. The live versions
 * are read once and again whenever the newest publication changes: checked at most every
 * `pollMs` (a cheap `max(id)`), and at once after a NOTIFY. Each version is compiled once (no
 * MJML: the stored output is filled) and kept per version.
 */
export function createPublishedRenderer(db: Kysely<Database>, logger: Logger, options: PublishedRendererOptions): PublishedRenderer {
  const now = options.now ?? Date.now;
  let live = new Map<string, string>();
  /** Variants refused and never published, by family/locale/variant: their reminders fail. */
  let refused = new Map<string, string>();
  let cursor: string | null | undefined;
  let checkedAt = -Infinity;
  let refreshing: Promise<void> | null = null;
  const compiled = new Map<string, Promise<CompiledVariant | null>>();
  const stats = { liveReloads: 0 };

  const refresh = async () => {
    const [latest, refusals] = await Promise.all([publicationCursor(db), listRefusals(db)]);
    refused = new Map(refusals.filter((r) => !r.serving && !r.variant.endsWith('/B')).map((r) => [r.variant, r.problems.slice(0, 3).join('; ')]));
    if (latest === cursor) return;
    const rows = await liveVersions(db);
    live = new Map(rows.map((r) => [`${r.variant}/${r.arm}`, r.version]));
    if (cursor !== undefined) logger.info({ publication: latest, liveVariants: rows.length }, 'published templates changed: now sending the new versions');
    cursor = latest;
    stats.liveReloads += 1;
  };

  const fresh = async () => {
    if (now() - checkedAt < options.pollMs) return;
    refreshing ??= refresh()
      .then(() => {
        checkedAt = now();
      })
      .finally(() => {
        refreshing = null;
      });
    try {
      await refreshing;
    } catch (error) {
      // Once the live versions are known, a failed check keeps them until the next one succeeds.
      if (cursor === undefined) throw error;
      logger.warn({ err: error }, 'could not check for newly published templates: sending the versions known so far');
    }
  };

  const version = (family: Family, locale: string, variantKey: string, arm: TemplateArm) => live.get(`${family}/${locale}/${variantKey}/${arm}`);

  const compile = (family: Family, locale: string, input: ReminderEmailInput, templateVersion: string): Promise<CompiledVariant | null> => {
    const ref = { family, locale, variant: variantOf(input) };
    const key = `${variantId(ref)}@${templateVersion}`;
    let pending = compiled.get(key);
    if (!pending) {
      pending = loadVersion(db, ref, templateVersion).then((stored) => (stored ? compiledFromParts(stored) : null));
      // A database error is not kept: the next render asks again.
      pending.catch(() => compiled.delete(key));
      compiled.set(key, pending);
    }
    return pending;
  };

  return {
    async render(input: ReminderEmailInput): Promise<RenderedEmail> {
      const family = FAMILY_OF_KIND[input.kind];
      if (!family) throw new TemplateError(`no template family for reminder kind "${String(input.kind)}"`);
      await fresh();
      const variantKey = String(variantOf(input));
      // The contact's language, then its base language, then English: the first with a published version.
      const candidates = localeCandidates(input.locale);
      const locale = candidates.find((candidate) => version(family, candidate, variantKey, 'A'));
      // Copy written for the contact's language that was refused and never published is not
      // replaced by another language's: the reminder fails, to be replayed once it is published.
      const never = candidates.slice(0, locale ? candidates.indexOf(locale) : candidates.length).find((c) => refused.has(`${family}/${c}/${variantKey}`));
      if (never) {
        throw new TemplateError(`template ${family}/${never}/${variantKey} has never had a good version (its publish was refused: ${refused.get(`${family}/${never}/${variantKey}`)}): fix it, publish it, then replay`);
      }
      if (!locale) {
        throw new TemplateError(
          `template ${family}/${input.locale || 'en'}/${variantKey} has no published version (nor in ${localeCandidates(input.locale).join(', ')}): publish one (\`reminders templates publish\`), then replay`,
        );
      }
      const id = `${family}/${locale}/${variantKey}`;
      // One email lists several licenses; the first key in order decides, so a resend is the same arm.
      const key = [...input.items.map((i) => i.licenseKey)].sort()[0] ?? input.recipient;
      const arm: TemplateArm = version(family, locale, variantKey, 'B') ? armFor(key, id) : 'A';
      const templateVersion = version(family, locale, variantKey, arm)!;
      const template = await compile(family, locale, input, templateVersion);
      if (!template) throw new TemplateError(`template ${id} version ${templateVersion} is published but not stored: publish it again, then replay`);
      return { ...template.fill(input), arm, templateLocale: locale };
    },
    invalidate() {
      checkedAt = -Infinity;
    },
    stats: () => ({ loadedVersions: compiled.size, liveReloads: stats.liveReloads }),
    async close() {
      compiled.clear();
    },
  };
}
