import type { Kysely } from 'kysely';
import type { Config } from '../config';
import { businessDate } from '../dates';
import type { Database, LedgerRow } from '../db/types';
import type { Logger } from '../logger';
import { PermanentJobError } from '../permanent-error';
import { type RenderedEmail, type Renderer, TemplateError } from '../render/types';
import { isDeliverableAddress } from '../send/address';
import type { Mailer, OutgoingEmail } from '../send/mailer';
import { classifySmtpError, describeSmtpError, type FailureClass } from '../send/smtp-errors';
import { unsubscribeUrl } from '../unsubscribe/token';
import { type Claim, claimNext } from './claim';
import { RECORD_RETRY, retryWrite, type WriteRetryPolicy } from './db-retry';
import { recordEvents } from './events';
import { messageIdFor } from './message-id';
import type { SendJobData } from './send-job-payload';
import { transition, type TransitionName, type TransitionResult } from './transitions';

export interface SendDeps {
  db: Kysely<Database>;
  mailer: Mailer;
  renderer: Renderer;
  config: Pick<Config, 'mailFrom' | 'portalUrl' | 'publicUrl' | 'unsubscribeSecret' | 'salesEmail' | 'supportEmail' | 'maxItemsPerEmail' | 'sendClaimTimeoutMs' | 'timezone'>;
  /** The clock: an email states the days left as of its send day in REMINDER_TIMEZONE. */
  now?: () => Date;
  logger: Logger;
  /** How recording an outcome is retried after the hand-over (tests shorten it). */
  recordRetry?: WriteRetryPolicy;
}

/** Where this attempt stands in the queue's retry policy. */
export interface AttemptInfo {
  /** 1-based number of this attempt of the queue job. */
  attempt: number;
  maxAttempts: number;
  /** Who is sending: recorded in the audit trail (worker id, …). */
  actor: string;
  jobId?: string;
}

/** What one send job did, over every email of its group. */
export interface SendJobResult {
  emails: Array<{ messageId: string; ledgerIds: string[] }>;
  sent: string[];
  skipped: Array<{ id: string; reason: string }>;
  failed: string[];
  unknown: string[];
}

/** A send that retrying cannot fix: 5xx, bad address, broken template, or an outcome left unknown. */
export class PermanentSendError extends PermanentJobError {
  override name = 'PermanentSendError';
}

/** A failure before the hand-over that the queue should retry with back-off (4xx, network, database). */
export class TransientSendError extends Error {
  override name = 'TransientSendError';
}

/** What the SMTP call said, classified where it happened: only the mailer's errors are SMTP errors. */
type HandOver =
  | { outcome: 'accepted'; response: string }
  | { outcome: Exclude<FailureClass, never>; detail: string; error: unknown };

/**
 * Sends every pending row of one group (one recipient, kind, offset and scan date), at most
 * `maxItemsPerEmail` items per email: claim, render, hand over, record, until the group is empty.
 *
 * The SMTP hand-over is the point of no return. Before it, a failure puts the rows back to
 * `pending` for the queue's retry. From the moment the server has (or may have) the message, the
 * rows never go back to `pending`: the outcome is recorded as a database write alone, retried
 * with back-off; if it still cannot be written the rows stay `sending`, the sweep makes them
 * `unknown`, and the log carries the Message-ID and the server's reply.
 */
export async function runSendJob(deps: SendDeps, payload: SendJobData, attempt: AttemptInfo): Promise<SendJobResult> {
  const result: SendJobResult = { emails: [], sent: [], skipped: [], failed: [], unknown: [] };
  let reopenIds: readonly string[] | undefined = payload.ledgerIds;
  for (;;) {
    // A database error here is thrown as it is: nothing was claimed, the queue retries.
    const claim = await claimNext(deps.db, deps.config, {
      groupKey: payload.groupKey,
      limit: deps.config.maxItemsPerEmail,
      actor: attempt.actor,
      jobId: attempt.jobId,
      reopenIds,
      earlierClaimGraceMs: deps.config.sendClaimTimeoutMs,
      sendDay: businessDate(deps.now?.() ?? new Date(), deps.config.timezone),
    });
    reopenIds = undefined;
    if (claim.reopened.length > 0) {
      deps.logger.info({ event: 'send', outcome: 'replayed', ledgerIds: claim.reopened }, 'retried job found failed rows: moved back to pending to send them');
    }
    for (const s of claim.skipped) deps.logger.info({ event: 'send', outcome: 'skipped', ledgerId: s.id, reason: s.reason }, 'reminder skipped at send time');
    result.skipped.push(...claim.skipped);
    if (claim.examined === 0) return result;
    if (claim.rows.length === 0) continue;
    await deliver(deps, claim, attempt, result);
  }
}

