import path from 'node:path';
import { createApp } from '../../src/app';
import { addDays } from '../../src/dates';
import { createLogger } from '../../src/logger';
import { checkHealth } from '../../src/ops/health';
import { createMetrics } from '../../src/ops/metrics';
import { replay } from '../../src/ops/replay';
import { publishEdit, publishFolder, PublishConflict, rollback, saveDraft, liveVersions, publicationHistory, diffVersions, loadVersion } from '../../src/templates-store';
import { runCli } from '../helpers/cli';
import { insertLicense, insertOrder } from '../helpers/fixtures';
import { useMailTestEnv } from '../helpers/mail-test-env';
import { duplicateDeliveries, type SmtpTestServer } from '../helpers/smtp';
import { editFile, useTemplateCopies } from '../helpers/template-copies';
import type { TestEnv } from '../helpers/test-env';

// What is sent is the published version: a broken edit is refused at publishing, visibly to every
// process, and the live version keeps sending.
jest.setTimeout(240_000);

const T = '2027-09-06';
const copy = useTemplateCopies();
let t: TestEnv;
let smtp: SmtpTestServer;
useMailTestEnv('tpublish', {}, (env, server) => {
  t = env;
  smtp = server;
});
afterEach(() => {
  expect(duplicateDeliveries(smtp.received)).toEqual([]);
});

const ledger = () => t.app.db.selectFrom('reminder_ledger').selectAll().orderBy('id').execute();
const dropUnsubscribe = (text: string) => text.replace(/<br \/><a href="\{\{links\.unsubscribe\}\}">[^<]*<\/a>/, '');
const publish = (dir: string, actor = 'ann', message = 'copy change') => publishFolder(t.app.db, dir, t.config, { actor, message, arm: 'A', source: 'files' });
const live = async (variant: string, arm = 'A') => (await liveVersions(t.app.db)).find((l) => l.variant === variant && l.arm === arm)?.version;

let n = 0;
async function sendOne(date: string, locale = 'en'): Promise<{ row: Awaited<ReturnType<typeof ledger>>[number]; html: string | undefined }> {
  const email = `r${++n}@example.com`;
  const { orderId } = await insertOrder(t.app.db, { contacts: [{ email, locale }] });
  await insertLicense(t.app.db, { orderId, expiresOn: addDays(date, 30) });
  await t.scan(date);
  await t.drain();
  const row = (await ledger()).find((r) => r.recipient === email)!;
  return { row, html: smtp.received.find((m) => m.to === email)?.parsed.html || undefined };
}

// First: it needs a worker that has not yet loaded the refusals (a worker reads them at most
// TEMPLATE_POLL_MS late when it hears no NOTIFY).
it('a language that never had a good version fails its reminders, replayable once published; it is not sent in another language meanwhile', async () => {
  const dir = copy();
  const { cpSync } = await import('node:fs');
  for (const folder of ['annual', 'maintenance', 'common']) cpSync(path.join(dir, folder, 'en.mjml'), path.join(dir, folder, 'it.mjml'));
  editFile(path.join(dir, 'annual/it.mjml'), (text) => text.replace('Renewing now takes a minute', 'Rinnovare richiede un minuto'));
  editFile(path.join(dir, 'common/it.mjml'), dropUnsubscribe);
  expect((await publish(dir)).status).toBe('refused');

  const failed = await sendOne(T, 'it-IT');
  expect(failed.html).toBeUndefined();
  expect(failed.row).toMatchObject({ status: 'failed', reason: expect.stringMatching(/template error: template annual\/it\/30 has never had a good version .*unsubscribe link/) });

  editFile(path.join(dir, 'common/it.mjml'), (text) => text.replace('listed above in the Dynamsoft customer portal.', 'listed above in the Dynamsoft customer portal.<br /><a href="{{links.unsubscribe}}">Disiscriviti</a>'));
  expect((await publish(dir)).status).toBe('published');
  await replay({ db: t.app.db, sendQueue: t.app.sendQueue(), config: t.config }, { ids: [failed.row.id] }, { actor: 'operator' });
  await t.drain();
  const delivered = smtp.received.filter((m) => m.to === failed.row.recipient);
  expect(delivered).toHaveLength(1);
  expect(delivered[0]!.parsed.html).toContain('Rinnovare richiede un minuto');
  expect((await ledger()).find((r) => r.id === failed.row.id)).toMatchObject({ status: 'sent', template_locale: 'it' });
});

