import { addDays } from '../../src/dates';
import { insertLicense, insertOrder } from '../helpers/fixtures';
import { useMailTestEnv } from '../helpers/mail-test-env';
import type { SmtpTestServer } from '../helpers/smtp';
import type { TestEnv } from '../helpers/test-env';

const T = '2027-05-03';
let t: TestEnv;
let smtp: SmtpTestServer;
useMailTestEnv('send', { SEND_ATTEMPTS: '3', SEND_BACKOFF_MS: '50' }, (env, server) => {
  t = env;
  smtp = server;
});

const scan = (date: string) => t.scan(date);

const drain = () => t.drain();

const ledger = () => t.app.db.selectFrom('reminder_ledger').selectAll().orderBy('id').execute();
const to = (address: string) => smtp.received.filter((m) => m.to === address);

describe('sending reminders', () => {
  it('a full 90→0 series arrives as six emails per contact, each once', async () => {
    const { orderId } = await insertOrder(t.app.db, { contacts: [{ email: 'one@example.com', name: 'One' }, { email: 'two@example.com', name: 'Two' }] });
    const expiry = addDays(T, 90);
    await insertLicense(t.app.db, { orderId, expiresOn: expiry, key: 'KEY-SERIES' });
    for (let day = T; day <= expiry; day = addDays(day, 1)) {
      await scan(day);
      if ([90, 60, 30, 14, 7, 0].includes(Math.round((Date.parse(expiry) - Date.parse(day)) / 86_400_000))) await drain();
    }
    for (const address of ['one@example.com', 'two@example.com']) {
      const mails = to(address);
      expect(mails).toHaveLength(6);
      expect(new Set(mails.map((m) => m.parsed.subject)).size).toBe(6);
      for (const mail of mails) {
        expect(mail.parsed.html).toContain('KEY-SERIES');
        expect(mail.parsed.text).toContain('KEY-SERIES');
        expect(mail.raw).toMatch(/^List-Unsubscribe:\s+<http:\/\/127\.0\.0\.1:8080\/unsubscribe\?token=[^>]+>/m);
        expect(mail.raw).toMatch(/^List-Unsubscribe-Post: List-Unsubscribe=One-Click/m);
        expect(mail.parsed.messageId).toMatch(/^<reminder\.\d+\.[0-9a-f]{12}@example\.com>$/);
      }
    }
    expect(new Set(smtp.received.map((m) => m.parsed.messageId)).size).toBe(12);
    const rows = await ledger();
    expect(rows.map((r) => r.status)).toEqual(Array(12).fill('sent'));
    expect(rows.every((r) => r.message_id && r.template_version && r.sent_at)).toBe(true);

    // A re-run of every scan and a drain sends nothing more.
    for (let day = T; day <= expiry; day = addDays(day, 10)) await scan(day);
    await drain();
    expect(smtp.received).toHaveLength(12);
  });

  it('annual and maintenance variants differ in subject and copy', async () => {
    const { orderId } = await insertOrder(t.app.db, { contacts: [{ email: 'both@example.com' }] });
    await insertLicense(t.app.db, { orderId, type: 'annual', expiresOn: addDays(T, 30), key: 'KEY-ANNUAL' });
    await insertLicense(t.app.db, { orderId, type: 'lifetime', maintenanceExpiresOn: addDays(T, 30), key: 'KEY-LIFETIME' });
    await scan(T);
    await drain();
    const mails = to('both@example.com');
    expect(mails).toHaveLength(2);
    const annual = mails.find((m) => (m.parsed.text ?? '').includes('KEY-ANNUAL'));
    const maintenance = mails.find((m) => (m.parsed.text ?? '').includes('KEY-LIFETIME'));
    expect(annual?.parsed.subject).not.toEqual(maintenance?.parsed.subject);
    expect(maintenance?.parsed.text).toMatch(/maintenance/i);
    expect(annual?.parsed.text).not.toEqual(maintenance?.parsed.text);
  });

  it('groups every due item of one address into one email', async () => {
    const first = await insertOrder(t.app.db, { orderNumber: 'ORD-A', contacts: [{ email: 'Buyer@Example.com' }] });
    const second = await insertOrder(t.app.db, { orderNumber: 'ORD-B', contacts: [{ email: 'buyer@example.com' }] });
    for (const [orderId, key] of [[first.orderId, 'KEY-G1'], [first.orderId, 'KEY-G2'], [second.orderId, 'KEY-G3']] as const) {
      await insertLicense(t.app.db, { orderId, expiresOn: addDays(T, 14), key });
    }
    await scan(T);
    await drain();
    const mails = to('buyer@example.com');
    expect(mails).toHaveLength(1);
    for (const text of ['KEY-G1', 'KEY-G2', 'KEY-G3', 'ORD-A', 'ORD-B']) expect(mails[0]?.parsed.html).toContain(text);
    expect(mails[0]?.parsed.text).toMatch(/renew=KEY-G1,KEY-G2,KEY-G3/);
  });

  it('retries a 451 deferral and delivers once', async () => {
    const { orderId } = await insertOrder(t.app.db, { contacts: [{ email: 'slow@example.com' }] });
    await insertLicense(t.app.db, { orderId, expiresOn: addDays(T, 7) });
    smtp.forceReply('slow@example.com', { code: 451, message: '4.7.1 Try again later', times: 1 });
    await scan(T);
    await drain();
    expect(to('slow@example.com')).toHaveLength(1);
    expect(smtp.attempts.get('slow@example.com')).toBe(2);
    const [row] = await ledger();
    expect(row).toMatchObject({ status: 'sent', attempts: 2 });
    const events = await t.app.db.selectFrom('reminder_events').select(['event', 'detail']).where('ledger_id', '=', row!.id).orderBy('id').execute();
    expect(events.map((e) => e.event)).toEqual(['queued', 'claimed', 'retry', 'claimed', 'sent']);
    expect(events[2]?.detail).toMatch(/451/);
  });

  it('gives up after SEND_ATTEMPTS deferrals and records the reply', async () => {
    const { orderId } = await insertOrder(t.app.db, { contacts: [{ email: 'never@example.com' }] });
    await insertLicense(t.app.db, { orderId, expiresOn: addDays(T, 7) });
    smtp.forceReply('never@example.com', { code: 452, message: '4.2.2 Mailbox full' });
    await scan(T);
    await drain();
    expect(smtp.attempts.get('never@example.com')).toBe(3);
    const [row] = await ledger();
    expect(row).toMatchObject({ status: 'failed', attempts: 3 });
    expect(row?.reason).toMatch(/gave up after 3 attempt\(s\).*452/);
  });

  it('fails a 550 recipient at once; the other contacts get theirs', async () => {
    const { orderId } = await insertOrder(t.app.db, {
      contacts: [{ email: 'gone@example.com' }, { email: 'here@example.com' }, { email: 'not an address' }],
    });
    await insertLicense(t.app.db, { orderId, expiresOn: addDays(T, 30) });
    smtp.forceReply('gone@example.com', { code: 550, message: '5.1.1 User unknown' });
    await scan(T);
    await drain();
    expect(to('here@example.com')).toHaveLength(1);
    expect(smtp.attempts.get('gone@example.com')).toBe(1);
    const rows = await ledger();
    expect(rows.map((r) => [r.recipient, r.status])).toEqual([
      ['gone@example.com', 'failed'],
      ['here@example.com', 'sent'],
      ['not an address', 'failed'],
    ]);
    expect(rows[0]?.reason).toMatch(/550.*User unknown/);
    expect(rows[2]?.reason).toMatch(/invalid email address/);
  });

  it('re-checks at send time: renewed, cancelled and unsubscribed are skipped with the reason', async () => {
    const a = await insertOrder(t.app.db, { contacts: [{ email: 'renewed@example.com' }] });
    const renewed = await insertLicense(t.app.db, { orderId: a.orderId, expiresOn: addDays(T, 30) });
    const b = await insertOrder(t.app.db, { contacts: [{ email: 'cancelled@example.com' }] });
    const cancelled = await insertLicense(t.app.db, { orderId: b.orderId, expiresOn: addDays(T, 30) });
    const c = await insertOrder(t.app.db, { contacts: [{ email: 'unsub@example.com' }] });
    await insertLicense(t.app.db, { orderId: c.orderId, expiresOn: addDays(T, 30) });
    await scan(T);
    await t.app.db.updateTable('licenses').set({ expires_on: addDays(T, 395) }).where('id', '=', renewed).execute();
    await t.app.db.updateTable('licenses').set({ status: 'cancelled' }).where('id', '=', cancelled).execute();
    await t.app.db.updateTable('order_contacts').set({ unsubscribed_at: new Date() }).where('id', '=', c.contactIds[0]!).execute();
    await drain();
    expect(smtp.received).toHaveLength(0);
    expect((await ledger()).map((r) => [r.status, r.reason])).toEqual([
      ['skipped', `renewed: expiry moved to ${addDays(T, 395)}`],
      ['skipped', 'cancelled: license status is cancelled'],
      ['skipped', 'unsubscribed'],
    ]);
  });

  it('escapes customer data: no HTML or header injection', async () => {
    const { orderId } = await insertOrder(t.app.db, {
      customerName: '<script>alert(1)</script> & Co',
      contacts: [{ email: 'victim@example.com', name: 'Eve\r\nBcc: spy@example.com\r\n<img src=x onerror=alert(2)>' }],
    });
    await insertLicense(t.app.db, { orderId, expiresOn: addDays(T, 7), product: 'Widget "Pro" <b>' });
    await scan(T);
    await drain();
    const [mail] = to('victim@example.com');
    expect(smtp.received).toHaveLength(1);
    expect(mail?.parsed.html).not.toContain('<script>alert(1)');
    expect(mail?.parsed.html).not.toContain('<img src=x');
    expect(mail?.parsed.html).toContain('&lt;script&gt;');
    expect(mail?.parsed.bcc).toBeUndefined();
    expect(mail?.parsed.headers.has('bcc')).toBe(false);
    expect(mail?.parsed.subject).not.toMatch(/[\r\n]/);
  });

  it('a connection lost after the message body is recorded unknown and never retried', async () => {
    const { orderId } = await insertOrder(t.app.db, { contacts: [{ email: 'lost@example.com' }, { email: 'fine@example.com' }] });
    await insertLicense(t.app.db, { orderId, expiresOn: addDays(T, 14) });
    smtp.dropAfterBody('lost@example.com');
    await scan(T);
    await drain();
    expect(to('lost@example.com')).toHaveLength(1);
    expect(smtp.attempts.get('lost@example.com')).toBe(1);
    expect(to('fine@example.com')).toHaveLength(1);
    const rows = await ledger();
    expect(rows.map((r) => [r.recipient, r.status])).toEqual([
      ['lost@example.com', 'unknown'],
      ['fine@example.com', 'sent'],
    ]);
    expect(rows[0]?.reason).toMatch(/may have been delivered/);
  });

  it('a reminder recorded after its group already went out is sent by the next scan', async () => {
    const { orderId } = await insertOrder(t.app.db, { contacts: [{ email: 'late-row@example.com' }] });
    await insertLicense(t.app.db, { orderId, expiresOn: addDays(T, 14), key: 'KEY-EARLY' });
    await scan(T);
    await drain();
    // The portal adds a second license for the same contact and expiry later that day.
    await insertLicense(t.app.db, { orderId, expiresOn: addDays(T, 14), key: 'KEY-LATE' });
    await scan(T);
    await drain();
    const mails = to('late-row@example.com');
    expect(mails).toHaveLength(2);
    expect(mails[1]?.parsed.text).toContain('KEY-LATE');
    expect(mails[1]?.parsed.text).not.toContain('KEY-EARLY');
    expect((await ledger()).map((r) => r.status)).toEqual(['sent', 'sent']);
  });

  it('a connection lost before the message was handed over is retried and delivered once', async () => {
    const { orderId } = await insertOrder(t.app.db, { contacts: [{ email: 'flaky@example.com' }] });
    await insertLicense(t.app.db, { orderId, expiresOn: addDays(T, 7) });
    smtp.dropAtRcpt('flaky@example.com');
    await scan(T);
    await drain();
    expect(to('flaky@example.com')).toHaveLength(1);
    expect(smtp.attempts.get('flaky@example.com')).toBe(2);
    // Either the queue retried it, or nodemailer's pool moved it to a fresh connection itself.
    expect((await ledger()).map((r) => r.status)).toEqual(['sent']);
  });
});
