import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ImapFlow } from 'imapflow';
import { sql } from 'kysely';
import { pollBounceMailbox } from '../../src/bounces/imap-mailbox';
import { addDays } from '../../src/dates';
import { type DovecotServer, startDovecot } from '../helpers/dovecot';
import { insertLicense, insertOrder } from '../helpers/fixtures';
import { createTestEnv, type TestEnv } from '../helpers/test-env';

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
});
