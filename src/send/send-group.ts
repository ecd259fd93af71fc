import { createHash } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import type { Config } from '../config';
import type { Database, LedgerRow } from '../db/types';
import { PermanentJobError } from '../queue/job-definition';
import { claimRows, type ClaimSelection, recordOutcome } from '../ledger/claims';
import { retryOnConnectionLoss } from '../db/connection-errors';
import type { Logger } from '../logger';
import { TemplateError, type ReminderEmailInput, type Renderer } from '../render/types';
import { normalizeAddress } from '../scan/candidates';
import { daysBetween } from '../scan/dates';
import { unsubscribeUrl } from '../unsubscribe/token';
import { isDeliverableAddress, senderDomain } from './address';
import type { Mailer } from './mailer';
import { classifySmtpError, describeSmtpError } from './smtp-errors';

export interface SendDeps {
  db: Kysely<Database>;
  mailer: Mailer;
  renderer: Renderer;
  config: Config;
  logger: Logger;
}

/** Where this attempt stands in the queue's retry policy. */
export interface AttemptInfo {
  /** 1-based number of this attempt. */
  attempt: number;
  maxAttempts: number;
  /** Who is sending: recorded in the audit trail (worker id, "replay", …). */
  actor: string;
}

/** Audit-trail actor of failed rows reopened because their finished job was retried (Bull Board). */
export const DASHBOARD_RETRY_ACTOR = 'dashboard retry';

/** A send that retrying cannot fix: 5xx, bad address, broken template, or an outcome left unknown. */
export class PermanentSendError extends PermanentJobError {
  override name = 'PermanentSendError';
}

export interface SendGroupResult {
  sent: string[];
  skipped: Array<{ id: string; reason: string }>;
  unknown: string[];
  messageId: string | null;
}

/**
 * Sends the email for one group of ledger rows: claim (with the send-time re-check), render,
 * send, record. Throws PermanentSendError for failures not worth retrying and the original
 * error for transient ones, after putting the rows back to `pending` for the retry.
 */
export async function sendGroup(deps: SendDeps, selection: ClaimSelection, attempt: AttemptInfo): Promise<SendGroupResult> {
  const { db, config, logger } = deps;
  const { claimed, claimToken, skipped, orphaned, busy, reopened, prepared } = await claimRows(db, selection, attempt.actor, {
    reopenFailedAs: DASHBOARD_RETRY_ACTOR,
    staleClaimMs: config.sendLockMs,
    prepare: (trx, rows) => buildEmailInput(trx, config, rows),
  });
  if (busy.length > 0) logger.warn({ event: 'send', ledgerIds: busy }, 'rows are being sent by another attempt; left to it');
  if (reopened.length > 0) logger.info({ event: 'send', outcome: 'replayed', ledgerIds: reopened }, 'retried job found failed rows: moved back to pending to send them');
  for (const s of skipped) logger.info({ event: 'send', outcome: 'skipped', ledgerId: s.id, reason: s.reason }, 'reminder skipped at send time');
  if (orphaned.length > 0) logger.warn({ event: 'send', outcome: 'unknown', ledgerIds: orphaned }, 'found rows claimed by an attempt that stopped; marked unknown');
  const result: SendGroupResult = { sent: [], skipped, unknown: orphaned, messageId: null };
  if (claimed.length === 0) return result;

  const ids = claimed.map((r) => r.id);
  const first = claimed[0] as LedgerRow;
  const record = (outcome: Parameters<typeof recordOutcome>[3]) => recordOutcome(db, ids, claimToken, outcome, attempt.actor);
  const context = { event: 'send', kind: first.kind, offset: first.offset_days, recipient: first.recipient, ledgerIds: ids, attempt: attempt.attempt };

  if (!isDeliverableAddress(first.recipient)) {
    const detail = `invalid email address ${JSON.stringify(first.recipient)}: fix the contact, then replay`;
    await record({ status: 'failed', event: 'failed', detail });
    logger.warn({ ...context, outcome: 'failed', reason: detail }, 'reminder failed');
    throw new PermanentSendError(detail);
  }

  const input = prepared as ReminderEmailInput;
  let rendered;
  try {
    rendered = await deps.renderer.render(input);
  } catch (error) {
    const detail = error instanceof TemplateError ? `template error: ${error.message}` : `render error: ${(error as Error).message}`;
    await record({ status: 'failed', event: 'failed', detail });
    logger.error({ ...context, outcome: 'failed', reason: detail }, 'reminder failed');
    throw new PermanentSendError(detail, { cause: error });
  }

  // A forced re-send must not reuse the Message-ID of the copy already delivered, or mailbox
  // providers drop it as a duplicate; its replay group key is unique per replay.
  const forced = claimed.some((r) => r.forced);
  const messageId = messageIdFor(ids, config.mailFrom, forced ? first.group_key : undefined);
  let response: string;
  try {
    ({ response } = await deps.mailer.send({
      from: config.mailFrom,
      to: first.recipient,
      subject: rendered.subject,
      html: rendered.html,
      text: rendered.text,
      messageId,
      unsubscribeUrl: unsubscribeUrl(config.publicUrl, first.recipient, config.unsubscribeSecret),
      headers: { 'X-Reminder-Ids': ids.join(','), 'X-Template-Version': rendered.templateVersion },
    }));
  } catch (error) {
    const kind = classifySmtpError(error);
    const detail = describeSmtpError(error);
    if (kind === 'permanent') {
      await record({ status: 'failed', event: 'failed', detail, templateVersion: rendered.templateVersion });
      logger.warn({ ...context, outcome: 'failed', reason: detail }, 'reminder refused');
      throw new PermanentSendError(detail, { cause: error });
    }
    if (kind === 'ambiguous') {
      const why = `connection lost after the message was handed over (${detail}): it may have been delivered; replay to resend`;
      await record({ status: 'unknown', event: 'unknown', detail: why, templateVersion: rendered.templateVersion });
      logger.warn({ ...context, outcome: 'unknown', reason: why }, 'reminder outcome unknown');
      throw new PermanentSendError(why, { cause: error });
    }
    if (attempt.attempt >= attempt.maxAttempts) {
      const why = `gave up after ${attempt.attempt} attempt(s): ${detail}`;
      await record({ status: 'failed', event: 'failed', detail: why, templateVersion: rendered.templateVersion });
      logger.warn({ ...context, outcome: 'failed', reason: why }, 'reminder failed');
      throw new PermanentSendError(why, { cause: error });
    }
    await record({ status: 'pending', event: 'retry', detail: `attempt ${attempt.attempt} of ${attempt.maxAttempts}: ${detail}` });
    logger.info({ ...context, outcome: 'retry', reason: detail }, 'transient send failure; will retry');
    throw error;
  }
  // The message is out. Only SMTP failures are read above: a database error here must not pass
  // for one, or the rows would go back to pending and be sent again. Recording survives a
  // database restart; if it still fails, the rows stay claimed and end up `unknown`, never resent.
  await retryOnConnectionLoss(() => record({ status: 'sent', event: 'sent', detail: response, messageId, templateVersion: rendered.templateVersion }));
  logger.info({ ...context, outcome: 'sent', messageId, templateVersion: rendered.templateVersion }, 'reminder sent');
  return { ...result, sent: ids, messageId };
}

