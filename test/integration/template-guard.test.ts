import path from 'node:path';
import { createApp } from '../../src/app';
import { createLogger } from '../../src/logger';
import { checkHealth } from '../../src/ops/health';
import { createMetrics } from '../../src/ops/metrics';
import { replay } from '../../src/ops/replay';
import { addDays } from '../../src/dates';
import { exited, spawnCli } from '../helpers/cli';
import { insertLicense, insertOrder } from '../helpers/fixtures';
import { useMailTestEnv } from '../helpers/mail-test-env';
import { duplicateDeliveries, type SmtpTestServer } from '../helpers/smtp';
import { editFile, useTemplateCopies } from '../helpers/template-copies';
import type { TestEnv } from '../helpers/test-env';

// A template edited in production and broken: the last good version keeps sending, visibly.
jest.setTimeout(120_000);

const T = '2027-09-06';
const copy = useTemplateCopies();
const dir = copy();
let t: TestEnv;
let smtp: SmtpTestServer;
useMailTestEnv('tguard', { TEMPLATES_DIR: dir, TEMPLATE_RELOAD_CHECK_MS: '0' }, (env, server) => {
  t = env;
  smtp = server;
});
afterEach(() => {
  expect(duplicateDeliveries(smtp.received)).toEqual([]);
});

const ledger = () => t.app.db.selectFrom('reminder_ledger').selectAll().orderBy('id').execute();
const dropUnsubscribe = (text: string) => text.replace(/<br \/><a href="\{\{links\.unsubscribe\}\}">[^<]*<\/a>/, '');

async function dueOn(date: string, email: string, days = 30): Promise<void> {
  const { orderId } = await insertOrder(t.app.db, { contacts: [{ email }] });
  await insertLicense(t.app.db, { orderId, expiresOn: addDays(date, days) });
  await t.scan(date);
}

it('an edit without the unsubscribe link is refused: the last good version is sent, and /healthz and /metrics say so, also after a restart', async () => {
  await dueOn(T, 'first@example.com');
  await t.drain();
  const [first] = await ledger();
  expect(first).toMatchObject({ status: 'sent' });
  const goodVersion = first!.template_version!;
  expect(await t.app.db.selectFrom('template_versions').select('version').where('family', '=', 'annual').execute()).toEqual(
    expect.arrayContaining([{ version: goodVersion }]),
  );

  editFile(path.join(dir, 'common/en.mjml'), dropUnsubscribe);
  // A new day's reminder; the renderer looks at the files before each render here (reload check 0).
  await dueOn(addDays(T, 1), 'second@example.com');
  await t.drain();

  const second = (await ledger()).find((r) => r.recipient === 'second@example.com');
  expect(second).toMatchObject({ status: 'sent', template_version: goodVersion });
  const mail = smtp.received.find((m) => m.to === 'second@example.com');
  expect(mail?.parsed.html).toContain('href="http://127.0.0.1:8080/unsubscribe?token');

  const health = await checkHealth(t.app, 3000, { smtp: false });
  expect(health.status).toBe('degraded');
  expect(health.refusedTemplates).toEqual([
    expect.objectContaining({ variant: 'annual/en/30', serving: goodVersion, problems: [expect.stringMatching(/unsubscribe link/)] }),
  ]);
  const metrics = await createMetrics(t.app).scrape();
  expect(metrics).toMatch(/^reminders_template_refused\{variant="annual\/en\/30"\} 1$/m);

  // A restarted worker has no good version in memory: it takes it from the database.
  const restarted = createApp(t.config, { logger: createLogger('silent') });
  try {
    const rendered = await restarted.renderer().render({
      kind: 'license',
      offset: 30,
      expired: false,
      daysLeft: 30,
      locale: 'en',
      contactName: 'Ann',
      recipient: 'third@example.com',
      items: [{ product: 'P', licenseKey: 'K-1', orderNumber: 'O-1', customerName: 'C', expiresOn: addDays(T, 30), daysLeft: 30 }],
      links: { renew: 'https://portal/renew', upcomingRenewals: 'https://portal/up', unsubscribe: 'https://x/unsubscribe?token=abc' },
      salesEmail: 'sales@example.com',
      supportEmail: 'support@example.com',
    });
    expect(rendered.templateVersion).toBe(goodVersion);
    expect(rendered.html).toContain('href="https://x/unsubscribe?token');
    expect(restarted.templateHealth.list().map((r) => r.variant)).toEqual(['annual/en/30']);
  } finally {
    await restarted.close();
  }

  // Fixed: the edit is adopted and the refusal clears.
  editFile(path.join(dir, 'common/en.mjml'), (text) => text.replace('listed above in the Dynamsoft customer portal.', 'listed above in the Dynamsoft customer portal.<br /><a href="{{links.unsubscribe}}">Unsubscribe from renewal reminders</a>'));
  await dueOn(addDays(T, 2), 'fourth@example.com');
  await t.drain();
  expect((await ledger()).find((r) => r.recipient === 'fourth@example.com')).toMatchObject({ status: 'sent' });
  expect(t.app.templateHealth.list()).toEqual([]);

  // An operator reads what the version a ledger row names said.
  const cli = spawnCli(['templates', 'version', goodVersion], t.env);
  expect(await exited(cli)).toBe(0);
  expect(cli.output()).toMatch(new RegExp(`^template version ${goodVersion}\nvariants: annual/en/30`));
  expect(cli.output()).toContain('===== common/en.mjml');
  expect(cli.output()).toContain('Unsubscribe from renewal reminders');
  const missing = spawnCli(['templates', 'version', 'ffffffffffff'], t.env);
  expect(await exited(missing)).not.toBe(0);
  expect(missing.output()).toMatch(/no template version ffffffffffff in this database/);
});

it('a variant that never had a good version is never sent without its unsubscribe link: it fails, visibly, and a replay after the fix delivers it once', async () => {
  // The 14-day copy of German maintenance emails has never been sent from this database.
  editFile(path.join(dir, 'common/de.mjml'), dropUnsubscribe);
  const { orderId } = await insertOrder(t.app.db, { contacts: [{ email: 'neu@example.com', locale: 'de' }] });
  await insertLicense(t.app.db, { orderId, type: 'lifetime', maintenanceExpiresOn: addDays(T, 14) });
  await t.scan(T);
  await t.drain();
  expect(smtp.received.filter((m) => m.to === 'neu@example.com')).toHaveLength(0);
  const [row] = (await ledger()).filter((r) => r.recipient === 'neu@example.com');
  expect(row).toMatchObject({ status: 'failed', reason: expect.stringMatching(/template error: .*unsubscribe link/) });

  editFile(path.join(dir, 'common/de.mjml'), (text) => text.replace('im Dynamsoft-Kundenportal.', 'im Dynamsoft-Kundenportal.<br /><a href="{{links.unsubscribe}}">Verlängerungserinnerungen abbestellen</a>'));
  await replay({ db: t.app.db, sendQueue: t.app.sendQueue(), config: t.config }, { ids: [row!.id] }, { actor: 'operator' });
  await t.drain();
  expect(smtp.received.filter((m) => m.to === 'neu@example.com')).toHaveLength(1);
});
