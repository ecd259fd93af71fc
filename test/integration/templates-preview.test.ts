import path from 'node:path';
import { loadConfig } from '../../src/config';
import { type PreviewServer, startPreviewServer } from '../../src/render/preview-server';
import { formatProblem } from '../../src/render/template-problem';
import { validateTemplates } from '../../src/render/validate-templates';
import { editFile, useTemplateCopies } from '../helpers/template-copies';

// The preview's answers over HTTP: it shows every problem `templates validate` reports, so an
// email that renders but would be refused (no unsubscribe link) is never called fine.
jest.setTimeout(300_000);

const copy = useTemplateCopies();
let dir: string;
let server: PreviewServer;
let config: ReturnType<typeof loadConfig>;

beforeEach(async () => {
  dir = copy();
  config = loadConfig({ TEMPLATES_DIR: dir, UNSUBSCRIBE_SECRET: 'test-unsubscribe-secret' });
  server = await startPreviewServer({ config, port: 0, host: '127.0.0.1' });
});

afterEach(async () => {
  await server?.close();
});

interface Status {
  problems: string[];
  broken: Array<{ id: string; problems: string[] }>;
}

const get = async (pathname: string) => {
  const response = await fetch(new URL(pathname, server.url));
  return { status: response.status, body: await response.text() };
};
const status = async (): Promise<Status> => JSON.parse((await get('/status')).body) as Status;

it('says every variant is fine only when validate finds nothing', async () => {
  const report = await validateTemplates(dir, config);
  expect(report.problems).toEqual([]);
  expect(await status()).toMatchObject({ problems: [], broken: [] });
  const page = await get('/?v=annual/fr/30');
  expect(page.status).toBe(200);
  expect(page.body).not.toContain('id="problems"');
  expect(page.body).toContain('Vos 2 licences annuelles expirent dans 30 jours');
});

it('shows every problem validate reports when the unsubscribe link is deleted, and marks the emails', async () => {
  editFile(path.join(dir, 'common/en.mjml'), (text) => text.replace(/<br \/><a href="\{\{links\.unsubscribe\}\}">[^<]*<\/a>/, ''));

  const report = await validateTemplates(dir, config);
  const expected = report.problems.map((p) => formatProblem(p, dir));
  expect(expected).toEqual([expect.stringMatching(/common\/en\.mjml:\d+: the email does not show the unsubscribe link/)]);

  const shown = await status();
  expect(shown.problems).toEqual(expected);
  // Every English email of both families lacks it; the other languages have their own footer.
  const ids = shown.broken.map((b) => b.id).sort();
  expect(ids).toEqual(['annual', 'maintenance'].flatMap((family) => ['0', '14', '30', '60', '7', '90', 'expired'].map((v) => `${family}/en/${v}`)).sort());
  expect(shown.broken[0]!.problems).toEqual([expect.stringMatching(/unsubscribe link/)]);

  // The email itself still renders: the page shows it, with the problem above it.
  const page = await get('/?v=annual/en/30');
  expect(page.status).toBe(200);
  expect(page.body).toContain('id="problems"');
  expect(page.body).toMatch(/common\/en\.mjml:\d+: the email does not show the unsubscribe link/);
  expect(page.body).toContain('the worker would not send it');
  expect(page.body).toContain('id="subject"');
  // A German email is not affected.
  expect((await get('/?v=annual/de/30')).body).not.toContain('id="problems"');
});

it('lists a problem of no single email, such as a block no slot uses', async () => {
  editFile(path.join(dir, 'annual/es.mjml'), (text) => text.replace('## other-ways expired', '## other-way expired'));
  const report = await validateTemplates(dir, config);
  const expected = report.problems.map((p) => formatProblem(p, dir));
  expect(expected).toEqual(expect.arrayContaining([expect.stringMatching(/annual\/es\.mjml:\d+: block "## other-way" is not used/)]));
  expect((await status()).problems).toEqual(expected);
});
