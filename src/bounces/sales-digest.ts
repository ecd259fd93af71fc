import { randomBytes } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import type { Config } from '../config';
import { businessDate } from '../dates';
import type { Database, IsoDate } from '../db/types';
import type { Logger } from '../logger';
import { senderDomain } from '../send/address';
import type { Mailer } from '../send/mailer';
import { formatUnreachable, listUnreachable, type UnreachableRenewal } from './unreachable';

export interface DigestDeps {
  db: Kysely<Database>;
  mailer(): Mailer;
  config: Pick<Config, 'timezone' | 'offsets' | 'salesEmail' | 'mailFrom'>;
  logger: Logger;
}

export type DigestResult = { sent: true; orders: number; messageId: string } | { sent: false; orders: number; reason: string };

/** A claim on a day's digest older than this is taken over (its sender died before recording it). */
const STALE_CLAIM = '1 hour';

const escapeHtml = (value: string) =>
  value.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);

/**
 * The daily email to SALES_EMAIL listing the renewals no contact can be reached for. Once per
 * business day whatever the number of daemons (a row per day in `sales_digests` is the claim);
 * `force` (the `--email` option) sends now regardless. Nothing is sent when the list is empty.
 */
export async function sendSalesDigest(deps: DigestDeps, options: { force?: boolean; today?: IsoDate } = {}): Promise<DigestResult> {
  const today = options.today ?? businessDate(new Date(), deps.config.timezone);
  if (!options.force) {
    const claimed = await deps.db
      .insertInto('sales_digests')
      .values({ digest_date: today })
      .onConflict((oc) =>
        oc
          .column('digest_date')
          .doUpdateSet({ claimed_at: sql`now()` })
          .where('sales_digests.sent_at', 'is', null)
          .where('sales_digests.claimed_at', '<', sql<Date>`now() - ${STALE_CLAIM}::interval`),
      )
      .returning('digest_date')
      .executeTakeFirst();
    if (!claimed) return { sent: false, orders: 0, reason: `the digest of ${today} was already sent (or is being sent)` };
  }
  let renewals: UnreachableRenewal[];
  try {
    renewals = await listUnreachable(deps.db, deps.config, today);
    if (renewals.length === 0) {
      await record(deps.db, today, 0, null);
      return { sent: false, orders: 0, reason: 'no renewal is unreachable' };
    }
    const messageId = `sales-digest.${today}.${randomBytes(4).toString('hex')}@${senderDomain(deps.config.mailFrom)}`;
    await deps.mailer().send({
      from: deps.config.mailFrom,
      to: deps.config.salesEmail,
      subject: `Renewals no contact can be reached for: ${renewals.length} order(s), ${today}`,
      text: formatUnreachable(renewals),
      html: digestHtml(renewals, today),
      messageId,
    });
    await record(deps.db, today, renewals.length, messageId);
    deps.logger.info({ event: 'sales-digest', day: today, orders: renewals.length, to: deps.config.salesEmail }, 'sales digest of unreachable renewals sent');
    return { sent: true, orders: renewals.length, messageId };
  } catch (error) {
    // Not sent: free the day so the next check (or the next daemon) tries again.
    if (!options.force) await deps.db.deleteFrom('sales_digests').where('digest_date', '=', today).where('sent_at', 'is', null).execute().catch(() => undefined);
    throw error;
  }
}

async function record(db: Kysely<Database>, day: IsoDate, orders: number, messageId: string | null): Promise<void> {
  await db
    .insertInto('sales_digests')
    .values({ digest_date: day, sent_at: sql`now()`, orders, message_id: messageId })
    .onConflict((oc) => oc.column('digest_date').doUpdateSet({ sent_at: sql`now()`, orders, message_id: messageId }))
    .execute();
}

function digestHtml(renewals: readonly UnreachableRenewal[], day: IsoDate): string {
  const rows = renewals
    .map(
      (r) => `<tr><td>${escapeHtml(r.orderNumber)}</td><td>${escapeHtml(r.customerName)}</td>
<td>${r.items.map((i) => `${escapeHtml(i.kind)} ${escapeHtml(i.licenseKey)} (${escapeHtml(i.product)}) expires ${escapeHtml(i.expiresOn)}`).join('<br>')}</td>
<td>${r.contacts.map((c) => `${escapeHtml(c.address)}: ${escapeHtml(c.why)}`).join('<br>')}</td></tr>`,
    )
    .join('\n');
  return `<!doctype html><meta charset="utf-8"><title>Unreachable renewals ${day}</title>
<p>Our renewal reminders cannot reach anyone on these orders: every subscribed contact's address bounced or is suppressed. Please call the customer or find a working address.</p>
<table border="1" cellpadding="4" cellspacing="0"><tr><th>order</th><th>customer</th><th>items</th><th>addresses and why</th></tr>
${rows}</table>`;
}

/**
 * The daemon's check, every `intervalMs`: once today's scan has completed, today's digest is sent
 * (the claim makes it once a day across daemons).
 */
export function startSalesDigestLoop(deps: DigestDeps, intervalMs: number): () => void {
  let running = false;
  const check = async () => {
    const today = businessDate(new Date(), deps.config.timezone);
    const scanned = await deps.db.selectFrom('scan_runs').select('scan_date').where('scan_date', '=', today).where('completed_at', 'is not', null).executeTakeFirst();
    if (!scanned) return;
    const done = await deps.db.selectFrom('sales_digests').select('digest_date').where('digest_date', '=', today).where('sent_at', 'is not', null).executeTakeFirst();
    if (done) return;
    await sendSalesDigest(deps, { today });
  };
  const tick = () => {
    if (running) return;
    running = true;
    check()
      .catch((error: unknown) => deps.logger.error({ err: error }, 'could not send the sales digest of unreachable renewals; will try again'))
      .finally(() => (running = false));
  };
  const timer = setInterval(tick, intervalMs);
  timer.unref();
  tick();
  return () => clearInterval(timer);
}
