import fc from 'fast-check';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/logger';
import { htmlToPlainText } from '../../src/render/html-to-plain-text';
import { createRenderer } from '../../src/render/renderer';
import { loadSampleData, sampleInput } from '../../src/render/sample-data';
import type { ReminderEmailInput } from '../../src/render/types';
import { TEMPLATES } from '../helpers/template-copies';

const config = loadConfig({ UNSUBSCRIBE_SECRET: 'test-unsubscribe-secret', TEMPLATES_DIR: TEMPLATES });
const sample = loadSampleData(TEMPLATES);
const OFFSETS = [90, 60, 30, 14, 7, 0];

// The text part is compiled once per template version; it must read exactly like the text
// html-to-text makes from each filled HTML email, which is what every email used to get.
describe('plain-text part compiled once per template', () => {
  const renderer = createRenderer(config, createLogger('silent'));
  afterAll(() => renderer.close());

  const inputFor = (kind: 'license' | 'maintenance', locale: string, variant: number | 'expired'): ReminderEmailInput => {
    const expired = variant === 'expired';
    return sampleInput(config, sample, { kind, offset: expired ? 0 : variant, expired, locale, today: '2026-11-27' });
  };

  it('matches html-to-text on the filled HTML for every shipped family × locale × variant, one item and many', async () => {
    for (const kind of ['license', 'maintenance'] as const) {
      for (const locale of ['en', 'de']) {
        for (const variant of [...OFFSETS, 'expired'] as const) {
          const base = inputFor(kind, locale, variant);
          for (const items of [base.items.slice(0, 1), base.items]) {
            const email = await renderer.render({ ...base, items });
            expect(`${kind}/${locale}/${variant}/${items.length}:\n${email.text}`).toBe(`${kind}/${locale}/${variant}/${items.length}:\n${htmlToPlainText(email.html)}`);
          }
        }
      }
    }
  });

  it('matches for any customer data: markup, entities, long words, runs of whitespace', async () => {
    const base = inputFor('license', 'en', 30);
    const value = fc.string({ unit: fc.constantFrom('a', 'B', ' ', '  ', '\n', '\t', '<', '>', '&', '"', "'", '&amp;', '{{x}}', 'é', '“', 'x'.repeat(90), '-', '/', '.') });
    await fc.assert(
      fc.asyncProperty(fc.array(fc.record({ product: value, customerName: value, licenseKey: value, orderNumber: value }), { minLength: 1, maxLength: 3 }), value, async (items, name) => {
        const input = { ...base, contactName: name, items: items.map((item, i) => ({ ...(base.items[0] as ReminderEmailInput['items'][number]), ...item, licenseKey: `K${i}${item.licenseKey}` })) };
        const email = await renderer.render(input);
        expect(email.text).toBe(htmlToPlainText(email.html));
      }),
      { numRuns: 150 },
    );
  });
});
