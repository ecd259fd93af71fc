import { emailLocale, formattingLocale, localeCandidates, normalizeLocale, resolveLocale } from '../../src/render/locale';
import { buildView, createHandlebars, formatDate, singleLine } from '../../src/render/template-data';
import type { ReminderEmailInput } from '../../src/render/types';

describe('locale of a contact', () => {
  it('normalizes the spellings found in the portal', () => {
    expect(normalizeLocale('de')).toBe('de');
    expect(normalizeLocale('de-de')).toBe('de-DE');
    expect(normalizeLocale('fr_FR')).toBe('fr-FR');
    expect(normalizeLocale(' EN-us ')).toBe('en-US');
    expect(normalizeLocale('')).toBeNull();
    expect(normalizeLocale('../../etc')).toBeNull();
    expect(normalizeLocale(null)).toBeNull();
  });

  it('falls back from the most specific tag to the language, then English', () => {
    expect(localeCandidates('de-AT')).toEqual(['de-AT', 'de', 'en']);
    expect(localeCandidates('fr_FR')).toEqual(['fr-FR', 'fr', 'en']);
    expect(localeCandidates('en')).toEqual(['en']);
    expect(localeCandidates('not a locale')).toEqual(['en']);
  });

  it('formats with the contact locale when valid, else the template locale', () => {
    expect(formattingLocale('de_AT', 'de')).toBe('de-AT');
    expect(formattingLocale('???', 'de')).toBe('de');
  });

  it('reads malformed tags the way a person would, and never throws', () => {
    // [raw, canonical tag, copy files tried]: written by hand from how portals store locales.
    const table: Array<[string | null, string | null, string[]]> = [
      ['xx', 'xx', ['xx', 'en']],
      ['EN_us', 'en-US', ['en-US', 'en']],
      ['de-', 'de', ['de', 'en']],
      ['pt_BR', 'pt-BR', ['pt-BR', 'pt', 'en']],
      ['', null, ['en']],
      ['   ', null, ['en']],
      [null, null, ['en']],
      ['de_DE.UTF-8', 'de-DE', ['de-DE', 'de', 'en']],
      ['fr--CA', 'fr-CA', ['fr-CA', 'fr', 'en']],
      ['-ja', 'ja', ['ja', 'en']],
      ['C', null, ['en']],
      ['../../etc/passwd', null, ['en']],
      ['zh-Hant-TW', 'zh-Hant-TW', ['zh-Hant-TW', 'zh-Hant', 'zh', 'en']],
      ['ja-JP-u-ca-japanese', 'ja-JP-u-ca-japanese', ['ja-JP', 'ja', 'en']],
    ];
    for (const [raw, tag, candidates] of table) {
      expect({ raw, ...resolveLocale(raw) }).toEqual({ raw, tag, candidates, key: tag ?? 'en' });
    }
  });

  it('writes an email in the language of its copy and formats it in the contact locale', () => {
    // [contact locale, copy used, text language (lang), dates and numbers]
    const table: Array<[string, string, string, string]> = [
      ['en-GB', 'en', 'en-GB', 'en-GB'],
      ['en_GB', 'en', 'en-GB', 'en-GB'],
      ['de-CH', 'de', 'de-CH', 'de-CH'],
      ['pt-BR', 'en', 'en', 'pt-BR'],
      ['fr_CA', 'fr', 'fr-CA', 'fr-CA'],
      ['ar-EG', 'en', 'en', 'ar-EG'],
      ['xx', 'en', 'en', 'en'],
      ['', 'en', 'en', 'en'],
    ];
    for (const [raw, copy, lang, format] of table) expect({ raw, ...emailLocale(raw, copy) }).toEqual({ raw, lang, format });
  });
});

describe('values shown in templates', () => {
  it('formats dates per locale', () => {
    expect(formatDate('2026-12-27', 'en')).toBe('December 27, 2026');
    expect(formatDate('2026-12-27', 'de')).toBe('27. Dezember 2026');
    expect(formatDate('2026-12-27', 'en-GB')).toBe('27 December 2026');
  });

  it('pluralizes and formats numbers per locale', () => {
    const hb = createHandlebars();
    const template = hb.compile('{{plural n zero="today" one="# day" other="# days"}}', { strict: true });
    expect(template({ n: 1, lang: 'en' })).toBe('1 day');
    expect(template({ n: 28, lang: 'en' })).toBe('28 days');
    expect(template({ n: 0, lang: 'en' })).toBe('today');
    expect(template({ n: 1200, lang: 'de' })).toBe('1.200 days');
    expect(template({ n: 1200, lang: 'en' })).toBe('1,200 days');
  });

  it('picks the plural form by the language of the copy and writes the number for the contact', () => {
    const hb = createHandlebars();
    const template = hb.compile('{{plural n one="# day" other="# days"}}', { strict: true, noEscape: true });
    // French counts 0 as singular and Russian 21 as singular: English copy read by such a contact
    // must still say "0 days" and "21 days".
    expect(template({ n: 0, lang: 'en', formatLocale: 'fr' })).toBe('0 days');
    expect(template({ n: 21, lang: 'en', formatLocale: 'ru' })).toBe('21 days');
    expect(template({ n: 1200, lang: 'en', formatLocale: 'de-CH' })).toBe("1'200 days");
    expect(template({ n: 30, lang: 'en', formatLocale: 'ar-EG' })).toBe('٣٠ days');
    const french = hb.compile('{{plural n one="# jour" other="# jours"}}', { strict: true });
    expect(french({ n: 0, lang: 'fr', formatLocale: 'fr' })).toBe('0 jour');
    expect(french({ n: 1, lang: 'fr', formatLocale: 'fr' })).toBe('1 jour');
    expect(french({ n: 2, lang: 'fr', formatLocale: 'fr' })).toBe('2 jours');
    const japanese = hb.compile('{{plural n other="#日"}}', { strict: true });
    expect(japanese({ n: 1, lang: 'ja', formatLocale: 'ja' })).toBe('1日');
  });

  it('puts header values on one line', () => {
    expect(singleLine('Anna\r\nBcc: evil@example.com\t x')).toBe('Anna Bcc: evil@example.com x');
  });

  it('builds the view: contact name on one line, dates formatted, days since expiry', () => {
    const input: ReminderEmailInput = {
      kind: 'license',
      offset: 0,
      expired: true,
      daysLeft: -2,
      locale: 'de-DE',
      contactName: 'Anna\r\nSchmidt',
      recipient: 'anna@example.com',
      items: [{ product: 'P', licenseKey: 'K', orderNumber: 'O', customerName: 'C', expiresOn: '2026-12-27', daysLeft: -2 }],
      links: { renew: 'r', upcomingRenewals: 'u', unsubscribe: 'x' },
      salesEmail: 's@example.com',
      supportEmail: 'h@example.com',
    };
    const view = buildView(input, { lang: 'de-DE', format: 'de-DE' });
    expect(view.contactName).toBe('Anna Schmidt');
    expect(view.expiresOn).toBe('27. Dezember 2026');
    expect(view.items[0]).toMatchObject({ expired: true, daysSinceExpiry: 2 });
    expect(view.single).toBe(true);
    expect(buildView({ ...input, contactName: '  ' }, { lang: 'en', format: 'en' }).contactName).toBeNull();
  });
});
