import { replay } from '../../src/ops/replay';
import { addDays } from '../../src/dates';
import { exited, spawnCli } from '../helpers/cli';
import { insertLicense, insertOrder } from '../helpers/fixtures';
import { useMailTestEnv } from '../helpers/mail-test-env';
import { type SmtpTestServer, startSmtpServer } from '../helpers/smtp';
import { type TestEnv, waitFor } from '../helpers/test-env';

// Child processes start slowly on a loaded 2-core machine: allow minutes, not the default 60 s.
jest.setTimeout(180_000);

const T = '2027-06-01';
let t: TestEnv;
let smtp: SmtpTestServer;
useMailTestEnv('procs', { SEND_LOCK_MS: '2000', SEND_CONCURRENCY: '2', SEND_LEASE_MS: '10000', SEND_SWEEP_MS: '500' }, (env, server) => {
  t = env;
  smtp = server;
});

async function seed(recipients: number): Promise<void> {
  for (let i = 0; i < recipients; i++) {
    const { orderId } = await insertOrder(t.app.db, { contacts: [{ email: `r${i}@example.com` }] });
    await insertLicense(t.app.db, { orderId, expiresOn: addDays(T, 30) });
  }
  await t.scan(T);
}

/** Ledger ids each received message carries, counted. */
function deliveriesPerRow(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const mail of smtp.received) {
    for (const id of String(mail.parsed.headers.get('x-reminder-ids') ?? '').split(',')) counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

describe('send workers as separate processes', () => {
  it('two workers draining one queue deliver each message once', async () => {
    await seed(30);
    const env = { ...t.env, LOG_LEVEL: 'info', SEND_LOCK_MS: '30000' };
    const workers = [spawnCli(['work', '--drain'], env), spawnCli(['work', '--drain'], env)];
    const codes = await Promise.all(workers.map(exited));
    expect(codes).toEqual([0, 0]);
    expect(smtp.received).toHaveLength(30);
    expect(new Set(smtp.received.map((m) => m.to)).size).toBe(30);
    const rows = await t.app.db.selectFrom('reminder_ledger').select('status').execute();
    expect(rows.every((r) => r.status === 'sent')).toBe(true);
    // Both processes took part (each logs one JSON line per send outcome).
    const outputs = workers.map((w) => w.output());
    expect(outputs.filter((o) => o.includes('"outcome":"sent"'))).toEqual([expect.anything(), expect.anything()]);
  });

  it('a worker killed with SIGKILL mid-batch leaves no row both re-sent and sent', async () => {
    await seed(12);
    // Hold each message's final reply so that the kill lands between hand-over and record.
    const slow = await startSmtpServer();
    const original = slow.received;
    try {
      const env = { ...t.env, SMTP_URL: slow.url, SEND_CONCURRENCY: '3' };
      slow.holdReplies(400);
      const victim = spawnCli(['work'], env);
      await waitFor(async () => {
        const sent = await t.app.db.selectFrom('reminder_ledger').select('id').where('status', '=', 'sent').execute();
        return sent.length >= 2 && original.length > sent.length;
      }, 'some sends recorded and some in flight', 120_000);
      victim.kill('SIGKILL');
      await exited(victim);
      const inFlight = await t.app.db.selectFrom('reminder_ledger').select(['id', 'handed_over_at']).where('status', '=', 'sending').execute();
      expect(inFlight.length).toBeGreaterThan(0);
      const handedOver = inFlight.filter((r) => r.handed_over_at !== null).length;

      slow.holdReplies(0);
      const rescuer = spawnCli(['work', '--drain'], env);
      // The drain waits for the dead worker's leases, settles them (handed over: unknown; not:
      // sent now), leaves nothing `sending`, and exits 1 because some rows need a decision.
      expect(await exited(rescuer)).toBe(handedOver > 0 ? 1 : 0);
      expect(rescuer.output()).toMatch(new RegExp(`Drained: \\d+ sent, 0 failed, ${handedOver} unknown`));
      expect(await t.app.db.selectFrom('reminder_ledger').select('id').where('status', 'in', ['pending', 'sending']).execute()).toEqual([]);
      const rows = await t.app.db.selectFrom('reminder_ledger').select(['id', 'status']).orderBy('id').execute();
      const delivered = new Map<string, number>();
      for (const mail of slow.received) {
        for (const id of String(mail.parsed.headers.get('x-reminder-ids') ?? '').split(',')) delivered.set(id, (delivered.get(id) ?? 0) + 1);
      }
      for (const row of rows) {
        expect(delivered.get(row.id) ?? 0).toBeLessThanOrEqual(1);
        expect(['sent', 'unknown']).toContain(row.status);
        if (row.status === 'sent') expect(delivered.get(row.id)).toBe(1);
      }
      expect(rows.filter((r) => r.status === 'unknown').length).toBe(handedOver);
      expect(rows.filter((r) => r.status === 'sent').length).toBe(12 - handedOver);
    } finally {
      await slow.close();
    }
    expect(deliveriesPerRow().size).toBe(0);
  });

  it("a replayed reminder's send is logged as its second attempt, as history counts it", async () => {
    await seed(1);
    smtp.forceReply('r0@example.com', { code: 550, message: '5.1.1 Mailbox unavailable', times: 1 });
    await t.drain();
    const [row] = await t.app.db.selectFrom('reminder_ledger').select(['id', 'status']).execute();
    expect(row).toMatchObject({ status: 'failed' });
    await replay({ db: t.app.db, sendQueue: t.app.sendQueue(), config: t.config }, { ids: [row!.id] }, { actor: 'operator' });
    const worker = spawnCli(['work', '--drain'], { ...t.env, LOG_LEVEL: 'info' });
    expect(await exited(worker)).toBe(0);
    const sent = worker
      .output()
      .split('\n')
      .filter((line) => line.includes('"outcome":"sent"'))
      .map((line) => JSON.parse(line) as { attempt: number; ledgerIds: string[] });
    expect(sent).toEqual([expect.objectContaining({ attempt: 2, ledgerIds: [row!.id] })]);
  });
});
