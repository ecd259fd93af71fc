import path from 'node:path';
import { addDays } from '../../src/dates';
import { liveVersions, publishFolder } from '../../src/templates-store';
import { exited, killLeftovers, spawnCli } from '../helpers/cli';
import { insertLicense, insertOrder } from '../helpers/fixtures';
import { useMailTestEnv } from '../helpers/mail-test-env';
import { duplicateDeliveries, type SmtpTestServer } from '../helpers/smtp';
import { editFile, useTemplateCopies } from '../helpers/template-copies';
import { type TestEnv, waitFor } from '../helpers/test-env';

// Child processes start slowly on a loaded 2-core machine: allow minutes.
jest.setTimeout(300_000);

const T = '2027-06-01';
const copy = useTemplateCopies();
let t: TestEnv;
let smtp: SmtpTestServer;
useMailTestEnv('tpickup', {}, (env, server) => {
  t = env;
  smtp = server;
});

let n = 0;
async function due(count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const { orderId } = await insertOrder(t.app.db, { contacts: [{ email: `p${++n}@example.com` }] });
    await insertLicense(t.app.db, { orderId, expiresOn: addDays(T, 30) });
  }
  await t.scan(T);
}

/** Sent rows with the worker process that sent them (its pid, from the audit trail). */
async function sends(): Promise<Array<{ pid: number; version: string; at: number }>> {
  const rows = await t.app.db
    .selectFrom('reminder_ledger as l')
    .innerJoin('reminder_events as e', (j) => j.onRef('e.ledger_id', '=', 'l.id').on('e.event', '=', 'sent'))
    .select(['e.actor', 'l.template_version', 'l.sent_at'])
    .where('l.status', '=', 'sent')
    .execute();
  return rows.map((r) => ({ pid: Number(/\/(\d+)$/.exec(r.actor ?? '')?.[1]), version: r.template_version!, at: r.sent_at!.getTime() }));
}

it('two worker processes send a newly published version within 10 s, without a restart (one hears the NOTIFY, the other only polls)', async () => {
  const workers = [spawnCli(['work'], t.env), spawnCli(['work'], { ...t.env, DATABASE_LISTEN_URL: 'off' })];
  try {
    const pids = workers.map((w) => w.pid!);
    // Both workers have read the live versions: each has sent with them.
    await due(8);
    await waitFor(async () => {
      const by = new Set((await sends()).map((s) => s.pid));
      if (pids.every((p) => by.has(p))) return true;
      await due(2);
      return false;
    }, 'a send by each worker', 180_000);
    const old = (await liveVersions(t.app.db)).find((l) => l.variant === 'annual/en/30' && l.arm === 'A')!.version;

    const dir = copy();
    editFile(path.join(dir, 'annual/en.mjml'), (text) => text.replace('Renewing now takes a minute', 'Published while the workers ran'));
    const outcome = await publishFolder(t.app.db, dir, t.config, { actor: 'ann', message: 'live change', arm: 'A', source: 'files' });
    expect(outcome.status).toBe('published');
    const publishedAt = Date.now();
    const fresh = (await liveVersions(t.app.db)).find((l) => l.variant === 'annual/en/30' && l.arm === 'A')!.version;
    expect(fresh).not.toBe(old);

    // Keep both workers busy past the 10 s mark.
    while (Date.now() - publishedAt < 14_000) {
      await due(2);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    await waitFor(async () => (await t.app.db.selectFrom('reminder_ledger').select('id').where('status', '=', 'pending').execute()).length === 0, 'every reminder sent', 120_000);

    const after = (await sends()).filter((s) => s.at >= publishedAt);
    for (const pid of pids) {
      const mine = after.filter((s) => s.pid === pid);
      const lastOld = Math.max(0, ...mine.filter((s) => s.version === old).map((s) => s.at - publishedAt));
      const firstNew = Math.min(...mine.filter((s) => s.version === fresh).map((s) => s.at - publishedAt));
      // Shown in the test output: the figures behind the 10 s promise.
      console.log(`worker ${pid}: last old version ${lastOld} ms after the publish, first new version ${firstNew} ms after`);
      expect(mine.some((s) => s.version === fresh)).toBe(true);
      expect(lastOld).toBeLessThanOrEqual(10_000);
    }
    expect(duplicateDeliveries(smtp.received)).toEqual([]);
    expect(smtp.received.filter((m) => m.parsed.html && m.parsed.html.includes('Published while the workers ran')).length).toBeGreaterThan(0);
  } finally {
    for (const w of workers) w.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(workers.map(exited)), new Promise((resolve) => (timer = setTimeout(resolve, 30_000)))]);
    clearTimeout(timer);
    await killLeftovers(workers);
  }
});
