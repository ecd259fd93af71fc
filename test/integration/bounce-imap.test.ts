import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ImapFlow } from 'imapflow';
import { sql } from 'kysely';
import { pollBounceMailbox } from '../../src/bounces/imap-mailbox';
import { addDays } from '../../src/dates';
import { exited, spawnCli } from '../helpers/cli';
import { type DovecotServer, startDovecot } from '../helpers/dovecot';
import { insertLicense, insertOrder } from '../helpers/fixtures';
import { createTestEnv, type TestEnv, waitFor } from '../helpers/test-env';

const DIR = path.resolve(__dirname, '../fixtures/bounces');
const T = '2027-05-03';
let t: TestEnv;
let dovecot: DovecotServer;

beforeAll(async () => {
  dovecot = await startDovecot();
  t = await createTestEnv('bounce_imap', { BOUNCE_IMAP_URL: dovecot.url, BOUNCE_IMAP_PROCESSED: 'Processed' });
}, 180_000);
afterAll(async () => {
  await t?.cleanup();
  await dovecot?.stop();
});

async function withMailbox<T>(run: (client: ImapFlow) => Promise<T>): Promise<T> {
  const client = new ImapFlow({ host: '127.0.0.1', port: dovecot.port, secure: false, auth: { user: dovecot.user, pass: dovecot.password }, logger: false });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.logout();
  }
}
const countIn = (folder: string) =>
  withMailbox(async (c) => {
    const status = await c.status(folder, { messages: true });
    return status ? (status.messages ?? 0) : -1;
  });

type ManifestEntry = { file: string; ledgerId: string; recipient: string; messageId: string };
const manifest = JSON.parse(readFileSync(path.join(DIR, 'manifest.json'), 'utf8')) as ManifestEntry[];

/** A reminder of the fixture's, recorded as sent to its recipient under its ledger id and Message-ID. */
async function sentReminderFor(c: ManifestEntry): Promise<void> {
  const { orderId } = await insertOrder(t.app.db, { contacts: [{ email: c.recipient }] });
  const licenseId = await insertLicense(t.app.db, { orderId, expiresOn: addDays(T, 30) });
  await sql`
    insert into reminder_ledger
      (id, kind, license_id, license_key, order_id, order_number, expires_on, offset_days, recipient, scan_date, group_key, status, message_id, sent_at)
    overriding system value values (${c.ledgerId}, 'license', ${licenseId}, ${`K-${c.ledgerId}`}, ${orderId}, ${`O-${c.ledgerId}`}, ${addDays(T, 30)}, 30, ${c.recipient}, ${T}, ${`g-${c.ledgerId}`}, 'sent', ${c.messageId}, now())`.execute(t.app.db);
}

describe('the bounce mailbox over IMAP (Dovecot)', () => {
  it('ingests each message, moves it to Processed (never deletes), and acts on the bounce', async () => {
    const fixture = 'postfix-user-unknown.eml';
    const manifest = JSON.parse(readFileSync(path.join(DIR, 'manifest.json'), 'utf8')) as Array<{ file: string; ledgerId: string; recipient: string; messageId: string }>;
    const c = manifest.find((m) => m.file === fixture)!;
    const { orderId } = await insertOrder(t.app.db, { contacts: [{ email: c.recipient }] });
    const licenseId = await insertLicense(t.app.db, { orderId, expiresOn: addDays(T, 30) });
    await sql`
      insert into reminder_ledger
        (id, kind, license_id, license_key, order_id, order_number, expires_on, offset_days, recipient, scan_date, group_key, status, message_id, sent_at)
      overriding system value values (${c.ledgerId}, 'license', ${licenseId}, 'K', ${orderId}, 'O', ${addDays(T, 30)}, 30, ${c.recipient}, ${T}, 'g', 'sent', ${c.messageId}, now())`.execute(t.app.db);

    const bounce = readFileSync(path.join(DIR, fixture));
    const junk = Buffer.from('From: someone@example.net\r\nSubject: hello\r\n\r\nnot a bounce at all\r\n');
    await withMailbox(async (client) => {
      await client.append('INBOX', bounce);
      await client.append('INBOX', junk);
    });
    expect(await countIn('INBOX')).toBe(2);

    const deps = { db: t.app.db, config: t.config, logger: t.app.logger };
    expect(await pollBounceMailbox(deps, t.config)).toEqual({ ingested: 2, leftForLater: 0 });
    expect(await countIn('INBOX')).toBe(0);
    expect(await countIn('Processed')).toBe(2);

    const row = await t.app.db.selectFrom('reminder_ledger').select('status').where('id', '=', c.ledgerId).executeTakeFirstOrThrow();
    expect(row.status).toBe('bounced');
    const kept = await t.app.db.selectFrom('bounce_messages').select(['channel', 'raw', 'problem']).orderBy('id').execute();
    expect(kept.map((k) => k.channel)).toEqual(['imap', 'imap']);
    expect(kept.some((k) => k.raw.toString().includes('not a bounce at all') && /not a bounce/.test(k.problem ?? ''))).toBe(true);

    // A second round finds nothing; the processed messages stay in Processed.
    expect(await pollBounceMailbox(deps, t.config)).toEqual({ ingested: 0, leftForLater: 0 });
    expect(await countIn('Processed')).toBe(2);
  });

  it('a running daemon polls the mailbox: a bounce arriving after it started is acted on, and SIGTERM stops it cleanly', async () => {
    const c = manifest.find((m) => m.file === 'exim-plain.eml')!;
    await sentReminderFor(c);
    const daemon = spawnCli(['start', '--no-worker', '--no-http'], { ...t.env, BOUNCE_IMAP_POLL_SECONDS: '1', LOG_LEVEL: 'info' });
    try {
      await waitFor(() => /daemon started/.test(daemon.output()), 'the daemon to start', 60_000);
      const before = await countIn('Processed');
      await withMailbox((client) => client.append('INBOX', readFileSync(path.join(DIR, c.file))));
      const row = await waitFor(
        async () => {
          const r = await t.app.db.selectFrom('reminder_ledger').select(['status', 'reason']).where('id', '=', c.ledgerId).executeTakeFirstOrThrow();
          return r.status === 'bounced' ? r : undefined;
        },
        'the daemon to ingest the bounce',
        30_000,
      );
      expect(row.status).toBe('bounced');
      expect(await countIn('INBOX')).toBe(0);
      expect(await countIn('Processed')).toBe(before + 1);
      expect(daemon.output()).toMatch(/bounce mailbox: 1 message\(s\) ingested/);
    } finally {
      daemon.kill('SIGTERM');
      expect(await exited(daemon)).toBe(0);
    }
  }, 120_000);
});
