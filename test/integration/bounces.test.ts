import { readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { sql } from 'kysely';
import { ingestRawMessage } from '../../src/bounces/ingest';
import { sendSalesDigest, startSalesDigestLoop } from '../../src/bounces/sales-digest';
import { listUnreachable } from '../../src/bounces/unreachable';
import { deliverabilityReport } from '../../src/bounces/deliverability';
import { addDays, businessDate } from '../../src/dates';
import { unsuppressAddress } from '../../src/ops/holds';
import { runCli } from '../helpers/cli';
import { insertLicense, insertOrder } from '../helpers/fixtures';
import { useMailTestEnv } from '../helpers/mail-test-env';
import type { SmtpTestServer } from '../helpers/smtp';
import { type TestEnv, waitFor } from '../helpers/test-env';

const DIR = path.resolve(__dirname, '../fixtures/bounces');
const T = '2027-05-03';

interface FixtureCase {
  file: string;
  ledgerId: string;
  recipient: string;
  messageId: string;
  expect: { type: string | null; status?: string; matchedBy?: string };
}
const manifest = JSON.parse(readFileSync(path.join(DIR, 'manifest.json'), 'utf8')) as FixtureCase[];

let t: TestEnv;
let smtp: SmtpTestServer;
useMailTestEnv('bounces', { BOUNCE_ADDRESS: 'bounces@example.com', SALES_EMAIL: 'sales@example.com', SOFT_BOUNCE_LIMIT: '3', SOFT_BOUNCE_WINDOW_DAYS: '30' }, (env, server) => {
  t = env;
  smtp = server;
});
beforeEach(async () => {
  await sql`truncate bounce_events, bounce_messages, suppression_log, sales_digests`.execute(t.app.db);
});

const deps = () => ({ db: t.app.db, config: t.config, logger: t.app.logger });
const ingest = (raw: Buffer | string) => ingestRawMessage(deps(), 'mta', Buffer.isBuffer(raw) ? raw : Buffer.from(raw));
const ledgerRow = (id: string) => t.app.db.selectFrom('reminder_ledger').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
const suppression = async (address: string) =>
  (await t.app.db.selectFrom('suppressed_addresses').select('reason').where('address', '=', address).executeTakeFirst())?.reason ?? null;
const count = async (table: 'bounce_events' | 'bounce_messages') => Number((await t.app.db.selectFrom(table).select(sql<string>`count(*)`.as('n')).executeTakeFirstOrThrow()).n);

/** A sent ledger row with a given id and Message-ID, as the worker leaves one. */
async function seedSentRow(id: string, recipient: string, messageId: string): Promise<void> {
  const { orderId } = await insertOrder(t.app.db, { contacts: [{ email: recipient }] });
  const licenseId = await insertLicense(t.app.db, { orderId, expiresOn: addDays(T, 30), key: `KEY-${id}` });
  await sql`
    insert into reminder_ledger
      (id, kind, license_id, license_key, order_id, order_number, expires_on, offset_days, recipient, scan_date, group_key, status, message_id, sent_at)
    overriding system value values (${id}, 'license', ${licenseId}, ${`KEY-${id}`}, ${orderId}, ${`ORD-${orderId}`}, ${addDays(T, 30)}, 30, ${recipient}, ${T}, ${`g-${id}`}, 'sent', ${messageId}, now())`.execute(t.app.db);
}

/** A Postfix-style DSN for a message, sent to its envelope sender. */
function dsn(to: string, recipient: string, status: string, diagnostic: string, messageId: string): string {
  return `Return-Path: <>
From: MAILER-DAEMON@mx.example.net (Mail Delivery System)
To: ${to}
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain

Your message could not be delivered.

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net

Final-Recipient: rfc822; ${recipient}
Action: failed
Status: ${status}
Diagnostic-Code: smtp; ${diagnostic}

--B
Content-Type: text/rfc822-headers

Message-ID: <${messageId}>
To: ${recipient}

--B--
`;
}

describe('the corpus, each bounce against its reminder', () => {
  it('moves hard bounces sent → bounced and suppresses, counts soft ones, suppresses complainers, leaves delays alone', async () => {
    for (const c of manifest) await seedSentRow(c.ledgerId, c.recipient, c.messageId);
    for (const c of manifest) {
      const outcome = await ingest(readFileSync(path.join(DIR, c.file)));
      const row = await ledgerRow(c.ledgerId);
      const reason = await suppression(c.recipient);
      const what = `${c.file}: ${JSON.stringify(outcome.events)}`;
      if (c.expect.type === null) {
        expect({ what, events: outcome.events }).toEqual({ what, events: [] });
        expect(row.status).toBe('sent');
        continue;
      }
      expect({ what, type: outcome.events[0]?.type, ids: outcome.events[0]?.ledgerIds }).toEqual({ what, type: c.expect.type, ids: [c.ledgerId] });
      switch (c.expect.type) {
        case 'hard':
          expect({ what, status: row.status }).toEqual({ what, status: 'bounced' });
          expect(reason).toMatch(/^hard bounce: /);
          break;
        case 'complaint':
          expect({ what, status: row.status }).toEqual({ what, status: 'sent' });
          expect(reason).toMatch(/^complaint: /);
          break;
        default:
          expect({ what, status: row.status, reason }).toEqual({ what, status: 'sent', reason: null });
      }
    }
    // Every message is kept, raw, byte for byte.
    const kept = await t.app.db.selectFrom('bounce_messages').select(['raw']).execute();
    expect(kept).toHaveLength(manifest.length);
    const sources = new Set(manifest.map((c) => readFileSync(path.join(DIR, c.file)).toString('base64')));
    for (const k of kept) expect(sources.has(k.raw.toString('base64'))).toBe(true);
  });

  it('records the same bounce twice once', async () => {
    const c = manifest.find((m) => m.file === 'postfix-user-unknown.eml')!;
    await seedSentRow(c.ledgerId, c.recipient, c.messageId);
    const raw = readFileSync(path.join(DIR, c.file));
    const first = await ingest(raw);
    expect(first.events[0]?.recorded).toBe(true);
    const again = await ingest(raw);
    expect(again.duplicate).toBe(true);
    expect(again.events[0]).toMatchObject({ recorded: false, action: 'already recorded' });
    // The same bounce with other transport headers (another MX added a line): one event still.
    const relayed = await ingest(Buffer.concat([Buffer.from('Received: from mx2.example.com by mx.example.com; Mon, 30 Nov 2026 06:00:07 +0000\n'), raw]));
    expect(relayed.duplicate).toBe(false);
    expect(relayed.events[0]?.recorded).toBe(false);
    expect(await count('bounce_events')).toBe(1);
    const events = await t.app.db.selectFrom('reminder_events').select('event').where('ledger_id', '=', c.ledgerId).where('event', '=', 'bounced').execute();
    expect(events).toHaveLength(1);
  });

  it('a forged VERP token or an unknown Message-ID changes nothing', async () => {
    await seedSentRow('7001', 'victim@example.org', 'reminder.7001.aaaaaaaaaaaa@example.com');
    const forged = dsn('bounces+7001-0123456789abcdef@example.com', 'victim@example.org', '5.1.1', '550 5.1.1 user unknown', 'reminder.9999.bbbbbbbbbbbb@example.com');
    const outcome = await ingest(forged);
    expect(outcome.events).toEqual([expect.objectContaining({ type: 'hard', ledgerIds: [], matchedBy: null, action: 'none: names no reminder we sent' })]);
    expect((await ledgerRow('7001')).status).toBe('sent');
    expect(await suppression('victim@example.org')).toBeNull();
    expect(await count('bounce_messages')).toBe(1);
  });

  it('soft bounces suppress at SOFT_BOUNCE_LIMIT within the window, counting again after an unsuppress', async () => {
    const address = 'often-full@example.org';
    for (const id of ['7101', '7102', '7103', '7104']) await seedSentRow(id, address, `reminder.${id}.cccccccccccc@example.com`);
    const soft = (id: string) => ingest(dsn('renewals@example.com', address, '4.2.2', '452 4.2.2 mailbox full', `reminder.${id}.cccccccccccc@example.com`));
    expect((await soft('7101')).events[0]?.action).toBe('soft bounce 1 of 3 within 30 days');
    expect((await soft('7102')).events[0]?.action).toBe('soft bounce 2 of 3 within 30 days');
    expect(await suppression(address)).toBeNull();
    expect((await soft('7103')).events[0]?.action).toMatch(/^soft bounce 3 of 3 within 30 days; address suppressed/);
    expect(await suppression(address)).toMatch(/^3 soft bounces within 30 days, the last: 4\.2\.2/);
    // Soft bounces never mark rows bounced.
    expect((await ledgerRow('7103')).status).toBe('sent');

    const { removedReason } = await unsuppressAddress(t.app.db, address, 'operator test');
    expect(removedReason).toMatch(/soft bounces/);
    const log = await t.app.db.selectFrom('suppression_log').select(['action', 'reason']).where('address', '=', address).orderBy('id').execute();
    expect(log.map((l) => l.action)).toEqual(['suppressed', 'unsuppressed']);
    expect(log[1]?.reason).toMatch(/soft bounces/);
    expect((await soft('7104')).events[0]?.action).toBe('soft bounce 1 of 3 within 30 days');
  });

  it('never throws out of the ingest path and never loses the raw message (random and truncated MIME)', async () => {
    const corpus = manifest.map((c) => readFileSync(path.join(DIR, c.file)));
    const truncated = fc.tuple(fc.constantFrom(...corpus), fc.nat()).map(([raw, n]) => raw.subarray(0, n % (raw.length + 1)));
    const mangled = fc.tuple(fc.constantFrom(...corpus), fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 64 })).map(([raw, n, junk]) => {
      const at = n % (raw.length + 1);
      return Buffer.concat([raw.subarray(0, at), Buffer.from(junk), raw.subarray(at)]);
    });
    const random = fc.uint8Array({ maxLength: 2048 }).map((a) => Buffer.from(a));
    const headerish = fc
      .array(fc.constantFrom('Content-Type: multipart/report; boundary="x"\n', '--x\n', 'Content-Type: message/delivery-status\n', '\n', 'Status: 5.1.1\n', 'Final-Recipient: rfc822;', 'Action: failed\n', '=?utf-8?B?', 'Content-Transfer-Encoding: base64\n', '\u0000', '\u00ff\u00fe'), { maxLength: 40 })
      .map((parts) => Buffer.from(parts.join(''), 'latin1'));
    await fc.assert(
      fc.asyncProperty(fc.oneof(truncated, mangled, random, headerish), async (raw) => {
        const outcome = await ingest(raw);
        const kept = await t.app.db.selectFrom('bounce_messages').select('raw').where('id', '=', outcome.bounceMessageId).executeTakeFirstOrThrow();
        expect(kept.raw.equals(raw)).toBe(true);
      }),
      { numRuns: 150 },
    );
  });
});

