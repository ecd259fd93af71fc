import { createHash } from 'node:crypto';
import { type Kysely, sql, type Transaction } from 'kysely';
import { DateTime } from 'luxon';
import type { Config } from '../config';
import type { Database } from '../db/types';
import { suppressAddress } from '../delivery/suppressions';
import { applyTransition } from '../delivery/ledger-sql';
import type { Logger } from '../logger';
import { normalizeAddress } from '../send/address';
import { type BounceReport, domainOf } from './classify';
import { parseBounceMessage } from './parse-report';
import { decide } from './policy';

/** Where a bounce came from: the MTA pipe, the IMAP mailbox, or a provider's webhook. */
export type BounceChannel = 'mta' | 'imap' | 'ses' | 'sendgrid' | 'postmark' | 'mailgun' | 'generic';

export interface IngestDeps {
  db: Kysely<Database>;
  config: Pick<Config, 'unsubscribeSecret' | 'softBounceLimit' | 'softBounceWindowDays' | 'timezone' | 'sendLeaseMs' | 'sendReplayGraceMs'>;
  logger: Logger;
  /** The clock (tests set it). */
  now?: () => Date;
}

export interface EventOutcome {
  type: BounceReport['type'];
  recipient: string | null;
  ledgerIds: string[];
  matchedBy: 'verp' | 'message-id' | 'recipient' | null;
  /** False when the same event was already recorded (nothing done again). */
  recorded: boolean;
  action: string;
}

export interface IngestOutcome {
  bounceMessageId: string;
  /** The same raw message was stored before (an MTA's retry, a redelivered webhook). */
  duplicate: boolean;
  events: EventOutcome[];
  problem: string | null;
}

/**
 * Stores the raw source first, in a statement of its own, so that nothing received is ever lost;
 * the same bytes twice are stored once. Throws only when PostgreSQL cannot store it.
 */
export async function storeRaw(db: Kysely<Database>, channel: BounceChannel, raw: Buffer): Promise<{ id: string; sha: string; duplicate: boolean }> {
  const sha = createHash('sha256').update(raw).digest('hex');
  const inserted = await db
    .insertInto('bounce_messages')
    .values({ channel, raw, raw_sha256: sha })
    .onConflict((oc) => oc.column('raw_sha256').doNothing())
    .returning('id')
    .executeTakeFirst();
  if (inserted) return { id: inserted.id, sha, duplicate: false };
  const existing = await db.selectFrom('bounce_messages').select('id').where('raw_sha256', '=', sha).executeTakeFirstOrThrow();
  return { id: existing.id, sha, duplicate: true };
}

/**
 * One raw bounce or complaint message (MTA pipe, IMAP): stored, then read and acted on. Reading
 * and acting never throw: a message that cannot be read, or a failure while acting, is kept with
 * its problem; only a failure to store it throws (the MTA should retry).
 */
export async function ingestRawMessage(deps: IngestDeps, channel: 'mta' | 'imap', raw: Buffer): Promise<IngestOutcome> {
  const stored = await storeRaw(deps.db, channel, raw);
  const parsed = await parseBounceMessage(raw, deps.config.unsubscribeSecret).catch((error: unknown) => ({
    reports: [] as BounceReport[],
    problem: `could not be parsed: ${(error as Error)?.message ?? String(error)}`,
  }));
  return processReports(deps, channel, stored, parsed.reports, parsed.problem, false);
}

/**
 * Events a provider reported (already authenticated by its webhook): the request body is stored as
 * the raw source, then each event is recorded. Throws when PostgreSQL fails, so the provider retries.
 */
export async function ingestProviderEvents(deps: IngestDeps, channel: BounceChannel, raw: Buffer, reports: BounceReport[]): Promise<IngestOutcome> {
  const stored = await storeRaw(deps.db, channel, raw);
  const outcome = await processReports(deps, channel, stored, reports, reports.length === 0 ? 'no bounce or complaint in it' : null, true);
  const failed = outcome.events.find((e) => e.action.startsWith('error:'));
  if (failed) throw new Error(`could not record a ${channel} event: ${failed.action}`);
  return outcome;
}

