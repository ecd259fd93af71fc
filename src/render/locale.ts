/**
 * Locale handling for templates: a contact's `locale` column may hold 'de', 'de-DE', 'fr_FR',
 * 'EN_us', 'de_DE.UTF-8', 'de-' or rubbish. This is the one place that decides, for the worker,
 * `templates validate`, the preview, `render` and `send-test` alike:
 * - which copy file an email is written from: the contact's tag, then its language, then English;
 * - which locale formats its dates and numbers: the contact's own, when the platform knows it;
 * - which language the text is in (HTML `lang`, plural rules): the copy's.
 */

export const FALLBACK_LOCALE = 'en';

/** How one contact locale is read: always an answer, never an exception. */
export interface ResolvedLocale {
  /** Canonical BCP 47 tag ('de_de' → 'de-DE'), or null when the value is not a locale. */
  tag: string | null;
  /** Copy files to try, most specific first, English last: 'de-AT' → ['de-AT', 'de', 'en']. */
  candidates: string[];
  /** The key renderers cache and name variants by: the tag, or English when there is none. */
  key: string;
}

/** How an email is written once its copy file is known. */
export interface EmailLocale {
  /** The language of the text: the copy's, with the contact's region when it is the same language ('en-GB'). */
  lang: string;
  /** Formats dates and numbers: the contact's own locale when supported, else the copy's. */
  format: string;
}

/** Canonical BCP 47 tag ('de_de' → 'de-DE', 'de-' → 'de', 'de_DE.UTF-8' → 'de-DE'), or null when the value is not a locale. */
export function normalizeLocale(raw: string | null | undefined): string | null {
  const value = (raw ?? '')
    .trim()
    // POSIX spellings: 'de_DE.UTF-8', 'sr_RS@latin' (the charset and modifier say nothing about the language).
    .replace(/[.@].*$/, '')
    .replace(/_/g, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^-|-$/g, '');
  if (!/^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$/.test(value)) return null;
  try {
    return Intl.getCanonicalLocales(value)[0] ?? null;
  } catch {
    // A well-formed shape with an invalid subtag ('de-x'): keep the language if it stands alone.
    const language = value.split('-')[0]!;
    return language === value ? null : normalizeLocale(language);
  }
}

/** Reads a contact's locale: the copy files to look for and the cache key. */
export function resolveLocale(raw: string | null | undefined): ResolvedLocale {
  const text = raw ?? '';
  let resolved = resolvedLocales.get(text);
  if (!resolved) {
    const tag = normalizeLocale(text);
    const candidates: string[] = [];
    if (tag) {
      // Extensions ('-u-ca-gregory') and private use say how to format, not which copy to read.
      const parts = tag.replace(/-[a-wyz0-9]-.*$|-x-.*$/i, '').split('-');
      for (let n = parts.length; n >= 1; n -= 1) candidates.push(parts.slice(0, n).join('-'));
    }
    if (!candidates.includes(FALLBACK_LOCALE)) candidates.push(FALLBACK_LOCALE);
    resolved = { tag, candidates, key: tag ?? FALLBACK_LOCALE };
    remember(resolvedLocales, text, resolved);
  }
  return resolved;
}

/** Copy file names to try, most specific first: 'de-AT' → ['de-AT', 'de', 'en']. */
export function localeCandidates(raw: string | null | undefined): string[] {
  return resolveLocale(raw).candidates;
}

/**
 * The language and formatting of an email for a contact locale written from the copy of
 * `copyLocale`: an 'en-GB' contact reading English copy gets 'en-GB' dates and `lang="en-GB"`;
 * a 'pt-BR' contact reading English copy (no Portuguese copy) gets 'pt-BR' dates in `lang="en"`
 * text; an unknown or malformed locale gets the copy's own.
 */
export function emailLocale(raw: string | null | undefined, copyLocale: string): EmailLocale {
  const key = `${raw ?? ''}|${copyLocale}`;
  let locale = emailLocales.get(key);
  if (!locale) {
    const tag = resolveLocale(raw).tag;
    const format = tag && isFormattable(tag) ? tag : copyLocale;
    const lang = language(format) === language(copyLocale) ? format : copyLocale;
    locale = { lang, format };
    remember(emailLocales, key, locale);
  }
  return locale;
}

/** The locale to format dates and numbers with: the contact's own if supported, else the copy's. */
export function formattingLocale(raw: string | null | undefined, copyLocale: string): string {
  return emailLocale(raw, copyLocale).format;
}

const language = (tag: string) => tag.split('-')[0]!.toLowerCase();

/** True when the platform has date data for the tag's language (ICU knows 'de-XX' by 'de', not 'xx'). */
function isFormattable(tag: string): boolean {
  try {
    // Dates are what must not be misread; numbers of a language ICU has no number data for
    // ('lag') fall back to its parent's digits, which is what such a reader sees everywhere else.
    return Intl.DateTimeFormat.supportedLocalesOf([tag]).length > 0;
  } catch {
    return false;
  }
}

// A worker sees few distinct locales; the caches are bounded against a table full of rubbish.
const resolvedLocales = new Map<string, ResolvedLocale>();
const emailLocales = new Map<string, EmailLocale>();
function remember<T>(cache: Map<string, T>, key: string, value: T): void {
  if (cache.size >= 1000) cache.clear();
  cache.set(key, value);
}