it('publishes a copy change from the files; broken edits (no unsubscribe link, unknown placeholder, broken markup) cannot be published and the live version keeps sending, as every process sees', async () => {
  const shipped = (await live('annual/en/30'))!;
  expect(shipped).toMatch(/^[0-9a-f]{12}$/);
  const dir = copy();
  editFile(path.join(dir, 'annual/en.mjml'), (text) => text.replace('Renewing now takes a minute', 'Renewing takes one minute'));
  const published = await publish(dir);
  expect(published.status).toBe('published');
  const changed = published.status === 'published' ? published.publications.map((p) => p.variant).sort() : [];
  // The annual English copy file serves every annual English email, and nothing else.
  expect(changed).toEqual(['annual/en/0', 'annual/en/14', 'annual/en/30', 'annual/en/60', 'annual/en/7', 'annual/en/90', 'annual/en/expired']);
  const good = (await live('annual/en/30'))!;
  expect(good).not.toBe(shipped);
  expect(await publish(dir)).toEqual({ status: 'unchanged', unchanged: 70 });

  const first = await sendOne(T);
  expect(first.row).toMatchObject({ status: 'sent', template_version: good, template_arm: 'A', template_locale: 'en' });
  expect(first.html).toContain('Renewing takes one minute');

  const breaks: Array<[string, string, (text: string) => string, RegExp]> = [
    ['unsubscribe link deleted', 'common/en.mjml', dropUnsubscribe, /unsubscribe link/],
    ['unknown placeholder', 'annual/en.mjml', (text) => text.replace('## intro 30\n', '## intro 30\n<mj-text>{{customer}}</mj-text>\n'), /unknown variable "customer"/],
    ['broken markup', 'annual/en.mjml', (text) => text.replace(/## intro 30\n<mj-text([^>]*)>/, '## intro 30\n<mj-text$1><mj-text>'), /mj-text/],
  ];
  for (const [what, file, change, problem] of breaks) {
    const broken = copy();
    editFile(path.join(broken, 'annual/en.mjml'), (text) => text.replace('Renewing now takes a minute', 'Renewing takes one minute'));
    editFile(path.join(broken, file), change);
    const outcome = await publish(broken, 'bob');
    expect({ what, status: outcome.status }).toEqual({ what, status: 'refused' });
    if (outcome.status === 'refused') expect(outcome.problems.map((p) => p.message).join('\n')).toMatch(problem);
    expect(await live('annual/en/30')).toBe(good);
  }

  const second = await sendOne(addDays(T, 1));
  expect(second.row).toMatchObject({ status: 'sent', template_version: good });
  expect(second.html).toContain('href="http://127.0.0.1:8080/unsubscribe?token');

  // Another process (a fresh App: nothing in memory) sees the refusal in /healthz and /metrics.
  const other = createApp(t.config, { logger: createLogger('silent') });
  try {
    const health = await checkHealth(other, 3000, { smtp: false });
    expect(health.status).toBe('degraded');
    expect(health.templates).toMatch(/refused/);
    expect(health.refusedTemplates).toEqual(expect.arrayContaining([expect.objectContaining({ variant: 'annual/en/30', serving: good, actor: 'bob', problems: [expect.stringMatching(/mj-text/)] })]));
    expect(await createMetrics(other).scrape()).toMatch(/^reminders_template_refused\{variant="annual\/en\/30"\} 1$/m);
  } finally {
    await other.close();
  }

  // The command line: exit 1 with the problems and nothing published; status lists the refusal.
  const broken = copy();
  editFile(path.join(broken, 'common/en.mjml'), dropUnsubscribe);
  const cli = await runCli(['templates', 'publish', '--dir', broken, '--message', 'try'], t.env);
  expect(cli.code).toBe(1);
  expect(cli.stdout).toMatch(/common\/en\.mjml:\d+: .*unsubscribe link/);
  expect(cli.stdout).toMatch(/Nothing published: /);
  expect(await live('annual/en/30')).toBe(good);
  const status = await runCli(['templates', 'status'], t.env);
  expect(status.stdout).toMatch(new RegExp(`annual/en/30 +A +${good}`));
  expect(status.stdout).toMatch(new RegExp(`REFUSED annual/en/30 version [0-9a-f]{12} .*version ${good} keeps sending:\\n  common/en\\.mjml:\\d+: .*unsubscribe link`));

  // A good publish clears the refusal everywhere.
  expect((await publish(copy(), 'carol', 'back to the shipped copy')).status).toBe('published');
  expect((await checkHealth(t.app, 3000, { smtp: false })).refusedTemplates).toEqual([]);
});

it('rolls back to an earlier version, keeps who did what, and diffs two versions', async () => {
  const before = (await live('annual/en/30'))!;
  const dir = copy();
  editFile(path.join(dir, 'annual/en.mjml'), (text) => text.replace('Renewing now takes a minute', 'Renew in a minute'));
  expect((await publish(dir, 'dave', 'shorter')).status).toBe('published');
  const after = (await live('annual/en/30'))!;
  expect((await sendOne(T)).html).toContain('Renew in a minute');

  const rolled = await rollback(t.app.db, before, { actor: 'erin', message: 'the short copy confused people' });
  expect(rolled.map((p) => p.variant)).toContain('annual/en/30');
  expect(await live('annual/en/30')).toBe(before);
  const sent = await sendOne(addDays(T, 1));
  expect(sent.row.template_version).toBe(before);
  expect(sent.html).not.toContain('Renew in a minute');

  const history = await publicationHistory(t.app.db, { family: 'annual', locale: 'en', variant: '30' });
  expect(history.slice(0, 2).map((p) => [p.action, p.actor, p.message, p.version])).toEqual([
    ['rollback', 'erin', 'the short copy confused people', before],
    ['publish', 'dave', 'shorter', after],
  ]);
  const diff = await diffVersions(t.app.db, before, after);
  expect(diff).toContain('annual/en.mjml');
  expect(diff).toMatch(/^-.*Renewing now takes a minute/m);
  expect(diff).toMatch(/^\+.*Renew in a minute/m);

  // `templates rollback` and `templates versions` on the command line.
  const cli = await runCli(['templates', 'rollback', after, '--actor', 'frank', '--message', 'again'], t.env);
  expect(cli.code).toBe(0);
  expect(cli.stdout).toMatch(/published annual\/en\/30 version [0-9a-f]{12} again/);
  const versions = await runCli(['templates', 'versions', '--kind', 'annual', '--offset', '30', '--locale', 'en', '--json'], t.env);
  const listed = JSON.parse(versions.stdout) as Array<{ actor: string; action: string; version: string; live: boolean }>;
  expect(listed[0]).toMatchObject({ actor: 'frank', action: 'rollback', version: after, live: true });
  const shown = await runCli(['templates', 'version', after], t.env);
  expect(shown.stdout).toContain('Renew in a minute');
});

it('an editor publishing over a version someone else published meanwhile is told, not applied; drafts are never sent', async () => {
  const ref = { family: 'annual' as const, locale: 'en', variant: 30 };
  const base = (await live('annual/en/30'))!;
  const files = (await loadVersion(t.app.db, ref, base))!.sources;
  const edit = (text: string) => {
    const changed = files['annual/en.mjml']!.replace('## intro 30\n', `## intro 30\n<mj-text>${text}</mj-text>\n`);
    expect(changed).not.toBe(files['annual/en.mjml']);
    return { ...files, 'annual/en.mjml': changed };
  };

  await saveDraft(t.app.db, { ref, arm: 'A', baseVersion: base, files: edit('DRAFT ONLY'), actor: 'gina', message: 'draft' });
  const first = await publishEdit(t.app.db, t.config, t.config.templatesDir, { ref, arm: 'A', files: edit('Gina was here'), baseVersion: base, actor: 'gina', message: 'mine' });
  expect(first.status).toBe('published');
  const conflict = await publishEdit(t.app.db, t.config, t.config.templatesDir, { ref, arm: 'A', files: edit('Hank was here'), baseVersion: base, actor: 'hank', message: 'mine too' }).catch((e: unknown) => e);
  expect(conflict).toBeInstanceOf(PublishConflict);
  expect((conflict as Error).message).toMatch(/annual\/en\/30 arm A is now at version [0-9a-f]{12} \(published by gina/);

  const sent = await sendOne(T);
  expect(sent.html).toContain('Gina was here');
  expect(sent.html).not.toContain('DRAFT ONLY');
  // Only the 30-day email changed: the editor publishes one variant.
  expect(await live('annual/en/14')).toBe(base);

  const refused = await publishEdit(t.app.db, t.config, t.config.templatesDir, {
    ref,
    arm: 'A',
    files: { ...files, 'common/en.mjml': dropUnsubscribe(files['common/en.mjml']!) },
    baseVersion: (await live('annual/en/30'))!,
    actor: 'hank',
    message: 'oops',
  });
  expect(refused.status).toBe('refused');
  expect(sent.row.template_version).toBe(await live('annual/en/30'));
});
