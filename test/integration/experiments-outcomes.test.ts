import path from 'node:path';
import { addDays } from '../../src/dates';
import { compareArms, type OutcomeRow } from '../../src/outcomes/outcome-table';
import { armFor, liveVersions, publishFolder } from '../../src/templates-store';
import { runCli } from '../helpers/cli';
import { insertLicense, insertOrder } from '../helpers/fixtures';
import { useMailTestEnv } from '../helpers/mail-test-env';
import { duplicateDeliveries, type SmtpTestServer } from '../helpers/smtp';
import { editFile, useTemplateCopies } from '../helpers/template-copies';
import type { TestEnv } from '../helpers/test-env';

jest.setTimeout(240_000);

const copy = useTemplateCopies();
let t: TestEnv;
let smtp: SmtpTestServer;
useMailTestEnv('outcomes', {}, (env, server) => {
  t = env;
  smtp = server;
});
afterEach(() => {
  expect(duplicateDeliveries(smtp.received)).toEqual([]);
});

const live = async (variant: string, arm: string) => (await liveVersions(t.app.db)).find((l) => l.variant === variant && l.arm === arm)?.version;

it('arm B: each series gets the arm of its license key and variant, the ledger records it, and ending the experiment keeps one copy', async () => {
  const T = '2027-09-06';
  const dir = copy();
  editFile(path.join(dir, 'annual/en.mjml'), (text) => text.replace('Renewing now takes a minute', 'Arm B copy: renew in a minute'));
  const outcome = await publishFolder(t.app.db, dir, t.config, { actor: 'ann', message: 'try a shorter line', arm: 'B', source: 'files' });
  expect(outcome.status).toBe('published');
  const a = (await live('annual/en/30', 'A'))!;
  const b = (await live('annual/en/30', 'B'))!;
  expect(b).not.toBe(a);

  const keys = Array.from({ length: 16 }, (_, i) => `EXP-${i}`);
  for (const key of keys) {
    const { orderId } = await insertOrder(t.app.db, { contacts: [{ email: `${key.toLowerCase()}@example.com` }] });
    await insertLicense(t.app.db, { orderId, key, expiresOn: addDays(T, 30) });
  }
  await t.scan(T);
  await t.drain();
  const rows = await t.app.db.selectFrom('reminder_ledger').select(['license_key', 'recipient', 'status', 'template_arm', 'template_version']).execute();
  expect(rows).toHaveLength(16);
  for (const row of rows) {
    const arm = armFor(row.license_key, 'annual/en/30');
    expect(row).toMatchObject({ status: 'sent', template_arm: arm, template_version: arm === 'A' ? a : b });
    const html = smtp.received.find((m) => m.to === row.recipient)?.parsed.html;
    expect(html && html.includes('Arm B copy')).toBe(arm === 'B');
  }
  expect(new Set(rows.map((r) => r.template_arm))).toEqual(new Set(['A', 'B']));

  const cli = await runCli(['templates', 'end-experiment', '--kind', 'annual', '--offset', '30', '--locale', 'en', '--keep', 'B', '--actor', 'ann'], t.env);
  expect(cli.code).toBe(0);
  expect(await live('annual/en/30', 'A')).toBe(b);
  expect(await live('annual/en/30', 'B')).toBeUndefined();
  // Other offsets of the experiment still run until ended.
  expect(await live('annual/en/14', 'B')).toBe(b);
});