async function processReports(
  deps: IngestDeps,
  channel: BounceChannel,
  stored: { id: string; sha: string; duplicate: boolean },
  reports: BounceReport[],
  parseProblem: string | null,
  trusted: boolean,
): Promise<IngestOutcome> {
  const events: EventOutcome[] = [];
  for (const report of reports) {
    try {
      events.push(await recordReport(deps, channel, stored, report, trusted));
    } catch (error) {
      deps.logger.error({ err: error, channel, bounceMessageId: stored.id }, 'could not record a bounce event; its raw message is kept');
      events.push({ type: report.type, recipient: report.recipient, ledgerIds: [], matchedBy: null, recorded: false, action: `error: ${(error as Error)?.message ?? String(error)}` });
    }
  }
  const unmatched = reports.length > 0 && events.every((e) => e.ledgerIds.length === 0) ? 'matches no reminder we sent' : null;
  const problem = parseProblem ?? events.find((e) => e.action.startsWith('error:'))?.action ?? unmatched;
  await deps.db
    .updateTable('bounce_messages')
    .set({ problem, events: events.filter((e) => e.recorded).length, processed_at: sql`now()` })
    .where('id', '=', stored.id)
    .execute()
    .catch((error: unknown) => deps.logger.warn({ err: error, bounceMessageId: stored.id }, 'could not mark the bounce message processed'));
  for (const e of events) {
    deps.logger.info({ event: 'bounce', channel, type: e.type, recipient: e.recipient, ledgerIds: e.ledgerIds, matchedBy: e.matchedBy, recorded: e.recorded, action: e.action }, `${channel} ${e.type}: ${e.action}`);
  }
  return { bounceMessageId: stored.id, duplicate: stored.duplicate, events, problem };
}

interface MatchedRow {
  id: string;
  recipient: string;
  status: string;
  message_id: string | null;
}

/** The ledger rows of the reminder a report is about: by VERP token, by Message-ID, or (trusted providers) by recipient. */
async function matchReminder(db: Transaction<Database>, report: BounceReport, trusted: boolean): Promise<{ rows: MatchedRow[]; by: EventOutcome['matchedBy'] }> {
  const byMessageId = (messageId: string) =>
    db.selectFrom('reminder_ledger').select(['id', 'recipient', 'status', 'message_id']).where('message_id', '=', messageId).orderBy('id').execute();
  for (const ledgerId of report.verpLedgerIds) {
    const first = await db.selectFrom('reminder_ledger').select(['id', 'recipient', 'status', 'message_id']).where('id', '=', ledgerId).executeTakeFirst();
    if (first) return { rows: first.message_id ? await byMessageId(first.message_id) : [first], by: 'verp' };
  }
  if (report.messageId) {
    const rows = await byMessageId(report.messageId);
    if (rows.length > 0) return { rows, by: 'message-id' };
  }
  if (trusted && report.recipient) {
    const latest = await db
      .selectFrom('reminder_ledger')
      .select('message_id')
      .where('recipient', '=', normalizeAddress(report.recipient))
      .where('status', 'in', ['sent', 'bounced'])
      .where('message_id', 'is not', null)
      .orderBy('sent_at', 'desc')
      .limit(1)
      .executeTakeFirst();
    if (latest?.message_id) return { rows: await byMessageId(latest.message_id), by: 'recipient' };
  }
  return { rows: [], by: null };
}

