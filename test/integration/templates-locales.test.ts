import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/logger';
import { createRenderer } from '../../src/render/renderer';
import { loadSampleData, sampleInput } from '../../src/render/sample-data';
import { TemplateHealth } from '../../src/render/template-health';
import { TEMPLATES } from '../helpers/template-copies';
import { COPY_FOOTERS } from '../helpers/copy-footers';

// Every locale the platform formats dates for, and the spellings portals really store, through the
// worker's own renderer with its guard: a contact in any locale gets every reminder.
jest.setTimeout(900_000);

/** The full list of CLDR locales (and their default-content tags such as de-DE), kept to those ICU formats. */
function icuLocales(): string[] {
  const { availableLocales } = require('cldr-core/availableLocales.json') as { availableLocales: { full: string[] } };
  const { defaultContent } = require('cldr-core/defaultContent.json') as { defaultContent: string[] };
  return Intl.DateTimeFormat.supportedLocalesOf([...new Set([...availableLocales.full, ...defaultContent])]);
}

/** Languages with copy under templates/; every other language reads English (the README's promise). */
const COPY_LANGUAGES = ['en', 'de', 'fr', 'es', 'ja'];
const FOOTER = COPY_FOOTERS;

/** Malformed or unusual values of the `locale` column: [value, copy read, locale its dates are written in]. */
const MALFORMED: Array<[string, string, string]> = [
  ['xx', 'en', 'en'],
  ['EN_us', 'en', 'en-US'],
  ['de-', 'de', 'de'],
  ['pt_BR', 'en', 'pt-BR'],
  ['', 'en', 'en'],
  ['   ', 'en', 'en'],
  ['fr_FR.UTF-8', 'fr', 'fr-FR'],
  ['ja_JP', 'ja', 'ja-JP'],
  ['es--MX', 'es', 'es-MX'],
  ['../../etc/passwd', 'en', 'en'],
  ['i-klingon', 'en', 'en'],
  ['zz-ZZ', 'en', 'en'],
  ['C', 'en', 'en'],
];

const escapeHtml = (value: string) => value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#x27;');
const longDate = (iso: string, locale: string) => new Intl.DateTimeFormat(locale, { year: 'numeric', month: 'long', day: 'numeric', timeZone: 'UTC' }).format(new Date(`${iso}T00:00:00Z`));
/** Which no-break space a date uses (U+00A0, U+202F or none) differs between ICU's entry points: it reads the same. */
const spaces = (text: string) => text.replace(/[\u00a0\u202f]/g, ' ');

it('renders and passes the guard for every reminder of every ICU locale and of malformed tags, in the right copy and date format', async () => {
  const config = loadConfig({ TEMPLATES_DIR: TEMPLATES, UNSUBSCRIBE_SECRET: 'test-unsubscribe-secret' });
  const health = new TemplateHealth();
  const renderer = createRenderer(config, createLogger('silent'), { guard: { config, health } });
  const sample = { ...loadSampleData(TEMPLATES), today: '2027-03-01' };
  const locales = icuLocales();
  expect(locales.length).toBeGreaterThan(600);
  const cases: Array<{ locale: string; copy: string; format: string }> = [
    ...locales.map((locale) => {
      const language = locale.split('-')[0]!;
      return { locale, copy: COPY_LANGUAGES.includes(language) ? language : 'en', format: locale };
    }),
    ...MALFORMED.map(([locale, copy, format]) => ({ locale, copy, format })),
  ];

  const failures: string[] = [];
  let rendered = 0;
  try {
    for (const { locale, copy, format } of cases) {
      for (const kind of ['license', 'maintenance'] as const) {
        for (const variant of [...config.offsets, 'expired'] as const) {
          const expired = variant === 'expired';
          const input = sampleInput(config, sample, { kind, offset: expired ? 0 : variant, expired, locale });
          const what = `${JSON.stringify(locale)} ${kind} ${variant}`;
          try {
            const email = await renderer.render(input);
            rendered += 1;
            if (!email.html.includes(FOOTER[copy]!)) failures.push(`${what}: not written from the ${copy} copy`);
            const date = escapeHtml(longDate(input.items[0]!.expiresOn, format));
            if (!spaces(email.html).includes(spaces(date))) failures.push(`${what}: does not show the expiry date as ${format} writes it ("${date}")`);
          } catch (error) {
            failures.push(`${what}: ${error instanceof Error ? error.message : String(error)}`);
          }
        }
      }
    }
  } finally {
    await renderer.close();
  }
  expect(failures.slice(0, 20)).toEqual([]);
  expect(failures).toHaveLength(0);
  expect(rendered).toBe(cases.length * 2 * (config.offsets.length + 1));
  // No variant was refused for any locale.
  expect(health.list()).toEqual([]);
});

it('formats the English copy for a contact of the same language in their own region', async () => {
  const config = loadConfig({ TEMPLATES_DIR: TEMPLATES, UNSUBSCRIBE_SECRET: 'test-unsubscribe-secret' });
  const renderer = createRenderer(config, createLogger('silent'), { guard: { config } });
  const sample = { ...loadSampleData(TEMPLATES), today: '2027-03-01' };
  try {
    // [locale, subject, a phrase of the body with the expiry date], written by hand.
    const table: Array<[string, string, string]> = [
      ['en_GB', 'Your 2 annual licenses expire in 30 days', 'on <strong>31 March 2027</strong>'],
      ['en-US', 'Your 2 annual licenses expire in 30 days', 'on <strong>March 31, 2027</strong>'],
      ['de-CH', 'Ihre 2 Jahreslizenzen laufen in 30 Tagen ab', 'am <strong>31. März 2027</strong>'],
      ['fr_FR', 'Vos 2 licences annuelles expirent dans 30 jours', 'le <strong>31 mars 2027</strong>'],
      ['es', 'Sus 2 licencias anuales vencen en 30 días', 'el <strong>31 de marzo de 2027</strong>'],
      ['ja', '2件の年間ライセンスの有効期限まで残り30日です', '<strong>2027年3月31日</strong>'],
      ['pt-BR', 'Your 2 annual licenses expire in 30 days', 'on <strong>31 de março de 2027</strong>'],
      ['ar-EG', 'Your 2 annual licenses expire in ٣٠ days', 'on <strong>٣١ مارس ٢٠٢٧</strong>'],
    ];
    for (const [locale, subject, phrase] of table) {
      const email = await renderer.render(sampleInput(config, sample, { kind: 'license', offset: 30, locale }));
      expect({ locale, subject: email.subject }).toEqual({ locale, subject });
      expect(email.html).toContain(phrase);
    }
  } finally {
    await renderer.close();
  }
});
