import path from 'node:path';
import type { Config } from '../config';
import type { Logger } from '../logger';
import { type CompileHooks, type CompileResult, compileVariant } from './compile-variant';
import { normalizeLocale } from './locale';
import { formatProblem } from './template-problem';
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

interface CacheEntry {
  result: Promise<CompileResult>;
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
    onMjmlCompile: (info) => {
      stats.mjmlCompiles += 1;
      options.onMjmlCompile?.(info);
    },
  };

  const compile = (family: Family, locale: string, variant: Variant): Promise<CompileResult> => {
    const started = performance.now();
    return compileVariant(dir, family, locale, variant, hooks).then((result) => {
      const ms = Math.round(performance.now() - started);
      if (result.compiled && result.problems.length === 0) {
        logger.info({ family, locale: result.compiled.locale, variant, templateVersion: result.templateVersion, ms }, 'template compiled');
      } else {
        logger.error(
          { family, locale, variant, templateVersion: result.templateVersion, problems: result.problems.map((p) => formatProblem(p, dir)) },
          'template is broken: reminders using it fail until it is fixed',
        );
      }
      return result;
    });
  };

  const load = async (family: Family, locale: string, variant: Variant): Promise<CompileResult> => {
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
      const locale = normalizeLocale(input.locale) ?? 'en';
      const result = await load(family, locale, variantOf(input));
      if (!result.compiled || result.problems.length > 0) {
        const shown = result.problems.slice(0, 5).map((p) => formatProblem(p, dir));
        const more = result.problems.length > 5 ? ` (and ${result.problems.length - 5} more; run \`reminders templates validate\`)` : '';
        throw new TemplateError(`template ${family}/${locale} ${variantOf(input)} is broken: ${shown.join('; ')}${more}`);
      }
      stats.renders += 1;
      return result.compiled.fill(input);
    },
    stats: () => ({ ...stats, cachedVariants: cache.size }),
    async close() {
      cache.clear();
      hooks.mjmlCache?.clear();
    },
  };
}