async function deliver(deps: SendDeps, claim: Claim, attempt: AttemptInfo, result: SendJobResult): Promise<void> {
  const { config, logger } = deps;
  const rows = claim.rows;
  const ids = rows.map((r) => r.id);
  const first = rows[0] as LedgerRow;
  const context = {
    event: 'send',
    kind: first.kind,
    offset: first.offset_days,
    recipient: first.recipient,
    ledgerIds: ids,
    // The ledger's count, so a replayed reminder's second attempt says 2, as `history` does.
    attempt: Math.max(...rows.map((r) => r.attempts)),
    jobAttempt: attempt.attempt,
  };
  const record = (name: TransitionName, detail: string | null, extra: { messageId?: string; templateVersion?: string } = {}) =>
    recordOutcome(deps, name, ids, claim.token, { detail, actor: attempt.actor, ...extra });

  if (!isDeliverableAddress(first.recipient)) {
    const detail = `invalid email address ${JSON.stringify(first.recipient)}: fix the contact, then replay`;
    await record('failed', detail);
    logger.warn({ ...context, outcome: 'failed', reason: detail }, 'reminder failed');
    result.failed.push(...ids);
    throw new PermanentSendError(detail);
  }

  let rendered: RenderedEmail;
  try {
    rendered = await deps.renderer.render(claim.input!);
  } catch (error) {
    const detail = error instanceof TemplateError ? `template error: ${error.message}` : `render error: ${(error as Error).message}`;
    await record('failed', detail);
    logger.error({ ...context, outcome: 'failed', reason: detail }, 'reminder failed');
    result.failed.push(...ids);
    throw new PermanentSendError(detail, { cause: error });
  }

  // A forced re-send must not reuse the Message-ID of the copy already delivered, or mailbox
  // providers drop it as a duplicate; its replay group key is unique per replay.
  const forced = rows.some((r) => r.forced);
  const messageId = messageIdFor(ids, config.mailFrom, forced ? first.group_key : undefined);
  const email: OutgoingEmail = {
    from: config.mailFrom,
    to: first.recipient,
    subject: rendered.subject,
    html: rendered.html,
    text: rendered.text,
    messageId,
    unsubscribeUrl: unsubscribeUrl(config.publicUrl, first.recipient, config.unsubscribeSecret),
    headers: { 'X-Reminder-Ids': ids.join(','), 'X-Template-Version': rendered.templateVersion },
  };
  const versions = { messageId, templateVersion: rendered.templateVersion };

  // The rows' locks are held from here until the outcome is written: the sweep passes over them
  // (SKIP LOCKED) and a replay waits, so a live send is never declared unknown nor sent twice.
  let handOver: HandOver | undefined;
  let recorded = false;
  try {
    await deps.db.transaction().execute(async (trx) => {
      const held = await trx
        .selectFrom('reminder_ledger')
        .select('id')
        .where('id', 'in', ids)
        .where('claim_token', '=', claim.token)
        .where('status', '=', 'sending')
        .forUpdate()
        .execute();
      if (held.length !== ids.length) throw new ClaimLost(ids.filter((id) => !held.some((h) => h.id === id)));
      handOver = await handOverToSmtp(deps.mailer, email);
      const step = outcomeTransition(handOver, attempt);
      const moved = await transition(trx, step.name, { ids, claimToken: claim.token, actor: attempt.actor, detail: step.detail, ...versions, ...finished(step.name) });
      if (moved.missed.length > 0) throw new Error(`ledger rows ${moved.missed.join(', ')} left this claim while locked`);
      recorded = true;
    });
  } catch (error) {
    if (error instanceof ClaimLost) {
      // The sweep or an operator took the rows before the hand-over: nothing was sent by this attempt.
      logger.warn({ ...context, outcome: 'claim-lost', lostIds: error.ids }, 'rows left this claim before the hand-over (swept as unknown, or replayed): not sent');
      // Those still under our token (swept to unknown) go back to pending: we know nothing went out.
      await backToPending(deps, ids, claim.token, attempt.actor, 'claim lost before the hand-over: not sent');
      return;
    }
    if (!handOver) {
      // The database failed before the hand-over: nothing went out. Back to pending if we can;
      // if not, the rows stay `sending` and the sweep makes them `unknown` (safe side).
      logger.warn({ ...context, err: error }, 'database error before the hand-over: not sent, will retry');
      await backToPending(deps, ids, claim.token, attempt.actor, `database error before sending: ${(error as Error).message}`);
      throw new TransientSendError(`database error before sending: ${(error as Error).message}`, { cause: error });
    }
  }
  if (!handOver) return;
  const step = outcomeTransition(handOver, attempt);
  if (!recorded) {
    // The server has (or may have) the message: record it as a write alone, never back to pending.
    logger.warn({ ...context, outcome: step.name, messageId }, 'could not record the outcome with the send: retrying the write alone');
    await recordOutcome(deps, step.name, ids, claim.token, { actor: attempt.actor, detail: step.detail, ...versions, ...finished(step.name) }).catch((error: unknown) => {
      logger.error(
        { ...context, err: error, outcome: 'unrecorded', messageId, smtpReply: handOver && 'response' in handOver ? handOver.response : step.detail },
        'OUTCOME NOT RECORDED: the ledger could not be written after the hand-over; the rows stay sending and become unknown. Check delivery with the Message-ID before any replay.',
      );
      throw new PermanentSendError(`delivered or possibly delivered as ${messageId}, but the outcome could not be recorded: ${(error as Error).message}`, {
        cause: error,
      });
    });
  }

  switch (step.name) {
    case 'sent':
      logger.info({ ...context, outcome: 'sent', messageId, templateVersion: rendered.templateVersion }, 'reminder sent');
      result.sent.push(...ids);
      result.emails.push({ messageId, ledgerIds: ids });
      return;
    case 'retry':
      logger.info({ ...context, outcome: 'retry', reason: step.detail }, 'transient send failure; will retry');
      throw new TransientSendError(step.detail);
    case 'unknown':
      logger.warn({ ...context, outcome: 'unknown', reason: step.detail, messageId }, 'reminder outcome unknown');
      result.unknown.push(...ids);
      throw new PermanentSendError(step.detail);
    default:
      logger.warn({ ...context, outcome: 'failed', reason: step.detail }, 'reminder failed');
      result.failed.push(...ids);
      throw new PermanentSendError(step.detail);
  }
}

