import { addDays } from '../../src/dates';
import { exited, spawnCli } from '../helpers/cli';
import { freePort } from '../helpers/servers';
import { type SmtpTestServer, startSmtpServer } from '../helpers/smtp';
import { createTestEnv, type TestEnv } from '../helpers/test-env';

/*
 * Portal data as it really comes: bad and repeated addresses, huge contact lists, hostile names,
 * impossible dates, one address with thousands of licenses. Each has a clear outcome, and the
 * rest of the batch goes out untouched. Then configuration that is wrong or points nowhere.
 */

jest.setTimeout(8 * 60 * 1000);

const T = '2031-03-01';
const EXPIRES = addDays(T, 30);
const CROWD = 2000;
const BIG_GROUP = 5000;
const SECRET = 'hunter2-bad-input-secret';

let t: TestEnv;
let smtp: SmtpTestServer;
let nextId = 1;

async function order(name: string, contactList: Array<{ email: string; name?: string }>, licenseDates: Array<{ type?: 'annual' | 'lifetime'; expires?: string | null; maintenance?: string | null }>, customerName = name) {
  const orderId = String(nextId++);
  await t.app.db.insertInto('orders').values({ id: orderId, order_number: `ORD-${name}`, customer_name: customerName }).execute();
  const contacts = contactList.map((c) => ({ id: String(nextId++), order_id: orderId, email: c.email, name: c.name ?? null, locale: 'en' }));
  for (let i = 0; i < contacts.length; i += 1000) await t.app.db.insertInto('order_contacts').values(contacts.slice(i, i + 1000)).execute();
  const rows = licenseDates.map((l, i) => ({
    id: String(nextId++),
    order_id: orderId,
    license_key: `${name.toUpperCase()}-${i}`,
    product: 'Dynamic Web TWAIN',
    license_type: l.type ?? 'annual',
    expires_on: l.expires === undefined ? EXPIRES : l.expires,
    maintenance_expires_on: l.maintenance ?? null,
  }));
  for (let i = 0; i < rows.length; i += 1000) await t.app.db.insertInto('licenses').values(rows.slice(i, i + 1000)).execute();
}

async function cli(args: string[], env: Record<string, string>) {
  const child = spawnCli(args, env);
  const code = await exited(child);
  return { code, output: child.output() };
}

beforeAll(async () => {
  smtp = await startSmtpServer();
  t = await createTestEnv('badinput', { SMTP_URL: smtp.url, SEND_RATE_PER_SEC: '5000', SEND_CONCURRENCY: '8', SEND_ATTEMPTS: '2' });
});

afterAll(async () => {
  await t?.cleanup();
  await smtp?.close();
});

