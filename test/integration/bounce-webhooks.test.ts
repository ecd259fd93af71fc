import { execFileSync } from 'node:child_process';
import { createHmac, createSign, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { snsStringToSign, type SnsMessage } from '../../src/bounces/sns';
import { addDays } from '../../src/dates';
import { createHttpApp } from '../../src/ops/http-server';
import { insertLicense, insertOrder } from '../helpers/fixtures';
import { createTestEnv, type TestEnv } from '../helpers/test-env';

const T = '2027-05-03';
const TOPIC = 'arn:aws:sns:us-east-1:123456789012:ses-bounces';
const CERT_URL = 'https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem';
const ADMIN_TOKEN = 'admin-token-for-webhooks-test';
const MAILGUN_KEY = 'key-mailgun-signing-0123456789';
const POSTMARK_AUTH = 'postmark:hook-password-123';

// SendGrid: an ECDSA P-256 key pair, the public half configured as SendGrid shows it (base64 DER).
const sendgridKeys = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const otherKeys = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const sendgridPublic = sendgridKeys.publicKey.export({ format: 'der', type: 'spki' }).toString('base64');

// SNS: an RSA key and a self-signed certificate, served by a local server in place of Amazon's.
const certDir = mkdtempSync(path.join(tmpdir(), 'sns-cert-'));
execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=sns.amazonaws.com', '-days', '2', '-keyout', path.join(certDir, 'key.pem'), '-out', path.join(certDir, 'cert.pem')], { stdio: 'ignore' });
const snsKey = readFileSync(path.join(certDir, 'key.pem'), 'utf8');
const snsCert = readFileSync(path.join(certDir, 'cert.pem'), 'utf8');
const forgerKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;

let t: TestEnv;
let certServer: Server;
let certBase = '';
const fetched: string[] = [];
let http: Server;
let base = '';

beforeAll(async () => {
  certServer = createServer((req, res) => {
    fetched.push(req.url ?? '');
    if (req.url?.endsWith('.pem')) res.writeHead(200, { 'content-type': 'application/x-pem-file' }).end(snsCert);
    else res.writeHead(200).end('<ConfirmSubscriptionResponse/>');
  });
  await new Promise<void>((resolve) => certServer.listen(0, '127.0.0.1', resolve));
  certBase = `http://127.0.0.1:${(certServer.address() as AddressInfo).port}`;
  t = await createTestEnv('bounce_webhooks', {
    ADMIN_TOKEN,
    SES_SNS_TOPIC_ARNS: TOPIC,
    SENDGRID_WEBHOOK_PUBLIC_KEY: sendgridPublic,
    MAILGUN_WEBHOOK_SIGNING_KEY: MAILGUN_KEY,
    POSTMARK_WEBHOOK_AUTH: POSTMARK_AUTH,
  });
  // The seam: Amazon's URLs are served by the local server; nothing reaches the internet.
  const snsGet = async (url: string) => {
    const u = new URL(url);
    const response = await fetch(`${certBase}${u.pathname}${u.search}`);
    return response.text();
  };
  http = createServer(createHttpApp(t.app, { snsGet }));
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise<void>((resolve) => http?.close(() => resolve()));
  await new Promise<void>((resolve) => certServer?.close(() => resolve()));
  await t?.cleanup();
  rmSync(certDir, { recursive: true, force: true });
});
beforeEach(async () => {
  await t.reset();
  await sql`truncate bounce_events, bounce_messages, suppression_log`.execute(t.app.db);
  fetched.length = 0;
});

let nextId = 8000;
async function seedSent(recipient: string): Promise<{ id: string; messageId: string }> {
  const id = String(nextId++);
  const messageId = `reminder.${id}.dddddddddddd@example.com`;
  const { orderId } = await insertOrder(t.app.db, { contacts: [{ email: recipient }] });
  const licenseId = await insertLicense(t.app.db, { orderId, expiresOn: addDays(T, 30) });
  await sql`
    insert into reminder_ledger
      (id, kind, license_id, license_key, order_id, order_number, expires_on, offset_days, recipient, scan_date, group_key, status, message_id, sent_at)
    overriding system value values (${id}, 'license', ${licenseId}, 'K', ${orderId}, 'O', ${addDays(T, 30)}, 30, ${recipient}, ${T}, ${`g-${id}`}, 'sent', ${messageId}, now())`.execute(t.app.db);
  return { id, messageId };
}
const status = async (id: string) => (await t.app.db.selectFrom('reminder_ledger').select('status').where('id', '=', id).executeTakeFirstOrThrow()).status;
const suppressed = async (address: string) => (await t.app.db.selectFrom('suppressed_addresses').select('reason').where('address', '=', address).executeTakeFirst())?.reason ?? null;
const eventCount = async () => Number((await t.app.db.selectFrom('bounce_events').select(sql<string>`count(*)`.as('n')).executeTakeFirstOrThrow()).n);

const post = (route: string, body: string, headers: Record<string, string> = {}) =>
  fetch(`${base}/webhooks/${route}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });

function snsMessage(fields: Omit<SnsMessage, 'Signature' | 'SignatureVersion' | 'SigningCertURL'>, key: string | import('node:crypto').KeyObject = snsKey, certUrl = CERT_URL): SnsMessage {
  const unsigned = { ...fields, SignatureVersion: '1', SigningCertURL: certUrl } as SnsMessage;
  const signature = createSign('RSA-SHA1').update(snsStringToSign(unsigned)).sign(key, 'base64');
  return { ...unsigned, Signature: signature };
}
const sesBounce = (recipient: string, messageId: string) =>
  JSON.stringify({
    notificationType: 'Bounce',
    bounce: { bounceType: 'Permanent', bounceSubType: 'General', feedbackId: `fb-${randomBytes(4).toString('hex')}`, timestamp: new Date().toISOString(), bouncedRecipients: [{ emailAddress: recipient, status: '5.1.1', action: 'failed', diagnosticCode: 'smtp; 550 5.1.1 user unknown' }] },
    mail: { messageId: '0100018c-ses-id', commonHeaders: { messageId: `<${messageId}>` } },
  });

describe('Amazon SES through SNS', () => {
  it('confirms a signed subscription by fetching its SubscribeURL', async () => {
    const message = snsMessage({ Type: 'SubscriptionConfirmation', MessageId: 'm-1', TopicArn: TOPIC, Message: 'confirm', Timestamp: new Date().toISOString(), Token: 'tok', SubscribeURL: 'https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=tok' });
    const response = await post('ses', JSON.stringify(message));
    expect(response.status).toBe(200);
    expect(fetched).toContain('/?Action=ConfirmSubscription&Token=tok');
  });

  it('records a signed bounce; refuses a forged one, a foreign certificate host and an unlisted topic, changing nothing', async () => {
    const row = await seedSent('ses-gone@example.org');
    const fields = { Type: 'Notification', MessageId: 'm-2', TopicArn: TOPIC, Message: sesBounce('ses-gone@example.org', row.messageId), Timestamp: new Date().toISOString() };

    const forged = snsMessage(fields, forgerKey);
    expect((await post('ses', JSON.stringify(forged))).status).toBe(403);
    const tampered = { ...snsMessage(fields), Message: sesBounce('someone-else@example.org', row.messageId) };
    expect((await post('ses', JSON.stringify(tampered))).status).toBe(403);
    const foreignHost = snsMessage(fields, snsKey, 'https://sns.us-east-1.amazonaws.com.evil.example/cert.pem');
    expect((await post('ses', JSON.stringify(foreignHost))).status).toBe(403);
    const otherTopic = snsMessage({ ...fields, TopicArn: 'arn:aws:sns:us-east-1:999999999999:other' });
    expect((await post('ses', JSON.stringify(otherTopic))).status).toBe(403);
    const unsigned = { ...fields, SignatureVersion: '1', SigningCertURL: CERT_URL };
    expect((await post('ses', JSON.stringify(unsigned))).status).toBe(401);
    expect(await eventCount()).toBe(0);
    expect(await status(row.id)).toBe('sent');
    expect(await suppressed('ses-gone@example.org')).toBeNull();

    const genuine = await post('ses', JSON.stringify(snsMessage(fields)));
    expect(genuine.status).toBe(200);
    expect(await status(row.id)).toBe('bounced');
    expect(await suppressed('ses-gone@example.org')).toMatch(/^hard bounce: 5\.1\.1/);
    // SNS delivers at least once: the same notification again is recorded once.
    expect((await post('ses', JSON.stringify(snsMessage(fields)))).status).toBe(200);
    expect(await eventCount()).toBe(1);
  });
});

describe('SendGrid signed events', () => {
  const signed = (body: string, key = sendgridKeys.privateKey, timestamp = String(Math.floor(Date.now() / 1000))) => ({
    'x-twilio-email-event-webhook-timestamp': timestamp,
    'x-twilio-email-event-webhook-signature': sign('sha256', Buffer.from(timestamp + body), key).toString('base64'),
  });

  it('records a signed bounce and spam report; refuses forged, unsigned and stale ones with no change', async () => {
    const gone = await seedSent('sg-gone@example.org');
    const complainer = await seedSent('sg-spam@example.org');
    const body = JSON.stringify([
      { email: 'sg-gone@example.org', event: 'bounce', type: 'bounce', status: '5.1.1', reason: '550 5.1.1 The email account does not exist', 'smtp-id': `<${gone.messageId}>`, sg_event_id: 'ev-1', timestamp: 1764482400 },
      { email: 'sg-spam@example.org', event: 'spamreport', 'smtp-id': `<${complainer.messageId}>`, sg_event_id: 'ev-2', timestamp: 1764482400 },
      { email: 'sg-spam@example.org', event: 'open', sg_event_id: 'ev-3', timestamp: 1764482400 },
    ]);
    expect((await post('sendgrid', body, signed(body, otherKeys.privateKey))).status).toBe(403);
    expect((await post('sendgrid', body)).status).toBe(401);
    expect((await post('sendgrid', body, signed(body, sendgridKeys.privateKey, String(Math.floor(Date.now() / 1000) - 3600)))).status).toBe(403);
    expect(await eventCount()).toBe(0);
    expect(await status(gone.id)).toBe('sent');

    const response = await post('sendgrid', body, signed(body));
    expect(response.status).toBe(200);
    expect(await status(gone.id)).toBe('bounced');
    expect(await suppressed('sg-gone@example.org')).toMatch(/^hard bounce/);
    expect(await suppressed('sg-spam@example.org')).toMatch(/^complaint/);
    expect(await eventCount()).toBe(2);
  });
});

describe('Mailgun signed webhooks', () => {
  const payload = (eventData: object, key = MAILGUN_KEY) => {
    const timestamp = String(Math.floor(Date.now() / 1000));
    const token = randomBytes(25).toString('hex');
    return JSON.stringify({ signature: { timestamp, token, signature: createHmac('sha256', key).update(timestamp + token).digest('hex') }, 'event-data': eventData });
  };

  it('records a signed permanent failure; refuses a forged signature with no change', async () => {
    const row = await seedSent('mg-gone@example.org');
    const failed = { event: 'failed', severity: 'permanent', recipient: 'mg-gone@example.org', id: 'mg-ev-1', timestamp: 1764482400, message: { headers: { 'message-id': row.messageId } }, 'delivery-status': { code: 550, message: '5.1.1 The email account that you tried to reach does not exist' } };
    expect((await post('mailgun', payload(failed, 'not-the-key'))).status).toBe(403);
    expect((await post('mailgun', JSON.stringify({ 'event-data': failed }))).status).toBe(401);
    expect(await status(row.id)).toBe('sent');
    expect(await eventCount()).toBe(0);
    expect((await post('mailgun', payload(failed))).status).toBe(200);
    expect(await status(row.id)).toBe('bounced');
    expect(await suppressed('mg-gone@example.org')).toMatch(/^hard bounce: 5\.1\.1/);
  });
});

describe('Postmark and the generic endpoint', () => {
  it('Postmark: basic auth checked; a hard bounce is matched by its recipient', async () => {
    const row = await seedSent('pm-gone@example.org');
    const body = JSON.stringify({ RecordType: 'Bounce', Type: 'HardBounce', TypeCode: 1, ID: 4242, Email: 'pm-gone@example.org', Details: 'smtp;550 5.1.1 The email account that you tried to reach does not exist.', Description: 'The server was unable to deliver your message (ex: unknown user, mailbox not found).', BouncedAt: new Date().toISOString() });
    const basic = (auth: string) => ({ authorization: `Basic ${Buffer.from(auth).toString('base64')}` });
    expect((await post('postmark', body)).status).toBe(401);
    expect((await post('postmark', body, basic('postmark:wrong-password'))).status).toBe(403);
    expect(await status(row.id)).toBe('sent');
    expect((await post('postmark', body, basic(POSTMARK_AUTH))).status).toBe(200);
    expect(await status(row.id)).toBe('bounced');
  });

  it('generic: Bearer ADMIN_TOKEN; the same bounce from two channels is recorded once', async () => {
    const row = await seedSent('gen-gone@example.org');
    const body = JSON.stringify({ type: 'bounce', recipient: 'gen-gone@example.org', messageId: `<${row.messageId}>`, status: '5.1.1', diagnostic: '550 5.1.1 user unknown' });
    expect((await post('bounces', body)).status).toBe(401);
    expect((await post('bounces', body, { authorization: 'Bearer not-the-token' })).status).toBe(403);
    expect(await eventCount()).toBe(0);
    const ok = await post('bounces', body, { authorization: `Bearer ${ADMIN_TOKEN}` });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ recorded: 1 });
    expect(await status(row.id)).toBe('bounced');
    const viaSes = snsMessage({ Type: 'Notification', MessageId: 'm-3', TopicArn: TOPIC, Message: sesBounce('gen-gone@example.org', row.messageId), Timestamp: new Date().toISOString() });
    const again = await post('ses', JSON.stringify(viaSes));
    expect(await again.json()).toMatchObject({ recorded: 0 });
    expect(await eventCount()).toBe(1);
    expect((await post('bounces', '{"type":"bounce"}', { authorization: `Bearer ${ADMIN_TOKEN}` })).status).toBe(400);
  });

  it('/metrics carries the deliverability figures', async () => {
    const row = await seedSent('metric-gone@metrics.example');
    await post('bounces', JSON.stringify({ type: 'bounce', messageId: row.messageId, status: '5.1.1' }), { authorization: `Bearer ${ADMIN_TOKEN}` });
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(text).toMatch(/reminders_deliverability_sent_messages\{domain="metrics\.example",window="1d"\} 1/);
    expect(text).toMatch(/reminders_deliverability_rate\{domain="metrics\.example",window="1d",type="bounce"\} 1/);
    expect(text).toMatch(/reminders_deliverability_rate\{domain="all",window="7d",type="complaint"\} 0/);
  });
});