/**
 * Stable per set of ledger rows, so a retried or replayed message keeps its id and receivers can
 * de-duplicate; `variant` (a forced re-send's replay key) makes a deliberate second copy distinct.
 */
export function messageIdFor(ledgerIds: string[], mailFrom: string, variant?: string): string {
  const hash = createHash('sha256')
    .update(ledgerIds.join(',') + (variant ? `|${variant}` : ''))
    .digest('hex')
    .slice(0, 12);
  return `reminder.${ledgerIds[0]}.${hash}@${senderDomain(mailFrom)}`;
}

/** Portal deep links; the paths follow the portal's pages named in the renewal FAQ. */
export function portalLinks(portalUrl: string, kind: LedgerRow['kind'], licenseKeys: string[]) {
  return {
    renew: `${portalUrl}/license/full-license?renew=${licenseKeys.map(encodeURIComponent).join(',')}`,
    upcomingRenewals: `${portalUrl}/order/upcoming-renewal?tab=${kind === 'license' ? 'annual-license' : 'maintenance'}`,
  };
}

/** Gathers the contact, customer and item details of claimed rows into the template's input. */
export async function buildEmailInput(db: Kysely<Database> | Transaction<Database>, config: Config, rows: LedgerRow[]): Promise<ReminderEmailInput> {
  const first = rows[0] as LedgerRow;
  const orderIds = [...new Set(rows.map((r) => r.order_id))];
  const [licenses, orders, contacts] = await Promise.all([
    db.selectFrom('licenses').select(['id', 'product']).where('id', 'in', [...new Set(rows.map((r) => r.license_id))]).execute(),
    db.selectFrom('orders').select(['id', 'order_number', 'customer_name']).where('id', 'in', orderIds).execute(),
    db
      .selectFrom('order_contacts')
      .select(['email', 'name', 'locale'])
      .where('order_id', 'in', orderIds)
      .where('unsubscribed_at', 'is', null)
      .orderBy('id')
      .execute(),
  ]);
  const contact = contacts.find((c) => normalizeAddress(c.email) === first.recipient);
  const items = rows.map((row) => ({
    product: licenses.find((l) => l.id === row.license_id)?.product ?? '',
    licenseKey: row.license_key,
    orderNumber: row.order_number,
    customerName: orders.find((o) => o.id === row.order_id)?.customer_name ?? '',
    expiresOn: row.expires_on,
    daysLeft: daysBetween(row.scan_date, row.expires_on),
  }));
  items.sort((a, b) => a.expiresOn.localeCompare(b.expiresOn) || a.licenseKey.localeCompare(b.licenseKey));
  const daysLeft = Math.min(...items.map((i) => i.daysLeft));
  return {
    kind: first.kind,
    offset: Math.min(...rows.map((r) => r.offset_days)),
    expired: daysLeft < 0,
    daysLeft,
    locale: contact?.locale ?? 'en',
    contactName: contact?.name ?? null,
    recipient: first.recipient,
    items,
    links: {
      ...portalLinks(config.portalUrl, first.kind, items.map((i) => i.licenseKey)),
      unsubscribe: unsubscribeUrl(config.publicUrl, first.recipient, config.unsubscribeSecret),
    },
    salesEmail: config.salesEmail,
    supportEmail: config.supportEmail,
  };
}
