import { addDays } from '../../src/dates';
import { exited, spawnCli } from '../helpers/cli';
import { insertLicense, insertOrder } from '../helpers/fixtures';
import { useMailTestEnv } from '../helpers/mail-test-env';
import type { SmtpTestServer } from '../helpers/smtp';
import { type TestEnv, waitFor } from '../helpers/test-env';

// Child processes start slowly on a loaded 2-core machine: allow minutes, not the default 60 s.
jest.setTimeout(240_000);

const T = '2027-06-01';
let t: TestEnv;
let smtp: SmtpTestServer;
useMailTestEnv('wprocs', { SEND_CONCURRENCY: '2' }, (env, server) => {
  t = env;
  smtp = server;
});

async function seed(recipients: number): Promise<void> {
  for (let i = 0; i < recipients; i++) {
    const { orderId } = await insertOrder(t.app.db, { contacts: [{ email: `p${i}@example.com` }] });
    await insertLicense(t.app.db, { orderId, expiresOn: addDays(T, 30) });
  }
  await t.scan(T);
}

/** Pids of the send worker processes the primary reported starting, in order. */
const startedPids = (output: string): number[] =>
  output
    .split('\n')
    .filter((line) => line.includes('send worker process started'))
    .map((line) => (JSON.parse(line) as { pid: number }).pid);

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('WORKER_PROCESSES', () => {
  it('`work --drain` with two processes delivers each message once and exits 0 when the queue is empty', async () => {
    await seed(20);
    const primary = spawnCli(['work', '--drain'], { ...t.env, WORKER_PROCESSES: '2', LOG_LEVEL: 'info' });
    expect(await exited(primary)).toBe(0);
    expect(new Set(startedPids(primary.output())).size).toBe(2);
    const ids = smtp.received.flatMap((m) => String(m.parsed.headers.get('x-reminder-ids') ?? '').split(','));
    expect(ids).toHaveLength(20);
    expect(new Set(ids).size).toBe(20);
    const rows = await t.app.db.selectFrom('reminder_ledger').select('status').execute();
    expect(rows.every((r) => r.status === 'sent')).toBe(true);
  });

  it('restarts a crashed process, and SIGTERM drains them all', async () => {
    const primary = spawnCli(['work'], { ...t.env, WORKER_PROCESSES: '2', LOG_LEVEL: 'info' });
    try {
      const [victim] = await waitFor(() => {
        const pids = startedPids(primary.output());
        return pids.length === 2 && pids;
      }, 'two worker processes', 120_000);
      process.kill(victim as number, 'SIGKILL');
      await waitFor(() => primary.output().includes('stopped unexpectedly; restarting') && startedPids(primary.output()).length === 3, 'a restarted process', 120_000);
      // The survivors and the replacement still send.
      await seed(4);
      await waitFor(() => smtp.received.length === 4 || undefined, 'four messages', 120_000);
      primary.kill('SIGTERM');
      expect(await exited(primary)).toBe(0);
      for (const pid of startedPids(primary.output())) expect(alive(pid)).toBe(false);
    } finally {
      if (primary.exitCode === null) primary.kill('SIGKILL');
    }
  });
});
