/**
 * Locale handling for templates: a contact's `locale` column may hold 'de', 'de-DE', 'fr_FR',
 * 'EN-us' or rubbish. Templates are looked up from the most specific tag to English.
 */

export const FALLBACK_LOCALE = 'en';

/** Canonical BCP 47 tag ('de_de' → 'de-DE'), or null when the value is not a locale. */
export function normalizeLocale(raw: string | null | undefined): string | null {
  const value = (raw ?? '').trim().replace(/_/g, '-');
  if (!/^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$/.test(value)) return null;
  try {
    return Intl.getCanonicalLocales(value)[0] ?? null;
  } catch {
    return null;
  }
}

/** Template file names to try, most specific first: 'de-AT' → ['de-AT', 'de', 'en']. */
export function localeCandidates(raw: string | null | undefined): string[] {
  const tag = normalizeLocale(raw);
  const candidates: string[] = [];
  if (tag) {
    const parts = tag.split('-');
    for (let n = parts.length; n >= 1; n -= 1) candidates.push(parts.slice(0, n).join('-'));
  }
  if (!candidates.includes(FALLBACK_LOCALE)) candidates.push(FALLBACK_LOCALE);
  return candidates;
}

/** The locale to format dates and numbers with: the contact's own if valid, else the template's. */
export function formattingLocale(raw: string | null | undefined, templateLocale: string): string {
  const key = `${raw ?? ''}|${templateLocale}`;
  let locale = formattingLocales.get(key);
  if (locale === undefined) {
    const tag = normalizeLocale(raw);
    locale = tag && Intl.DateTimeFormat.supportedLocalesOf([tag]).length > 0 ? tag : templateLocale;
    if (formattingLocales.size > 1000) formattingLocales.clear();
    formattingLocales.set(key, locale);
  }
  return locale;
}

const formattingLocales = new Map<string, string>();
