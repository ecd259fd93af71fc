import { readdirSync } from 'node:fs';
import path from 'node:path';
import { normalizeLocale } from './locale';
import { COMMON_FOLDER, FAMILIES, type Family, type Variant } from './template-source';

/** One email a marketer can look at: a family, a language and an offset (or the expired-late copy). */
export interface VariantRef {
  family: Family;
  locale: string;
  variant: Variant;
}

/** Locale files (`en.mjml`, `de-AT.mjml`) in one folder of the templates; other names are ignored. */
export function localeFiles(dir: string, folder: string): { locales: string[]; strays: string[] } {
  let names: string[];
  try {
    names = readdirSync(path.join(dir, folder));
  } catch {
    return { locales: [], strays: [] };
  }
  const locales: string[] = [];
  const strays: string[] = [];
  for (const name of names.sort()) {
    if (!name.endsWith('.mjml')) continue;
    const base = name.slice(0, -'.mjml'.length);
    if (normalizeLocale(base) === base) locales.push(base);
    else strays.push(name);
  }
  return { locales, strays };
}

/** Every locale that has copy in any family folder, English first. */
export function templateLocales(dir: string): string[] {
  const found = new Set<string>();
  for (const folder of [...FAMILIES, COMMON_FOLDER]) for (const locale of localeFiles(dir, folder).locales) found.add(locale);
  found.delete('en');
  return ['en', ...[...found].sort()];
}

/** Every variant to check or preview: families × the configured offsets and 'expired' × locales. */
export function listVariants(dir: string, offsets: readonly number[]): VariantRef[] {
  const variants: Variant[] = [...[...offsets].sort((a, b) => b - a), 'expired'];
  const refs: VariantRef[] = [];
  for (const family of FAMILIES) {
    for (const locale of templateLocales(dir)) {
      for (const variant of variants) refs.push({ family, locale, variant });
    }
  }
  return refs;
}

export const variantId = (ref: VariantRef) => `${ref.family}/${ref.locale}/${ref.variant}`;

/** Parses `annual/de/30` or `maintenance/en/expired`; null when malformed. */
export function parseVariantId(id: string): VariantRef | null {
  const match = /^(annual|maintenance)\/([A-Za-z0-9-]+)\/(\d+|expired)$/.exec(id);
  if (!match) return null;
  return { family: match[1] as Family, locale: match[2]!, variant: match[3] === 'expired' ? 'expired' : Number(match[3]) };
}