/** Before the hand-over only: rows still under this claim go back to pending for the queue's retry. */
async function backToPending(deps: SendDeps, ids: string[], token: string, actor: string, detail: string): Promise<void> {
  try {
    const { moved, missed } = await transition(deps.db, 'retry', { ids, claimToken: token, actor, detail });
    if (missed.length > 0) deps.logger.info({ ledgerIds: missed }, 'rows no longer under this claim: left to their new owner');
    if (moved.length > 0) deps.logger.info({ ledgerIds: moved.map((r) => r.id) }, 'rows back to pending: nothing was sent');
  } catch (error) {
    deps.logger.warn({ err: error, ledgerIds: ids }, 'could not put the rows back to pending: they stay sending and the sweep makes them unknown');
  }
}

/** Raised inside the hand-over transaction when the rows are no longer this attempt's. */
class ClaimLost extends Error {
  constructor(readonly ids: string[]) {
    super(`ledger rows ${ids.join(', ')} are no longer claimed by this attempt`);
  }
}

/**
 * An attempt that records `unknown` itself is over: its claim token goes, so a replay of the row
 * need not wait for it (see ClaimRequest.earlierClaimGraceMs). A swept row keeps its token.
 */
const finished = (name: TransitionName) => (name === 'unknown' ? { set: { claim_token: null } } : {});

/** The one call whose failures are SMTP failures. Never throws. */
async function handOverToSmtp(mailer: Mailer, email: OutgoingEmail): Promise<HandOver> {
  try {
    const { response } = await mailer.send(email);
    return { outcome: 'accepted', response };
  } catch (error) {
    return { outcome: classifySmtpError(error), detail: describeSmtpError(error), error };
  }
}

/** Which transition records a hand-over's outcome, and its audit text. */
function outcomeTransition(handOver: HandOver, attempt: AttemptInfo): { name: 'sent' | 'failed' | 'unknown' | 'retry'; detail: string } {
  switch (handOver.outcome) {
    case 'accepted':
      return { name: 'sent', detail: handOver.response };
    case 'permanent':
      return { name: 'failed', detail: handOver.detail };
    case 'ambiguous':
      return {
        name: 'unknown',
        detail: `connection lost after the message was handed over (${handOver.detail}): it may have been delivered; check, then replay to resend`,
      };
    case 'transient':
      return attempt.attempt >= attempt.maxAttempts
        ? { name: 'failed', detail: `gave up after ${attempt.attempt} attempt(s): ${handOver.detail}` }
        : { name: 'retry', detail: `attempt ${attempt.attempt} of ${attempt.maxAttempts}: ${handOver.detail}` };
  }
}

/**
 * Records an attempt's outcome as a database write alone, retried with back-off. A transition
 * that moves none of the rows means they are no longer this attempt's: an operator replayed them
 * and another attempt holds them now. The outcome is then kept as a `late-outcome` event, with
 * its Message-ID, on each row, and logged: it is never dropped in silence.
 */
async function recordOutcome(
  deps: SendDeps,
  name: TransitionName,
  ids: string[],
  token: string,
  request: { detail: string | null; actor: string; messageId?: string; templateVersion?: string; set?: { claim_token: null } },
): Promise<TransitionResult> {
  const policy = deps.recordRetry ?? RECORD_RETRY;
  const moved = await retryWrite(
    () => transition(deps.db, name, { ids, claimToken: token, ...request }),
    policy,
    (error, n) => deps.logger.warn({ err: error, ledgerIds: ids, transition: name, attempt: n }, 'recording the outcome failed; retrying the write'),
  );
  if (moved.missed.length > 0) {
    const detail = `${name} reported by an attempt that no longer held the claim${request.messageId ? ` (Message-ID ${request.messageId})` : ''}: ${request.detail ?? ''}`;
    deps.logger.error({ ledgerIds: moved.missed, transition: name, messageId: request.messageId }, `late outcome: ${detail}`);
    await retryWrite(
      () =>
        recordEvents(
          deps.db,
          moved.missed.map((id) => ({ ledgerId: id, event: 'late-outcome', status: 'unknown', detail, messageId: request.messageId ?? null, actor: request.actor })),
        ),
      policy,
      () => undefined,
    ).catch(() => undefined);
  }
  return moved;
}
