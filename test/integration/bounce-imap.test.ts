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

async function withMailbox<T>(run: (client: ImapFlow) => Promise<T>, server: DovecotServer = dovecot): Promise<T> {
  const client = new ImapFlow({
    host: '127.0.0.1',
    port: server.port,
    secure: false,
    auth: { user: server.user, pass: server.password },
    logger: false,
    ...(server.caFile ? { tls: { ca: readFileSync(server.caFile), servername: 'localhost' } } : {}),
  });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.logout();
  }
}
const countIn = (folder: string, server: DovecotServer = dovecot) =>
  withMailbox(async (c) => {
    const status = await c.status(folder, { messages: true });
    return status ? (status.messages ?? 0) : -1;
  }, server);

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

  it('over imaps:// the daemon reads the mailbox when the CA is trusted, and says why (certificate) and keeps running when not', async () => {
    // A Dovecot of its own that speaks TLS (imaps, and STARTTLS on its plain port).
    const secure = await startDovecot({ tls: true });
    try {
      const c = manifest.find((m) => m.file === 'sendmail-user-unknown.eml')!;
      await sentReminderFor(c);
      const env = { ...t.env, BOUNCE_IMAP_URL: secure.tlsUrl!, BOUNCE_IMAP_POLL_SECONDS: '1', LOG_LEVEL: 'info' };
      await withMailbox((client) => client.append('INBOX', readFileSync(path.join(DIR, c.file))), secure);

      // A certificate this host does not trust: nothing is read, the reason is logged, the daemon stays up.
      const untrusting = spawnCli(['start', '--no-worker', '--no-http'], env);
      try {
        await waitFor(() => /could not read the bounce mailbox/.test(untrusting.output()), 'the daemon to report the mailbox problem', 60_000);
        expect(untrusting.output()).toMatch(/certificate|self[- ]signed|UNABLE_TO_VERIFY/i);
        expect(untrusting.output()).not.toContain(secure.password);
        expect(untrusting.exitCode).toBeNull();
        expect(await countIn('INBOX', secure)).toBe(1);
      } finally {
        untrusting.kill('SIGTERM');
        expect(await exited(untrusting)).toBe(0);
      }

      // The CA trusted (as a private CA is in production: NODE_EXTRA_CA_CERTS): the bounce is read over TLS.
      const trusting = spawnCli(['start', '--no-worker', '--no-http'], { ...env, NODE_EXTRA_CA_CERTS: secure.caFile! });
      try {
        await waitFor(
          async () => (await t.app.db.selectFrom('reminder_ledger').select('status').where('id', '=', c.ledgerId).executeTakeFirstOrThrow()).status === 'bounced',
          'the daemon to ingest the bounce over imaps',
          60_000,
        );
        expect(await countIn('INBOX', secure)).toBe(0);
        expect(await countIn('Processed', secure)).toBe(1);
      } finally {
        trusting.kill('SIGTERM');
        expect(await exited(trusting)).toBe(0);
      }
    } finally {
      await secure.stop();
    }
  }, 180_000);
});
