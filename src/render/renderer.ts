import path from 'node:path';
import type { Config } from '../config';
import type { Logger } from '../logger';
import { type CompileHooks, type CompileResult, type CompiledVariant, compiledFromParts, compileVariant } from './compile-variant';
import { resolveLocale } from './locale';
import { loadSampleData } from './sample-data';
import type { TemplateHealth } from './template-health';
import { formatProblem, type TemplateProblem } from './template-problem';
import type { TemplateVersionStore } from './template-versions';
import { checkRendered, type ValidateConfig } from './validate-templates';
import { variantId } from './variants';
import { FAMILY_OF_KIND, type Family, stampsChanged, type Variant } from './template-source';
import { type RenderedEmail, type Renderer, type ReminderEmailInput, TemplateError } from './types';

export interface RendererOptions extends CompileHooks {
  /**
   * How long a compiled template is trusted before its files are stat()ed again (hot reload).
   * Default 1000 ms; 0 checks on every render.
   */
  reloadCheckMs?: number;
  /** Clock for the reload check, for tests. */
  now?: () => number;
  /**
   * Production mode. An edited variant is adopted only once it passes the checks of `templates
   * validate` (required content included); until then the last good version keeps sending, from
   * memory or from `store` (so a restarted worker has it too), and `health` shows the refusal.
   * Without it (preview, validation) a broken template is an error, shown as it is.
   */
  guard?: { config: ValidateConfig; store?: TemplateVersionStore; health?: TemplateHealth };
}

export interface RendererStats {
  /** Times MJML ran (one per template version per variant, plus reloads). */
  mjmlCompiles: number;
  renders: number;
  cachedVariants: number;
}

/** A Renderer that also reports how often it compiled: used by tests and the preview. */
export interface TemplateRenderer extends Renderer {
  stats(): RendererStats;
}

/** A compiled variant as the renderer will use it: the files' own, or a fallback to a good version. */
interface Resolved extends CompileResult {
  /** Set when the files' version was refused and an earlier good version is used instead. */
  fallback?: CompiledVariant;
}

interface CacheEntry {
  result: Promise<Resolved>;
  checkedAt: number;
}

/** The variant an input needs: its offset, or the expired-late copy. */
export function variantOf(input: Pick<ReminderEmailInput, 'expired' | 'offset'>): Variant {
  return input.expired ? 'expired' : input.offset;
}

/**
 * Renders reminder emails from the MJML templates in `config.templatesDir`.
 *
 * Each family × locale × variant is composed and run through MJML once (contact locales that
 * resolve to the same files share the MJML output), then filled per email by a precompiled
 * Handlebars template. Hot reload: before using a cached variant, the files it
 * was built from (and the more specific locale files it looked for and did not find) are
 * stat()ed, at most once per `reloadCheckMs`; any change recompiles that variant only. No
 * watcher runs, so `close()` only drops the cache.
 */
