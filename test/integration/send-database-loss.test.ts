import { sql } from 'kysely';
import { addDays } from '../../src/scan/dates';
import { insertLicense, insertOrder } from '../helpers/fixtures';
import { useMailTestEnv } from '../helpers/mail-test-env';
import type { SmtpTestServer } from '../helpers/smtp';
import type { TestEnv } from '../helpers/test-env';

/**
 * A database that goes away between the SMTP server's acceptance and the ledger's `sent`: the
 * message is out, so the rows must end `sent` (or `unknown`), never back to `pending` for a
 * second copy. The ledger update fails once with SQLSTATE 08006 (connection failure), raised by a
 * trigger: the error a restart gives a statement in flight, at exactly that moment.
 */
const T = '2027-05-03';
let t: TestEnv;
let smtp: SmtpTestServer;
useMailTestEnv('dbloss', { SEND_ATTEMPTS: '3', SEND_BACKOFF_MS: '50' }, (env, server) => {
  t = env;
  smtp = server;
});

afterEach(async () => {
  await sql`drop trigger if exists fail_sent_once on reminder_ledger`.execute(t.app.db);
  await sql`drop function if exists fail_sent_once()`.execute(t.app.db);
  await sql`drop sequence if exists fail_sent_once_calls`.execute(t.app.db);
});

it('a lost connection while recording `sent` is retried, and the reminder is delivered once', async () => {
  const { orderId } = await insertOrder(t.app.db, { contacts: [{ email: 'once@example.com' }] });
  await insertLicense(t.app.db, { orderId, expiresOn: addDays(T, 30) });
  await t.scan(T);
  // A sequence, not a table: its counter survives the rollback of the failing statement.
  await sql`create sequence fail_sent_once_calls`.execute(t.app.db);
  await sql
    .raw(
      `create function fail_sent_once() returns trigger language plpgsql as $$
       begin
         if new.status = 'sent' and nextval('fail_sent_once_calls') = 1 then
           raise exception 'connection lost while recording' using errcode = '08006';
         end if;
         return new;
       end $$`,
    )
    .execute(t.app.db);
  await sql`create trigger fail_sent_once before update on reminder_ledger for each row execute function fail_sent_once()`.execute(t.app.db);

  await t.drain();

  const rows = await t.app.db.selectFrom('reminder_ledger').select(['status', 'attempts']).execute();
  expect(rows).toEqual([{ status: 'sent', attempts: 1 }]);
  expect(smtp.received.map((m) => m.to)).toEqual(['once@example.com']);
  const calls = await sql<{ last_value: string }>`select last_value from fail_sent_once_calls`.execute(t.app.db);
  expect(Number(calls.rows[0]?.last_value)).toBe(2);
});