it('bad portal data fails alone, with a reason, and the rest of the batch is delivered once', async () => {
  await order('plain', [{ email: 'plain.a@example.com' }, { email: 'plain.b@example.com' }], [{}]);
  await order('dupes', [{ email: 'dup@example.com' }, { email: ' DUP@Example.com ' }, { email: 'dup@example.com' }], [{}]);
  await order(
    'invalid',
    [{ email: 'not-an-address' }, { email: 'a@b@c.example.com' }, { email: 'x@example.com\r\nBcc: evil@example.com' }, { email: 'ok.invalid@example.com' }],
    [{}],
  );
  await order('crowd', Array.from({ length: CROWD }, (_, i) => ({ email: `crowd${i}@example.com` })), [{}]);
  const longName = `Dr. ${'Verylongname'.repeat(834)}`;
  await order('names', [{ email: 'names@example.com', name: `<img src=x onerror=alert(1)>\r\nBcc: evil@example.com ${longName}` }], [{}], `<script>alert("x")</script> & Co\r\nSubject: spoofed ${'X'.repeat(10_000)}`);
  await order('dates', [{ email: 'dates@example.com' }], [{ expires: null }, { expires: '9999-12-31' }, { expires: '1900-01-01' }, { type: 'lifetime', expires: null, maintenance: null }, { type: 'lifetime', maintenance: '0001-01-01' }]);
  await order('big', [{ email: 'big@example.com' }], Array.from({ length: BIG_GROUP }, () => ({})));
  const env = { ...t.env, LOG_LEVEL: 'info' };

  const scan = await cli(['scan', '--date', T, '--force'], env);
  expect(scan.code).toBe(0);
  const drain = await cli(['work', '--drain'], env);
  // Exit 1: the impossible addresses failed, as they must, and a drain says so by its exit code.
  expect(drain.code).toBe(1);
  expect(drain.output).toMatch(/Drained: \d+ sent, [1-9]\d* failed, 0 unknown/);

  const rows = await t.app.db.selectFrom('reminder_ledger').select(['id', 'recipient', 'status', 'reason']).execute();
  expect(rows.filter((r) => r.status === 'pending' || r.status === 'sending')).toEqual([]);
  const received = new Map<string, number>();
  for (const mail of smtp.received) received.set(mail.to, (received.get(mail.to) ?? 0) + 1);

  // Everyone valid got exactly one email; one per address however it was spelled or repeated.
  const valid = ['plain.a@example.com', 'plain.b@example.com', 'dup@example.com', 'ok.invalid@example.com', 'names@example.com', ...Array.from({ length: CROWD }, (_, i) => `crowd${i}@example.com`)];
  for (const address of valid) expect([address, received.get(address)]).toEqual([address, 1]);
  // Impossible addresses fail alone with the reason; nothing reaches an injected header.
  for (const address of ['not-an-address', 'a@b@c.example.com']) {
    expect(rows.find((r) => r.recipient === address)).toMatchObject({ status: 'failed', reason: expect.stringMatching(/invalid email address/) });
  }
  expect(rows.find((r) => r.recipient.startsWith('x@example.com'))).toMatchObject({ status: 'failed', reason: expect.stringMatching(/invalid email address/) });
  expect(received.get('evil@example.com')).toBeUndefined();
  // No date that is NULL, absurd or out of range makes a reminder, and none breaks the scan.
  expect(rows.filter((r) => r.recipient === 'dates@example.com')).toEqual([]);

  // Hostile names are escaped, kept on one line and cut: the email stays small.
  const names = smtp.received.find((m) => m.to === 'names@example.com');
  expect(names).toBeDefined();
  const html = String(names?.parsed.html ?? '');
  expect(html).not.toMatch(/<script>alert|<img src=x/);
  expect(html).toContain('&lt;script&gt;');
  expect(html).not.toContain('Verylongname'.repeat(20));
  expect(String(names?.parsed.subject)).not.toMatch(/[\r\n]/);
  expect(names?.parsed.headers.get('bcc')).toBeUndefined();
  expect(Buffer.byteLength(names?.raw ?? '')).toBeLessThan(102 * 1024);

  // The group of 5,000 items for one address: whatever happens to it has an outcome, and it
  // harmed no one else (checked above). Splitting it into bounded emails is the send path's job.
  const big = rows.filter((r) => r.recipient === 'big@example.com');
  expect(big).toHaveLength(BIG_GROUP);
  const bigMails = smtp.received.filter((m) => m.to === 'big@example.com');
  const bigIds = bigMails.flatMap((m) => String(m.parsed.headers.get('x-reminder-ids') ?? '').split(','));
  expect(new Set(bigIds).size).toBe(bigIds.length);
  // Sent and received once, or failed with its reason: never `unknown` (nothing was ambiguous here).
  for (const row of big) {
    if (row.status === 'sent') expect(bigIds.filter((id) => id === row.id)).toHaveLength(1);
    else expect({ status: row.status, reason: Boolean(row.reason) }).toEqual({ status: 'failed', reason: true });
  }
});

describe('connection URLs that are malformed or point nowhere', () => {
  const cases: Array<[string, () => Promise<Record<string, string>>, RegExp]> = [
    ['SMTP_URL with a port out of range', async () => ({ SMTP_URL: `smtp://user:${SECRET}@127.0.0.1:99999` }), /SMTP_URL has a port/],
    ['SMTP_URL without a host', async () => ({ SMTP_URL: `smtp://user:${SECRET}@:25` }), /SMTP_URL/],
    ['DATABASE_URL that does not parse', async () => ({ DATABASE_URL: `postgres://app:${SECRET}@:5432/x` }), /DATABASE_URL/],
    ['DATABASE_URL with an unencoded / in the password', async () => ({ DATABASE_URL: `postgres://app:${SECRET}/x@127.0.0.1:70000/db` }), /DATABASE_URL/],
    ['REDIS_URL with a bad scheme', async () => ({ REDIS_URL: `http://:${SECRET}@127.0.0.1:6379` }), /REDIS_URL must be a URL of the form redis:/],
    ['DATABASE_URL pointing nowhere', async () => ({ DATABASE_URL: `postgres://app:${SECRET}@127.0.0.1:${await freePort()}/db` }), /Cannot reach PostgreSQL at postgres:\/\/app:\*\*\*@127\.0\.0\.1/],
    ['REDIS_URL pointing nowhere', async () => ({ REDIS_URL: `redis://:${SECRET}@127.0.0.1:${await freePort()}` }), /Cannot reach Redis at redis:\/\/:\*\*\*@127\.0\.0\.1/],
  ];
  it.each(cases)('%s: one line naming it, no secret, no stack, exit 2', async (_name, make, message) => {
    const { code, output } = await cli(['scan', '--date', T, '--force'], { ...t.env, ...(await make()) });
    expect(code).toBe(2);
    const lines = output.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^reminders: /);
    expect(lines[0]).toMatch(message);
    expect(output).not.toContain(SECRET);
    expect(output).not.toMatch(/^\s+at /m);
  });

  it('a worker whose SMTP server does not answer says so in its log, with the password masked', async () => {
    const { code, output } = await cli(['work', '--drain'], { ...t.env, LOG_LEVEL: 'info', SMTP_URL: `smtp://user:${SECRET}@127.0.0.1:${await freePort()}` });
    expect(code).toBe(0);
    expect(output).toMatch(/Cannot reach the SMTP server at smtp:\/\/user:\*\*\*@127\.0\.0\.1/);
    expect(output).not.toContain(SECRET);
  });
});
