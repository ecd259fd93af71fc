import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/logger';
import { createRenderer } from '../../src/render/renderer';
import { loadSampleData, sampleInput } from '../../src/render/sample-data';
import { type ReminderEmailInput, TemplateError } from '../../src/render/types';
import { editFile, TEMPLATES, useTemplateCopies } from '../helpers/template-copies';

const config = loadConfig({ UNSUBSCRIBE_SECRET: 'test-unsubscribe-secret', TEMPLATES_DIR: TEMPLATES });
const logger = createLogger('silent');
const sample = loadSampleData(TEMPLATES);
const OFFSETS = [90, 60, 30, 14, 7, 0];

const input = (overrides: Partial<ReminderEmailInput> & Pick<ReminderEmailInput, 'kind'>): ReminderEmailInput => {
  const base = sampleInput(config, sample, { kind: overrides.kind, offset: overrides.offset ?? 30, expired: overrides.expired, locale: overrides.locale, today: '2026-11-27' });
  return { ...base, ...overrides };
};

const copyTemplates = useTemplateCopies();

describe('shipped templates', () => {
  const renderer = createRenderer(config, logger);
  afterAll(() => renderer.close());

  it('render every family × offset × locale, and the expired copy', async () => {
    const subjects = new Map<string, string>();
    for (const kind of ['license', 'maintenance'] as const) {
      for (const locale of ['en', 'de']) {
        for (const variant of [...OFFSETS, 'expired'] as const) {
          const expired = variant === 'expired';
          const email = await renderer.render(input({ kind, locale, offset: expired ? 0 : variant, expired, daysLeft: expired ? -2 : variant }));
          const label = `${kind}/${locale}/${variant}`;
          expect(email.subject).not.toBe('');
          expect(email.subject).not.toMatch(/[\r\n]/);
          expect(email.templateVersion).toMatch(/^[0-9a-f]{12}$/);
          expect(email.html).toContain('<!doctype html>');
          expect(email.html).not.toContain('{{');
          for (const link of ['renew', 'upcomingRenewals', 'unsubscribe'] as const) {
            expect(email.text).toContain(input({ kind, locale }).links[link]);
          }
          expect(email.text).toContain(config.salesEmail);
          expect(email.text).toContain(config.supportEmail);
          expect(email.text).toContain(sample.items[0]!.licenseKey);
          subjects.set(label, email.subject);
        }
      }
    }
    for (const locale of ['en', 'de']) {
      for (const variant of [...OFFSETS, 'expired']) {
        expect(subjects.get(`license/${locale}/${variant}`)).not.toBe(subjects.get(`maintenance/${locale}/${variant}`));
      }
    }
    expect(subjects.get('license/en/30')).toBe('Your 2 annual licenses expire in 30 days');
    expect(subjects.get('maintenance/en/30')).toBe('Support & maintenance for your lifetime licenses ends in 30 days');
    expect(subjects.get('license/de/0')).toBe('Ihre 2 Jahreslizenzen laufen heute ab');
    expect(subjects.get('license/en/expired')).toBe('Your 2 annual licenses have expired');
  });

  it('names the right Upcoming Renewal tab and says what expires', async () => {
    const annual = await renderer.render(input({ kind: 'license', offset: 30 }));
    const maintenance = await renderer.render(input({ kind: 'maintenance', offset: 30 }));
    expect(annual.text).toContain('“Renew Annual License” tab');
    expect(annual.text).toMatch(/no longer licensed/);
    expect(maintenance.text).toContain('“Renew Support and Maintenance” tab');
    expect(maintenance.text).toMatch(/keep working/);
    expect(maintenance.text).not.toContain('Renew Annual License');
  });

  it('uses the true days left in the subject of a late (catch-up) reminder', async () => {
    const email = await renderer.render(input({ kind: 'license', offset: 30, daysLeft: 28, items: [{ ...input({ kind: 'license' }).items[0]!, daysLeft: 28 }] }));
    expect(email.subject).toBe('Your annual license expires in 28 days');
    expect(email.text).toContain('28 days');
    expect(email.text).toContain('Renew now');
  });

  it('points the expired-late copy to the support address', async () => {
    for (const locale of ['en', 'de']) {
      for (const kind of ['license', 'maintenance'] as const) {
        const email = await renderer.render(input({ kind, locale, offset: 0, expired: true, daysLeft: -2, items: [{ ...input({ kind }).items[0]!, daysLeft: -2 }] }));
        expect(email.html).toContain(`href="mailto:${config.supportEmail}?subject=`);
        const text = email.text.replace(/\s+/g, ' ');
        expect(text).toMatch(locale === 'en' ? /renewed through our support team: email support@dynamsoft\.com/ : /verlängert unser Support-Team: Schreiben Sie an support@dynamsoft\.com/);
        expect(email.subject).toMatch(locale === 'en' ? /(expired|ended)$/ : /abgelaufen$/);
      }
    }
  });

  it('escapes customer data in the HTML and keeps the subject on one line', async () => {
    const item = { ...input({ kind: 'license' }).items[0]!, customerName: '<script>alert(1)</script>', product: 'Tw"ain & <b>Co</b>' };
    const email = await renderer.render(input({ kind: 'license', contactName: 'Eve <img src=x onerror=alert(1)>\r\nBcc: victim@example.com', items: [item] }));
    expect(email.html).not.toContain('<script>alert(1)</script>');
    expect(email.html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(email.html).not.toContain('<img src=x');
    expect(email.html).toContain('Tw&quot;ain &amp; &lt;b&gt;Co&lt;/b&gt;');
    expect(email.text).toContain('<script>alert(1)</script>');
    expect(email.text).toContain('Hello Eve <img src=x onerror=alert(1)> Bcc: victim@example.com,');
    expect(email.subject).not.toMatch(/[\r\n]/);
  });

  it('greets without a name, and formats dates for the contact locale', async () => {
    const en = await renderer.render(input({ kind: 'license', contactName: null }));
    expect(en.text).toMatch(/^Hello,$/m);
    expect(en.text).toContain('December 27, 2026');
    const de = await renderer.render(input({ kind: 'license', locale: 'de-DE', contactName: null }));
    expect(de.text).toMatch(/^Guten Tag,$/m);
    expect(de.text).toContain('27. Dezember 2026');
    expect(de.subject).toBe('Ihre 2 Jahreslizenzen laufen in 30 Tagen ab');
    const austrian = await renderer.render(input({ kind: 'license', locale: 'de_AT' }));
    expect(austrian.subject).toBe(de.subject);
  });

  it('falls back to English for a language without copy', async () => {
    const italian = await renderer.render(input({ kind: 'maintenance', locale: 'it_IT' }));
    const en = await renderer.render(input({ kind: 'maintenance', locale: 'en' }));
    expect(italian.subject).toBe(en.subject);
    expect(italian.text).toContain('27 dicembre 2026');
    const junk = await renderer.render(input({ kind: 'maintenance', locale: '../../etc/passwd' }));
    expect(junk.subject).toBe(en.subject);
  });
});

describe('compile once, fill per email', () => {
  it('runs MJML once per variant however many emails are rendered', async () => {
    const compiled: string[] = [];
    const renderer = createRenderer(config, logger, { onMjmlCompile: (info) => compiled.push(`${info.family}/${info.locale}/${info.variant}`) });
    const first = await renderer.render(input({ kind: 'license', offset: 30 }));
    const second = await renderer.render(input({ kind: 'license', offset: 30, contactName: 'Bob' }));
    expect(compiled).toEqual(['annual/en/30']);
    expect(renderer.stats()).toMatchObject({ mjmlCompiles: 1, renders: 2 });
    expect(second.templateVersion).toBe(first.templateVersion);
    expect(second.text).toContain('Hello Bob,');
    await renderer.render(input({ kind: 'license', offset: 7 }));
    await renderer.render(input({ kind: 'license', offset: 7, locale: 'de' }));
    expect(compiled).toEqual(['annual/en/30', 'annual/en/7', 'annual/de/7']);
    // Contacts in de-DE or de_AT use de.mjml: the same document, so MJML does not run again.
    const austrian = await renderer.render(input({ kind: 'license', offset: 7, locale: 'de_AT' }));
    await renderer.render(input({ kind: 'license', offset: 7, locale: 'de-DE' }));
    expect(compiled).toHaveLength(3);
    expect(austrian.subject).toBe('Nur noch 7 Tage: Jahreslizenzen jetzt verlängern');
    await renderer.close();
  });
});

describe('hot reload', () => {
  it('picks up an edited template without recreating the renderer', async () => {
    const dir = copyTemplates();
    const renderer = createRenderer({ templatesDir: dir }, logger, { reloadCheckMs: 0 });
    const before = await renderer.render(input({ kind: 'license', offset: 30 }));
    editFile(path.join(dir, 'annual/en.mjml'), (text) =>
      text.replace(/## subject\n.*\n/, '## subject\nRenew today: {{plural daysLeft one="# day" other="# days"}} to go\n'),
    );
    const after = await renderer.render(input({ kind: 'license', offset: 30 }));
    expect(before.subject).toBe('Your 2 annual licenses expire in 30 days');
    expect(after.subject).toBe('Renew today: 30 days to go');
    expect(after.templateVersion).not.toBe(before.templateVersion);
    // The subject is not part of the MJML document: MJML had nothing new to compile.
    expect(renderer.stats().mjmlCompiles).toBe(1);

    editFile(path.join(dir, 'annual/en.mjml'), (text) => text.replace('Renewing now takes a minute', 'Renewing takes one minute'));
    const edited = await renderer.render(input({ kind: 'license', offset: 30 }));
    expect(edited.text).toContain('Renewing takes one minute');
    expect(edited.templateVersion).not.toBe(after.templateVersion);
    expect(renderer.stats().mjmlCompiles).toBe(2);
    await renderer.render(input({ kind: 'license', offset: 30 }));
    expect(renderer.stats().mjmlCompiles).toBe(2);
    await renderer.close();
  });

  it('re-checks files at most once per reloadCheckMs', async () => {
    const dir = copyTemplates();
    let clock = 0;
    const renderer = createRenderer({ templatesDir: dir }, logger, { reloadCheckMs: 1000, now: () => clock });
    const before = await renderer.render(input({ kind: 'maintenance', offset: 7 }));
    editFile(path.join(dir, 'partials/header.mjml'), (text) => text.replace('Customer Portal', 'Customer Portal · Renewals'));
    clock = 999;
    expect((await renderer.render(input({ kind: 'maintenance', offset: 7 }))).templateVersion).toBe(before.templateVersion);
    clock = 1000;
    const after = await renderer.render(input({ kind: 'maintenance', offset: 7 }));
    expect(after.templateVersion).not.toBe(before.templateVersion);
    expect(after.text).toContain('Customer Portal · Renewals');
    await renderer.close();
  });

  it('uses a more specific language file as soon as it is created', async () => {
    const dir = copyTemplates();
    const renderer = createRenderer({ templatesDir: dir }, logger, { reloadCheckMs: 0 });
    expect((await renderer.render(input({ kind: 'license', locale: 'de-AT' }))).subject).toBe('Ihre 2 Jahreslizenzen laufen in 30 Tagen ab');
    const german = readFileSync(path.join(dir, 'annual/de.mjml'), 'utf8');
    writeFileSync(path.join(dir, 'annual/de-AT.mjml'), german.replace('## subject\n', '## subject\nServus! '));
    expect((await renderer.render(input({ kind: 'license', locale: 'de-AT' }))).subject).toMatch(/^Servus! Ihre 2 Jahreslizenzen/);
    await renderer.close();
  });
});

describe('a broken template', () => {
  it('fails only the reminders that use it, naming the file, until it is fixed', async () => {
    const dir = copyTemplates();
    const file = path.join(dir, 'maintenance/de.mjml');
    const good = readFileSync(file, 'utf8');
    editFile(file, (text) => text.replace('## intro 7\n<mj-text mj-class="heading">Nur noch', '## intro 7\n<mj-text mj-class="heading"><mj-text>Nur noch'));
    const renderer = createRenderer({ templatesDir: dir }, logger, { reloadCheckMs: 0 });

    const broken = renderer.render(input({ kind: 'maintenance', locale: 'de', offset: 7 }));
    await expect(broken).rejects.toBeInstanceOf(TemplateError);
    await expect(broken).rejects.toThrow(/maintenance\/de\.mjml:\d+: <mj-text> is not closed/);
    await expect(renderer.render(input({ kind: 'maintenance', locale: 'de', offset: 30 }))).resolves.toHaveProperty('subject');
    await expect(renderer.render(input({ kind: 'maintenance', locale: 'en', offset: 7 }))).resolves.toHaveProperty('subject');
    await expect(renderer.render(input({ kind: 'license', locale: 'de', offset: 7 }))).resolves.toHaveProperty('subject');

    writeFileSync(file, good);
    await expect(renderer.render(input({ kind: 'maintenance', locale: 'de', offset: 7 }))).resolves.toHaveProperty('subject');
    await renderer.close();
  });

  it('refuses an unknown variable, an MJML error and a missing file with their files', async () => {
    const dir = copyTemplates();
    editFile(path.join(dir, 'annual/en.mjml'), (text) => text.replace('## intro 30\n', '## intro 30\n<mj-text>{{customer}}</mj-text>\n'));
    editFile(path.join(dir, 'annual/en.mjml'), (text) => text.replace('## intro 14\n<mj-text mj-class="heading">', '## intro 14\n<mj-text colour="red">'));
    rmSync(path.join(dir, 'partials/footer.mjml'));
    const renderer = createRenderer({ templatesDir: dir }, logger);
    await expect(renderer.render(input({ kind: 'license', offset: 30 }))).rejects.toThrow(/annual\/en\.mjml:\d+: unknown variable "customer"/);
    await expect(renderer.render(input({ kind: 'license', offset: 14 }))).rejects.toThrow(/annual\/en\.mjml:\d+: MJML: Attribute colour is illegal/);
    await expect(renderer.render(input({ kind: 'maintenance', offset: 14 }))).rejects.toThrow(/layout\.mjml:\d+: mj-include "partials\/footer\.mjml": file not found/);
    await renderer.close();
  });
});
