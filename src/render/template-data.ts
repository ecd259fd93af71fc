import Handlebars from 'handlebars';
import { DateTime } from 'luxon';
import type { EmailLocale } from './locale';
import type { ReminderEmailInput } from './types';

/**
 * What a template sees: the reminder input with dates formatted for the contact's locale.
 * Every string is raw here; Handlebars' {{ }} escapes it in HTML, the subject is plain text.
 */
export interface TemplateItem {
  product: string;
  licenseKey: string;
  orderNumber: string;
  customerName: string;
  expiresOn: string;
  daysLeft: number;
  daysSinceExpiry: number;
  expired: boolean;
}

export interface TemplateView {
  /** The language of the text (HTML `lang`, plural rules). */
  lang: string;
  /** Formats numbers: the contact's locale (not a placeholder: templates write {{plural}}). */
  formatLocale: string;
  subject: string;
  contactName: string | null;
  recipient: string;
  kind: string;
  offset: number;
  expired: boolean;
  daysLeft: number;
  daysSinceExpiry: number;
  expiresOn: string;
  itemCount: number;
  single: boolean;
  product: string;
  items: TemplateItem[];
  links: { renew: string; upcomingRenewals: string; unsubscribe: string };
  salesEmail: string;
  supportEmail: string;
}

/** Formats an ISO date like 'December 27, 2026' (en) or '27. Dezember 2026' (de). */
export function formatDate(iso: string, locale: string): string {
  const key = `${locale}|${iso}`;
  const known = dateCache.get(key);
  if (known !== undefined) return known;
  const date = DateTime.fromISO(iso, { zone: 'utc' });
  const formatted = date.isValid ? date.setLocale(locale).toLocaleString(DateTime.DATE_FULL) : iso;
  if (dateCache.size >= 10_000) dateCache.clear();
  dateCache.set(key, formatted);
  return formatted;
}

/** Formats a whole number the way `{{plural}}` shows it: '1,200' (en), '1.200' (de). */
export function formatNumber(n: number, locale: string): string {
  return numberIn(locale, n).shown;
}

// Formatting is the costliest part of filling a template; a worker sees few distinct dates.
const dateCache = new Map<string, string>();

/**
 * The `plural` helper's Intl objects, built once per locale (a PluralRules and a NumberFormat cost
 * tens of microseconds to construct), and what they said about each number already seen: a worker
 * fills the same few day counts over and over, and `select` plus `format` were a tenth of a render.
 */
interface LocaleNumbers {
  rules: Intl.PluralRules;
  format: Intl.NumberFormat;
  seen: Map<number, { category: Intl.LDMLPluralRule; shown: string }>;
}
const localeNumbers = new Map<string, LocaleNumbers>();

function numberIn(locale: string, n: number): { category: Intl.LDMLPluralRule; shown: string } {
  let numbers = localeNumbers.get(locale);
  if (!numbers) {
    if (localeNumbers.size >= 200) localeNumbers.clear();
    numbers = { rules: new Intl.PluralRules(locale), format: new Intl.NumberFormat(locale), seen: new Map() };
    localeNumbers.set(locale, numbers);
  }
  // A Map key does not tell -0 from 0, and the two format differently.
  let known = Object.is(n, -0) ? undefined : numbers.seen.get(n);
  if (!known) {
    if (numbers.seen.size >= 1000) numbers.seen.clear();
    known = { category: numbers.rules.select(n), shown: numbers.format.format(n) };
    if (!Object.is(n, -0)) numbers.seen.set(n, known);
  }
  return known;
}

/** A one-line, control-character-free version of a value that ends up in a header. */
export function singleLine(value: string): string {
  // eslint-disable-next-line no-control-regex
  return value.replace(/[\u0000-\u001f\u007f\u2028\u2029]+/g, ' ').replace(/\s{2,}/g, ' ').trim();
}

/**
 * Longest customer or contact name shown in an email, in characters. Portal data is free text: a
 * 10,000-character name would otherwise make a 58 KiB email and push the list and the unsubscribe
 * link past what mail clients show. Real names fit easily; longer ones end with "…".
 */
export const NAME_DISPLAY_MAX = 80;

/** A name as shown: one line, at most NAME_DISPLAY_MAX characters (whole code points). */
export function displayName(value: string): string {
  const line = singleLine(value);
  const chars = Array.from(line);
  return chars.length <= NAME_DISPLAY_MAX ? line : `${chars.slice(0, NAME_DISPLAY_MAX - 1).join('').trimEnd()}…`;
}

/** `locale.format` formats dates and numbers; `locale.lang` is the text's language (HTML `lang`, plural rules). */
export function buildView(input: ReminderEmailInput, locale: EmailLocale): TemplateView {
  const formatLocale = locale.format;
  const items = input.items.map((item) => ({
    product: item.product,
    licenseKey: item.licenseKey,
    orderNumber: item.orderNumber,
    customerName: displayName(item.customerName),
    expiresOn: formatDate(item.expiresOn, formatLocale),
    daysLeft: item.daysLeft,
    daysSinceExpiry: Math.max(0, -item.daysLeft),
    expired: item.daysLeft < 0,
  }));
  const earliest = [...input.items].sort((a, b) => a.expiresOn.localeCompare(b.expiresOn))[0];
  const contactName = input.contactName?.trim() ? displayName(input.contactName) : null;
  return {
    lang: locale.lang,
    formatLocale,
    subject: '',
    contactName,
    recipient: input.recipient,
    kind: input.kind,
    offset: input.offset,
    expired: input.expired,
    daysLeft: input.daysLeft,
    daysSinceExpiry: Math.max(0, -input.daysLeft),
    expiresOn: earliest ? formatDate(earliest.expiresOn, formatLocale) : '',
    itemCount: items.length,
    single: items.length === 1,
    product: input.items[0]?.product ?? '',
    items,
    links: { ...input.links },
    salesEmail: input.salesEmail,
    supportEmail: input.supportEmail,
  };
}

/**
 * A Handlebars environment with the one helper templates may use:
 * `{{plural daysLeft one="# day" other="# days"}}` picks the form by the plural rules of the
 * text's language (`lang`: the forms are written in it; `zero="…"` wins for 0 when given) and
 * puts the number, formatted for the contact's locale (`formatLocale`), where `#` is.
 */
export function createHandlebars(): typeof Handlebars {
  const hb = Handlebars.create();
  hb.registerHelper('plural', function plural(this: unknown, count: unknown, options: Handlebars.HelperOptions) {
    const root = (options.data as { root?: { lang?: unknown; formatLocale?: unknown } } | undefined)?.root;
    const locale = typeof root?.lang === 'string' && root.lang ? root.lang : 'en';
    const formatLocale = typeof root?.formatLocale === 'string' && root.formatLocale ? root.formatLocale : locale;
    const n = typeof count === 'number' ? count : Number(count);
    const forms = options.hash as Record<string, unknown>;
    const known = Number.isFinite(n) ? numberIn(locale, n) : null;
    const category = known?.category ?? 'other';
    const chosen = n === 0 && forms.zero !== undefined ? forms.zero : (forms[category] ?? forms.other);
    const form = String(chosen ?? '#');
    const shown = Number.isFinite(n) ? numberIn(formatLocale, n).shown : String(count);
    return form.replace(/#/g, shown);
  });
  return hb;
}
