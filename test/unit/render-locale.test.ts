import { formattingLocale, localeCandidates, normalizeLocale } from '../../src/render/locale';
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