describe('end to end: VERP, a hard bounce, the next reminder, sales', () => {
  it('a hard bounce to the VERP address suppresses; the next reminder is skipped with the reason; sales hear of the order', async () => {
    const { orderId } = await insertOrder(t.app.db, { orderNumber: 'ORD-DEAD', customerName: 'Dead Address Ltd', contacts: [{ email: 'gone@dead.example' }] });
    const expiry = addDays(T, 30);
    await insertLicense(t.app.db, { orderId, expiresOn: expiry, key: 'KEY-DEAD', product: 'Dynamic Web TWAIN' });
    await t.scan(T);
    await t.drain();
    const mail = smtp.received.find((m) => m.to === 'gone@dead.example')!;
    const first = await t.app.db.selectFrom('reminder_ledger').selectAll().where('recipient', '=', 'gone@dead.example').executeTakeFirstOrThrow();
    expect(mail.from).toMatch(new RegExp(`^bounces\\+${first.id}-[0-9a-f]{16}@example\\.com$`));

    // The receiving MX bounces it later, to the envelope sender; the MTA pipes it in.
    const bounce = dsn(mail.from!, 'gone@dead.example', '5.1.1', '550 5.1.1 <gone@dead.example>: Recipient address rejected: User unknown', 'not-our-id@elsewhere');
    const cli = await runCliWithInput(['bounces', 'ingest', '-'], bounce);
    expect(cli.code).toBe(0);
    expect(cli.stdout).toMatch(/hard gone@dead\.example: 1 row\(s\) sent → bounced; address suppressed/);
    expect((await ledgerRow(first.id)).status).toBe('bounced');

    // The next reminder (14 days before) is not sent, and says why.
    await t.scan(addDays(expiry, -14));
    await t.drain();
    const next = await t.app.db.selectFrom('reminder_ledger').selectAll().where('recipient', '=', 'gone@dead.example').where('offset_days', '=', 14).executeTakeFirstOrThrow();
    expect(next.status).toBe('skipped');
    expect(next.reason).toMatch(/^suppressed: hard bounce: 5\.1\.1 550 5\.1\.1/);
    expect(smtp.received.filter((m) => m.to === 'gone@dead.example')).toHaveLength(1);

    // Sales: listed, and the digest goes once a day.
    const today = addDays(expiry, -14);
    const listed = await listUnreachable(t.app.db, t.config, today);
    expect(listed).toEqual([
      expect.objectContaining({
        orderNumber: 'ORD-DEAD',
        customerName: 'Dead Address Ltd',
        items: [{ licenseKey: 'KEY-DEAD', product: 'Dynamic Web TWAIN', kind: 'license', expiresOn: expiry }],
        contacts: [{ address: 'gone@dead.example', why: expect.stringMatching(/^suppressed: hard bounce/) }],
      }),
    ]);
    const digestDeps = { db: t.app.db, mailer: () => t.app.mailer(), config: t.config, logger: t.app.logger };
    expect(await sendSalesDigest(digestDeps, { today })).toMatchObject({ sent: true, orders: 1 });
    expect(await sendSalesDigest(digestDeps, { today })).toMatchObject({ sent: false });
    const digests = smtp.received.filter((m) => m.to === 'sales@example.com');
    expect(digests).toHaveLength(1);
    expect(digests[0]!.parsed.text).toContain('Order ORD-DEAD — Dead Address Ltd');
    expect(digests[0]!.parsed.text).toContain(`license KEY-DEAD (Dynamic Web TWAIN) expires ${expiry}`);
    expect(digests[0]!.parsed.text).toMatch(/gone@dead\.example: suppressed: hard bounce/);

    // The figures: one message sent, one hard bounce received, on their days.
    const report = await deliverabilityReport(t.app.db, { timezone: 'UTC' }, { from: '2000-01-01', to: '2100-01-01' });
    expect(report.total).toMatchObject({ sent: 1, hardBounces: 1, bounceRate: 1 });
    expect(report.total.flags).toEqual(['bounces 100.00 %: over 2 %']);
    expect(report.domains.find((d) => d.domain === 'dead.example')).toMatchObject({ sent: 1, hardBounces: 1 });
  });

  it('an order with one working contact is not unreachable', async () => {
    const { orderId } = await insertOrder(t.app.db, { orderNumber: 'ORD-HALF', contacts: [{ email: 'dead@half.example' }, { email: 'alive@half.example' }] });
    await insertLicense(t.app.db, { orderId, expiresOn: addDays(T, 30) });
    await t.app.db.insertInto('suppressed_addresses').values({ address: 'dead@half.example', reason: 'hard bounce' }).execute();
    expect(await listUnreachable(t.app.db, t.config, T)).toEqual([]);
    await t.app.db.insertInto('suppressed_addresses').values({ address: 'alive@half.example', reason: 'complaint' }).execute();
    expect((await listUnreachable(t.app.db, t.config, T)).map((r) => r.orderNumber)).toEqual(['ORD-HALF']);
  });
});