describe('renewal outcomes', () => {
  // A seeded history, all in the past: every series' 30-day window after expiry has closed.
  const E = '2026-03-31';
  let seq = 0;
  async function license(key: string, type: 'annual' | 'lifetime' = 'annual'): Promise<{ id: string; orderId: string }> {
    const { orderId } = await insertOrder(t.app.db, { contacts: [{ email: `${key}@example.com` }] });
    const id = await insertLicense(t.app.db, type === 'annual' ? { orderId, key, expiresOn: E } : { orderId, key, type, maintenanceExpiresOn: E });
    return { id, orderId };
  }
  async function sent(l: { id: string; orderId: string }, key: string, r: { kind?: 'license' | 'maintenance'; offset: number; version: string; arm: 'A' | 'B'; locale: string; recipient?: string }) {
    const scanDate = addDays(E, -r.offset);
    const recipient = r.recipient ?? `${key}@example.com`;
    await t.app.db
      .insertInto('reminder_ledger')
      .values({
        kind: r.kind ?? 'license',
        license_id: l.id,
        license_key: key,
        order_id: l.orderId,
        order_number: `ORD-${l.orderId}`,
        expires_on: E,
        offset_days: r.offset,
        recipient,
        scan_date: scanDate,
        group_key: `seed-${++seq}`,
        status: 'sent',
        reason: null,
        sent_at: `${scanDate}T06:00:00Z`,
        template_version: r.version,
        template_arm: r.arm,
        template_locale: r.locale,
      })
      .execute();
  }
  async function renew(l: { id: string }, kind: 'license' | 'maintenance', observedOn: string) {
    await t.app.db
      .updateTable('licenses')
      .set(kind === 'license' ? { expires_on: addDays(E, 365) } : { maintenance_expires_on: addDays(E, 365) })
      .where('id', '=', l.id)
      .execute();
    // The daily scan of that day sees the expiry date moved forward.
    await t.scan(observedOn);
  }

  it('gives the exact table per kind × offset × locale × version × arm, in JSON and CSV, and compares the arms', async () => {
    const v1 = 'a1a1a1a1a1a1';
    const v2 = 'b2b2b2b2b2b2';
    const v3 = 'c3c3c3c3c3c3';
    const L: Record<string, { id: string; orderId: string }> = {};
    for (const key of ['l1', 'l2', 'l3', 'l4', 'l5', 'l6', 'l7', 'l8']) L[key] = await license(key);
    L.l9 = await license('l9', 'lifetime');
    for (const key of ['l1', 'l2', 'l3', 'l4', 'l5']) await sent(L[key]!, key, { offset: 30, version: v1, arm: 'A', locale: 'en' });
    await sent(L.l1!, 'l1', { offset: 30, version: v1, arm: 'A', locale: 'en', recipient: 'l1-second@example.com' });
    for (const key of ['l6', 'l7', 'l8']) await sent(L[key]!, key, { offset: 30, version: v2, arm: 'B', locale: 'en' });
    await sent(L.l4!, 'l4', { offset: 14, version: v1, arm: 'A', locale: 'en' });
    await sent(L.l9!, 'l9', { kind: 'maintenance', offset: 7, version: v3, arm: 'A', locale: 'de' });

    await renew(L.l6!, 'license', '2026-03-05'); // 4 days after its reminder
    await renew(L.l7!, 'license', '2026-03-06'); // 5
    await renew(L.l1!, 'license', '2026-03-10'); // 9
    await renew(L.l9!, 'maintenance', '2026-03-26'); // 2 days after the 7-day reminder
    await renew(L.l2!, 'license', '2026-03-31'); // on the expiry day: before expiry, 30 days
    await renew(L.l3!, 'license', '2026-04-20'); // 20 days after expiry: within 30, 50 days
    await renew(L.l5!, 'license', '2026-05-15'); // 45 days after expiry: not renewed in time
    expect(await t.app.db.selectFrom('license_renewals').select(['license_id', 'observed_on']).orderBy('observed_on').execute()).toHaveLength(7);

    const json = await runCli(['report', 'outcomes', '--from', '2026-01-01', '--to', '2026-06-30', '--json'], t.env);
    expect(json.code).toBe(0);
    const report = JSON.parse(json.stdout) as { rows: OutcomeRow[]; comparisons: ReturnType<typeof compareArms> };
    expect(report.rows).toEqual([
      { kind: 'license', offset: 30, locale: 'en', templateVersion: v1, arm: 'A', sent: 6, renewedBeforeExpiry: 2, renewedAfterExpiry: 1, notRenewed: 2, medianDaysToRenewal: 30 },
      { kind: 'license', offset: 30, locale: 'en', templateVersion: v2, arm: 'B', sent: 3, renewedBeforeExpiry: 2, renewedAfterExpiry: 0, notRenewed: 1, medianDaysToRenewal: 4.5 },
      { kind: 'license', offset: 14, locale: 'en', templateVersion: v1, arm: 'A', sent: 1, renewedBeforeExpiry: 0, renewedAfterExpiry: 0, notRenewed: 1, medianDaysToRenewal: null },
      { kind: 'maintenance', offset: 7, locale: 'de', templateVersion: v3, arm: 'A', sent: 1, renewedBeforeExpiry: 1, renewedAfterExpiry: 0, notRenewed: 0, medianDaysToRenewal: 2 },
    ]);
    expect(report.comparisons).toEqual([
      expect.objectContaining({
        kind: 'license',
        offset: 30,
        locale: 'en',
        a: { series: 5, renewed: 3, rate: 0.6 },
        b: { series: 3, renewed: 2, rate: 2 / 3 },
        significant: false,
        verdict: expect.stringMatching(/^not yet significant: \+6\.7 % \(95 % CI -\d+\.\d % to \d+\.\d %\)$/),
      }),
    ]);

    const csv = await runCli(['report', 'outcomes', '--from', '2026-01-01', '--to', '2026-06-30', '--csv'], t.env);
    expect(csv.stdout).toBe(
      [
        'kind,offset,locale,templateVersion,arm,sent,renewedBeforeExpiry,renewedAfterExpiry,notRenewed,medianDaysToRenewal',
        `license,30,en,${v1},A,6,2,1,2,30`,
        `license,30,en,${v2},B,3,2,0,1,4.5`,
        `license,14,en,${v1},A,1,0,0,1,`,
        `maintenance,7,de,${v3},A,1,1,0,0,2`,
        '',
      ].join('\r\n'),
    );
    // --from/--to select reminders by their business date.
    const late = JSON.parse((await runCli(['report', 'outcomes', '--from', '2026-03-15', '--json'], t.env)).stdout) as { rows: OutcomeRow[] };
    expect(late.rows.map((r) => `${r.kind}/${r.offset}`)).toEqual(['license/14', 'maintenance/7']);
  });

  it('says when a difference is significant', () => {
    const row = (arm: string, renewed: number, notRenewed: number): OutcomeRow => ({
      kind: 'license', offset: 30, locale: 'en', templateVersion: arm === 'A' ? 'v1' : 'v2', arm, sent: renewed + notRenewed, renewedBeforeExpiry: renewed, renewedAfterExpiry: 0, notRenewed, medianDaysToRenewal: 5,
    });
    // 40 % against 50 % over 1,000 series each: difference 10 points, standard error about 2.2.
    const [c] = compareArms([row('A', 400, 600), row('B', 500, 500)]);
    expect(c!.significant).toBe(true);
    expect(c!.difference).toBeCloseTo(0.1, 10);
    expect(c!.confidenceInterval![0]).toBeCloseTo(0.1 - 1.959964 * Math.sqrt(0.24 / 1000 + 0.25 / 1000), 6);
    expect(c!.verdict).toBe('B renews more: +10.0 % (95 % CI 5.7 % to 14.3 %)');
    const [small] = compareArms([row('A', 4, 6), row('B', 5, 5)]);
    expect(small!.significant).toBe(false);
    expect(small!.verdict).toMatch(/^not yet significant/);
  });
});