async function recordReport(deps: IngestDeps, channel: BounceChannel, stored: { id: string; sha: string }, report: BounceReport, trusted: boolean): Promise<EventOutcome> {
  const { config } = deps;
  const now = deps.now?.() ?? new Date();
  return deps.db.transaction().execute(async (trx) => {
    const { rows, by } = await matchReminder(trx, report, trusted);
    const first = rows[0];
    const recipient = first ? first.recipient : report.recipient ? normalizeAddress(report.recipient) : null;
    // One event per (type, message, recipient): the same bounce from two channels, or twice, is one.
    const about = first?.message_id ?? (first ? `ledger:${first.id}` : null) ?? (report.providerEventId ? `${channel}:${report.providerEventId}` : null) ?? report.messageId ?? `raw:${stored.sha}`;
    const eventKey = `${report.type}|${about}|${recipient ?? ''}`;
    if (recipient) await sql`select pg_advisory_xact_lock(hashtext(${`bounce:${recipient}`}))`.execute(trx);
    const inserted = await trx
      .insertInto('bounce_events')
      .values({
        bounce_message_id: stored.id,
        event_key: eventKey,
        channel,
        type: report.type,
        recipient,
        recipient_domain: domainOf(recipient),
        status: report.status,
        diagnostic: report.diagnostic?.slice(0, 1000) ?? null,
        feedback_type: report.feedbackType ?? null,
        reminder_message_id: first?.message_id ?? report.messageId,
        ledger_ids: rows.map((r) => r.id),
        matched_by: by,
        occurred_at: report.occurredAt ?? now,
        received_at: now,
      })
      .onConflict((oc) => oc.column('event_key').doNothing())
      .returning('id')
      .executeTakeFirst();
    const outcome = { type: report.type, recipient, ledgerIds: rows.map((r) => r.id), matchedBy: by };
    if (!inserted) return { ...outcome, recorded: false, action: 'already recorded' };

    const suppressed = recipient ? await trx.selectFrom('suppressed_addresses').select('reason').where('address', '=', recipient).executeTakeFirst() : undefined;
    const softCount = report.type === 'soft' && recipient ? await softBouncesInWindow(trx, recipient, now, config.softBounceWindowDays) : 0;
    const decision = decide({
      type: report.type,
      matched: rows.length > 0 && recipient !== null,
      suppressed: suppressed?.reason ?? null,
      softCount,
      softLimit: config.softBounceLimit,
      softWindowDays: config.softBounceWindowDays,
      status: report.status,
      diagnostic: report.diagnostic,
      channel,
      messageId: first?.message_id ?? report.messageId,
      day: DateTime.fromJSDate(now, { zone: config.timezone }).toISODate() as string,
    });
    let action = decision.action;
    if (decision.bounceRows) {
      const sent = rows.filter((r) => r.status === 'sent').map((r) => r.id);
      const moved = await applyTransition(
        trx,
        'bounce',
        { ids: sent, actor: `bounce ${channel}`, detail: `hard bounce: ${[report.status, report.diagnostic].filter(Boolean).join(' ').slice(0, 300)}` },
        { leaseMs: config.sendLeaseMs, replayGraceMs: config.sendReplayGraceMs },
      );
      action = action.replace('rows bounced', `${moved.moved.length} row(s) sent → bounced`);
    }
    if (decision.suppress && recipient) await suppressAddress(trx, recipient, decision.suppress, `bounce ${channel}`);
    await trx.updateTable('bounce_events').set({ action }).where('id', '=', inserted.id).execute();
    return { ...outcome, recorded: true, action };
  });
}

/** Matched soft bounces of the address within the window, since it was last unsuppressed. */
async function softBouncesInWindow(db: Transaction<Database>, recipient: string, now: Date, windowDays: number): Promise<number> {
  const since = new Date(now.getTime() - windowDays * 86_400_000);
  const lifted = await db
    .selectFrom('suppression_log')
    .select(sql<Date>`max(at)`.as('at'))
    .where('address', '=', recipient)
    .where('action', '=', 'unsuppressed')
    .executeTakeFirst();
  const from = lifted?.at && lifted.at > since ? lifted.at : since;
  const row = await db
    .selectFrom('bounce_events')
    .select(sql<string>`count(*)`.as('n'))
    .where('recipient', '=', recipient)
    .where('type', '=', 'soft')
    .where(sql<boolean>`cardinality(ledger_ids) > 0`)
    .where('received_at', '>', from)
    .executeTakeFirst();
  return Number(row?.n ?? 0);
}