export function createRenderer(config: Pick<Config, 'templatesDir'>, logger: Logger, options: RendererOptions = {}): TemplateRenderer {
  const dir = path.resolve(config.templatesDir);
  const reloadCheckMs = options.reloadCheckMs ?? 1000;
  const now = options.now ?? Date.now;
  const cache = new Map<string, CacheEntry>();
  const stats = { mjmlCompiles: 0, renders: 0 };
  const hooks: CompileHooks = {
    mjmlCache: new Map(),
    compiledCache: new Map(),
    lintCache: new Map(),
    onMjmlCompile: (info) => {
      stats.mjmlCompiles += 1;
      options.onMjmlCompile?.(info);
    },
  };

  const guard = options.guard;
  /** The newest version of each variant that passed the checks in this process. */
  const lastGood = new Map<string, CompiledVariant>();

  const compile = async (family: Family, locale: string, variant: Variant): Promise<Resolved> => {
    const started = performance.now();
    const result = await compileVariant(dir, family, locale, variant, hooks);
    const ms = Math.round(performance.now() - started);
    const problems = result.compiled && result.problems.length === 0 && guard ? checkVariant(family, locale, variant, result) : result.problems;
    const id = variantId({ family, locale, variant });
    if (result.compiled && problems.length === 0) {
      logger.info({ family, locale: result.compiled.locale, variant, templateVersion: result.templateVersion, ms }, 'template compiled');
      if (guard) await adopt(id, locale, result);
      return result;
    }
    const shown = problems.map((p) => formatProblem(p, dir));
    if (!guard) {
      logger.error({ family, locale, variant, templateVersion: result.templateVersion, problems: shown }, 'template is broken: reminders using it fail until it is fixed');
      return { ...result, problems };
    }
    const fallback = lastGood.get(id) ?? (await storedVersion(family, locale, variant));
    if (guard.health?.reject({ variant: id, version: result.templateVersion, problems: shown, serving: fallback?.templateVersion ?? null }) ?? true) {
      if (fallback) {
        logger.error(
          { family, locale, variant, refusedVersion: result.templateVersion, servingVersion: fallback.templateVersion, problems: shown },
          `TEMPLATE EDIT REFUSED: ${id} fails the checks of \`templates validate\`; still sending its last good version ${fallback.templateVersion}`,
        );
      } else {
        logger.error(
          { family, locale, variant, templateVersion: result.templateVersion, problems: shown },
          `template ${id} is broken and has no earlier good version: its reminders fail until it is fixed (then replay them)`,
        );
      }
    }
    return { ...result, problems, fallback };
  };

  /** The checks of `templates validate` for one variant, filled with the sample data. */
  const checkVariant = (family: Family, locale: string, variant: Variant, result: CompileResult): TemplateProblem[] => {
    try {
      const sample = loadSampleData(dir);
      return checkRendered({ family, locale, variant }, result, sample, guard!.config, false).problems;
    } catch (error) {
      return [{ file: 'sample-data.json', line: 0, message: error instanceof Error ? error.message : String(error) }];
    }
  };

  const adopt = async (id: string, locale: string, result: CompileResult) => {
    lastGood.set(id, result.compiled!);
    guard?.health?.accept(id);
    if (!guard?.store || !result.parts) return;
    try {
      await guard.store.save({ ...result.parts, requestedLocale: locale, sources: result.sources });
    } catch (error) {
      // Sending goes on; the version is kept next time it is compiled.
      logger.warn({ err: error, variant: id, templateVersion: result.templateVersion }, 'could not keep the template version in the database');
    }
  };

  const storedVersion = async (family: Family, locale: string, variant: Variant): Promise<CompiledVariant | undefined> => {
    if (!guard?.store) return undefined;
    try {
      const stored = await guard.store.latest(family, locale, variant);
      return stored ? compiledFromParts(stored) : undefined;
    } catch (error) {
      logger.warn({ err: error, family, locale, variant }, 'could not read the last good template version from the database');
      return undefined;
    }
  };

  const load = async (family: Family, locale: string, variant: Variant): Promise<Resolved> => {
    const key = `${family}|${locale}|${variant}`;
    const entry = cache.get(key);
    const time = now();
    if (entry) {
      if (time - entry.checkedAt < reloadCheckMs) return entry.result;
      entry.checkedAt = time;
      const previous = await entry.result;
      if (!stampsChanged(previous.stamps)) return previous;
      logger.info({ family, locale, variant }, 'template files changed: recompiling');
    }
    // An unexpected failure (unreadable folder…) is not cached: the next render tries again.
    const result = compile(family, locale, variant).catch((error: unknown) => {
      cache.delete(key);
      throw new TemplateError(`template ${family}/${locale} ${variant} cannot be compiled: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    });
    cache.set(key, { result, checkedAt: time });
    return result;
  };

  return {
    async render(input: ReminderEmailInput): Promise<RenderedEmail> {
      const family = FAMILY_OF_KIND[input.kind];
      if (!family) throw new TemplateError(`no template family for reminder kind "${String(input.kind)}"`);
      const locale = resolveLocale(input.locale).key;
      const result = await load(family, locale, variantOf(input));
      const compiled = result.compiled && result.problems.length === 0 ? result.compiled : result.fallback;
      if (!compiled) {
        const shown = result.problems.slice(0, 5).map((p) => formatProblem(p, dir));
        const more = result.problems.length > 5 ? ` (and ${result.problems.length - 5} more; run \`reminders templates validate\`)` : '';
        throw new TemplateError(`template ${family}/${locale} ${variantOf(input)} is broken: ${shown.join('; ')}${more}`);
      }
      stats.renders += 1;
      return compiled.fill(input);
    },
    stats: () => ({ ...stats, cachedVariants: cache.size }),
    async close() {
      cache.clear();
      hooks.mjmlCache?.clear();
      hooks.compiledCache?.clear();
      hooks.lintCache?.clear();
    },
  };
}
