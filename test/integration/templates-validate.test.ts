import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../src/config';
import { formatProblem } from '../../src/render/template-problem';
import { validateTemplates } from '../../src/render/validate-templates';
import { editFile, TEMPLATES, useTemplateCopies } from '../helpers/template-copies';

const config = loadConfig({ UNSUBSCRIBE_SECRET: 'test-unsubscribe-secret' });

const copyTemplates = useTemplateCopies();
const lineOf = (file: string, needle: string) => readFileSync(file, 'utf8').split('\n').findIndex((l) => l.includes(needle)) + 1;

it('passes on the shipped templates: every family × offset × locale and the expired copy', async () => {
  const report = await validateTemplates(TEMPLATES, config);
  expect(report.problems.map((p) => formatProblem(p, TEMPLATES))).toEqual([]);
  // 2 families × 5 languages (en, de, es, fr, ja).
  expect(report.checked).toBe(2 * 5 * (config.offsets.length + 1));
});

it('checks the configured offsets, using the default copy for one without its own block', async () => {
  const report = await validateTemplates(TEMPLATES, { ...config, offsets: [45, 30, 7, 0] });
  expect(report.problems).toEqual([]);
  expect(report.checked).toBe(2 * 5 * 5);
});

it('reports each problem of a broken copy with its file and line', async () => {
  const dir = copyTemplates();
  const annual = path.join(dir, 'annual/en.mjml');
  const commonDe = path.join(dir, 'common/de.mjml');
  const header = path.join(dir, 'partials/header.mjml');
  writeFileSync(path.join(path.dirname(dir), 'outside.mjml'), '<mj-section><mj-column><mj-text>outside</mj-text></mj-column></mj-section>');

  // An unclosed tag, an unknown variable, a removed unsubscribe link, an include leaving the folder.
  editFile(annual, (t) => t.replace('<mj-text mj-class="heading">Two weeks left to renew</mj-text>', '<mj-text mj-class="heading">Two weeks left to renew'));
  editFile(annual, (t) => t.replace('<mj-text>Renewing now takes a minute', '<mj-text>Renewing now, {{contactNmae}}, takes a minute'));
  editFile(commonDe, (t) => t.replace('<br /><a href="{{links.unsubscribe}}">Verlängerungserinnerungen abbestellen</a>', ''));
  editFile(header, (t) => `${t}<mj-include path="../../outside.mjml" />\n`);
  // And an MJML validation error, a subject that hides the days left, a typo in a block name.
  const maintenance = path.join(dir, 'maintenance/en.mjml');
  editFile(maintenance, (t) => t.replace('## intro 7\n<mj-text mj-class="heading">', '## intro 7\n<mj-text mj-class="heading" colr="red">'));
  editFile(maintenance, (t) => t.replace(/## subject 14\n.*\n/, '## subject 14\nTwo weeks of support & maintenance left\n'));
  editFile(maintenance, (t) => t.replace('## other-ways expired', '## other-way expired'));

  const report = await validateTemplates(dir, config);
  const lines = report.problems.map((p) => `${p.file}:${p.line}: ${p.message}`);

  expect(lines).toEqual(
    expect.arrayContaining([
      `annual/en.mjml:${lineOf(annual, 'Two weeks left to renew')}: <mj-text> is not closed before </mj-column>`,
      `annual/en.mjml:${lineOf(annual, 'contactNmae')}: unknown variable "contactNmae" (did you mean "contactName"?)`,
      `partials/header.mjml:${lineOf(header, 'outside.mjml')}: mj-include "../../outside.mjml" points outside the templates folder`,
      `maintenance/en.mjml:${lineOf(maintenance, 'colr=')}: MJML: Attribute colr is illegal (mj-text)`,
      `maintenance/en.mjml:${lineOf(maintenance, '## other-way expired')}: block "## other-way" is not used: no <mj-slot name="other-way"/> in the layout or partials (a typo?)`,
    ]),
  );
  expect(lines).toContainEqual(
    expect.stringMatching(new RegExp(`^common/de\\.mjml:${lineOf(commonDe, '## footer')}: the email does not show the unsubscribe link \\{\\{links\\.unsubscribe\\}\\} \\(annual/de: 90, 60, 30, 14, 7, 0, expired; maintenance/de: .*\\)$`)),
  );
  expect(lines).toContainEqual(
    expect.stringMatching(new RegExp(`^maintenance/en\\.mjml:${lineOf(maintenance, '## subject 14')}: the subject does not show the true days left \\(a late reminder with 13 days left reads "Two weeks`)),
  );
  // Nothing outside the folder leaked into any email, and the untouched variants raised nothing.
  expect(lines.filter((l) => l.startsWith('annual/de') || l.startsWith('maintenance/de'))).toEqual([]);
  expect(formatProblem(report.problems[0]!, dir)).toMatch(/templates\/[a-z/]+\.mjml:\d+: /);
});

it('reports missing language files and a broken sample-data.json', async () => {
  const dir = copyTemplates();
  rmSync(path.join(dir, 'maintenance/de.mjml'));
  writeFileSync(path.join(dir, 'annual/german.mjml'), '## subject\nx\n');
  writeFileSync(path.join(dir, 'sample-data.json'), '{ "items": [] }');
  const report = await validateTemplates(dir, config);
  const lines = report.problems.map((p) => `${p.file}:${p.line}: ${p.message}`);
  expect(lines).toEqual(
    expect.arrayContaining([
      'maintenance/de.mjml:0: missing: other folders have "de" copy, so "de" contacts would get this part in English',
      'annual/german.mjml:0: "german.mjml" is not named after a language (en.mjml, de.mjml, de-AT.mjml…): it is never used',
      'sample-data.json:0: items needs at least one item',
    ]),
  );
});