describe('the daily digest and `reminders unreachable`', () => {
  it('the daemon loop sends today\'s digest once today\'s scan is done, once however often it checks', async () => {
    const today = businessDate(new Date(), t.config.timezone);
    const { orderId } = await insertOrder(t.app.db, { orderNumber: 'ORD-TODAY', customerName: 'Bounced Everywhere', contacts: [{ email: 'a@gone.example' }, { email: 'b@gone.example' }] });
    await insertLicense(t.app.db, { orderId, expiresOn: addDays(today, 20), key: 'KEY-TODAY' });
    await t.app.db.insertInto('suppressed_addresses').values([{ address: 'a@gone.example', reason: 'hard bounce: 5.1.1' }, { address: 'b@gone.example', reason: 'complaint: marked as spam' }]).execute();
    const digestDeps = { db: t.app.db, mailer: () => t.app.mailer(), config: t.config, logger: t.app.logger };
    const stop = startSalesDigestLoop(digestDeps, 20);
    try {
      // No digest before today's scan has completed.
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(smtp.received.filter((m) => m.to === 'sales@example.com')).toHaveLength(0);
      await t.app.db.insertInto('scan_runs').values({ scan_date: today, completed_at: new Date(), duration_ms: 1 }).execute();
      await waitFor(() => smtp.received.some((m) => m.to === 'sales@example.com'), 'the sales digest');
      await new Promise((resolve) => setTimeout(resolve, 300));
    } finally {
      stop();
    }
    const digests = smtp.received.filter((m) => m.to === 'sales@example.com');
    expect(digests).toHaveLength(1);
    expect(digests[0]!.parsed.text).toContain('Order ORD-TODAY — Bounced Everywhere');
    expect(digests[0]!.parsed.text).toContain('b@gone.example: suppressed: complaint: marked as spam');
    expect(await t.app.db.selectFrom('sales_digests').select(['orders']).where('digest_date', '=', today).executeTakeFirstOrThrow()).toEqual({ orders: 1 });

    const json = await runCli(['unreachable', '--json'], t.env);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout.trim())).toMatchObject({ orderNumber: 'ORD-TODAY', contacts: [{ address: 'a@gone.example' }, { address: 'b@gone.example' }] });
    const emailed = await runCli(['unreachable', '--email'], { ...t.env, SMTP_URL: smtp.url, SALES_EMAIL: 'sales@example.com' });
    expect(emailed.stdout).toMatch(/Sent to sales@example\.com \(1 order\(s\)\)/);
    expect(smtp.received.filter((m) => m.to === 'sales@example.com')).toHaveLength(2);
  });
});

describe('reminders bounces ingest', () => {
  it('exits 0 for a message it cannot read (stored), and 75 when it cannot store it', async () => {
    const stored = await runCliWithInput(['bounces', 'ingest'], 'complete garbage \u0000\u0001');
    expect(stored.code).toBe(0);
    expect(stored.stdout).toMatch(/stored as bounce message \d+/);
    expect(await count('bounce_messages')).toBe(1);
    const down = await runCliWithInput(['bounces', 'ingest', '-'], dsn('x@example.com', 'y@example.org', '5.1.1', '550', 'z@example.com'), {
      DATABASE_URL: 'postgres://postgres@127.0.0.1:1/nothing',
    });
    expect(down.code).toBe(75);
    expect(down.stderr).toMatch(/the bounce was not stored/);
  });
});

async function runCliWithInput(args: string[], input: string, env: Record<string, string> = {}) {
  const { spawn } = await import('node:child_process');
  const { ROOT, exited } = await import('../helpers/cli');
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: ROOT, env: { ...process.env, ...t.env, SMTP_URL: smtp.url, BOUNCE_ADDRESS: 'bounces@example.com', ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdin.end(input);
  const code = await exited(child);
  return { code, stdout, stderr };
}
