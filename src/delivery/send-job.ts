import type { Kysely } from 'kysely';
import type { Config } from '../config';
import { businessDate } from '../dates';
import type { Database, LedgerRow } from '../db/types';
import type { Logger } from '../logger';
import { PermanentJobError } from '../permanent-error';
import { type RenderedEmail, type Renderer, TemplateError } from '../render/types';
import { isDeliverableAddress } from '../send/address';
import type { Mailer, OutgoingEmail } from '../send/mailer';
import { classifySmtpError, describeSmtpError, type FailureClass, serverUnreached } from '../send/smtp-errors';
import { unsubscribeUrl } from '../unsubscribe/token';
import { type Claim, claimNext } from './claim';
import { recordEvents } from './events';
import { type LeaseKeeper, leaseKeeperFor } from './lease-keeper';
import { applyLeaseTransition, applyTransition, type LeaseSettings, type TransitionRequest, type TransitionResult } from './ledger-sql';
import { messageIdFor } from './message-id';
import type { SendJobData } from './send-job-payload';
import { attemptBounds, outcomeTransition, type TransitionName } from './transitions';

export interface SendDeps {
  db: Kysely<Database>;
  mailer: Mailer;
  renderer: Renderer;
  config: Pick<
    Config,
    'mailFrom' | 'portalUrl' | 'publicUrl' | 'unsubscribeSecret' | 'salesEmail' | 'supportEmail' | 'maxItemsPerEmail' | 'sendAttempts' | 'sendLeaseMs' | 'sendReplayGraceMs' | 'timezone'
  >;
  /** The clock: an email states the days left as of its send day in REMINDER_TIMEZONE. */
  now?: () => Date;
  logger: Logger;
  /** The process's heartbeat; by default one per database (see lease-keeper.ts). */
  leases?: LeaseKeeper;
}

/** Where this attempt stands in the queue's retry policy. */
export interface AttemptInfo {
  /** 1-based number of this run of the queue job (logged; the budget is the rows', see transitions.ts). */
  attempt: number;
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
type HandOver = { outcome: 'accepted'; response: string } | { outcome: FailureClass | 'unreachable'; detail: string; error: unknown };

/**
 * Sends every pending row of one group (one recipient, kind, offset and scan date), at most
 * `maxItemsPerEmail` items per email: claim (under a lease), render, mark the hand-over, call
 * SMTP with a hard deadline, record the outcome, until the group is empty.
 *
 * The hand-over mark is the point of no return. Before it, a failure puts the rows back to
 * `pending`. From it, the rows never go back to `pending`: the outcome is one guarded statement,
 * retried within a wall-clock bound that ends before the lease can expire; if it still cannot
 * be written, the log says OUTCOME NOT RECORDED with the Message-ID and the server's reply, and
 * the sweep makes the rows `unknown` once the lease has expired.
 */
export async function runSendJob(deps: SendDeps, payload: SendJobData, attempt: AttemptInfo): Promise<SendJobResult> {
  const result: SendJobResult = { emails: [], sent: [], skipped: [], failed: [], unknown: [] };
  const settings = leaseSettings(deps.config);
  const leases = deps.leases ?? leaseKeeperFor(deps.db, settings.leaseMs, (error) => deps.logger.warn({ err: error }, 'could not extend the leases; retrying'));
  for (;;) {
    // A database error here is thrown as it is: nothing was claimed, the queue retries. The
    // payload's ids are not reopened: a retried or stale job sends what its group has pending.
    const claim = await claimNext(
      deps.db,
      deps.config,
      {
        groupKey: payload.groupKey,
        limit: deps.config.maxItemsPerEmail,
        actor: attempt.actor,
        jobId: attempt.jobId,
        sendDay: businessDate(deps.now?.() ?? new Date(), deps.config.timezone),
      },
      settings,
    );
    for (const s of claim.skipped) deps.logger.info({ event: 'send', outcome: 'skipped', ledgerId: s.id, reason: s.reason }, 'reminder skipped at send time');
    result.skipped.push(...claim.skipped);
    if (claim.examined === 0) return result;
    if (claim.rows.length === 0) continue;
    leases.hold(claim.owner);
    try {
      await deliver(deps, claim, attempt, result);
    } finally {
      leases.release(claim.owner);
    }
    // A claim that took fewer rows than one email holds emptied the group: the statement that
    // would only confirm it is saved. Rows added to the group since get a job from the outbox.
    if (claim.examined < deps.config.maxItemsPerEmail) return result;
  }
}

/** The lease settings of the send path, from the worker's own configuration. */
export const leaseSettings = (config: Pick<Config, 'sendLeaseMs' | 'sendReplayGraceMs'>): LeaseSettings => ({
  leaseMs: config.sendLeaseMs,
  replayGraceMs: config.sendReplayGraceMs,
});

async function deliver(deps: SendDeps, claim: Claim, attempt: AttemptInfo, result: SendJobResult): Promise<void> {
  const { config, logger } = deps;
  const settings = leaseSettings(config);
  const bounds = attemptBounds(settings.leaseMs);
  const rows = claim.rows;
  const ids = rows.map((r) => r.id);
  const first = rows[0] as LedgerRow;
  const rowAttempts = Math.max(...rows.map((r) => r.attempts));
  const context = {
    event: 'send',
    kind: first.kind,
    offset: first.offset_days,
    recipient: first.recipient,
    ledgerIds: ids,
    // The ledger's count, so a replayed reminder's second attempt says 2, as `history` does.
    attempt: rowAttempts,
    jobAttempt: attempt.attempt,
  };
  const before = (name: 'failed' | 'retry', detail: string) =>
    recordWithin(deps, name, { ids, owner: claim.owner, actor: attempt.actor, detail }, settings, bounds.recordWithinMs + bounds.smtpDeadlineMs);

  if (!isDeliverableAddress(first.recipient)) {
    const detail = `invalid email address ${JSON.stringify(first.recipient)}: fix the contact, then replay`;
    await before('failed', detail);
    logger.warn({ ...context, outcome: 'failed', reason: detail }, 'reminder failed');
    result.failed.push(...ids);
    throw new PermanentSendError(detail);
  }

  let rendered: RenderedEmail;
  try {
    rendered = await deps.renderer.render(claim.input!);
  } catch (error) {
    const detail = error instanceof TemplateError ? `template error: ${error.message}` : `render error: ${(error as Error).message}`;
    await before('failed', detail);
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
  const versions = { messageId, templateVersion: rendered.templateVersion, templateArm: rendered.arm ?? null, templateLocale: rendered.templateLocale ?? null };

  // The hand-over mark: the rows say "may have reached SMTP" from here, the lease is extended,
  // and every later bound counts from the moment the mark was sent (before the database set it).
  const markedAt = performance.now();
  let mark: TransitionResult;
  try {
    mark = await applyLeaseTransition(deps.db, 'handOver', { ids, owner: claim.owner, actor: attempt.actor, ...versions }, settings);
  } catch (error) {
    logger.warn({ ...context, err: error }, 'database error before the hand-over: not sent, will retry');
    await before('retry', `database error before sending: ${(error as Error).message}`).catch(() => undefined);
    throw new TransientSendError(`database error before sending: ${(error as Error).message}`, { cause: error });
  }
  if (mark.missed.length > 0) {
    // The lease expired before the mark (this process stalled longer than the lease): nothing
    // was handed over. Rows still under it go back to pending; rows the sweep settled are its.
    logger.warn({ ...context, outcome: 'lease-lost', lostIds: mark.missed }, 'the lease on these rows expired before the hand-over: not sent, will retry');
    await applyTransition(deps.db, 'retry', { ids, owner: claim.owner, actor: attempt.actor, detail: 'lease expired before the hand-over: not sent' }, settings).catch(() => undefined);
    throw new TransientSendError('the lease expired before the hand-over: not sent');
  }

  const handOver = await handOverToSmtp(deps.mailer, email, bounds.smtpDeadlineMs - (performance.now() - markedAt));
  const name = outcomeTransition(handOver.outcome, rowAttempts, config.sendAttempts);
  const detail = outcomeDetail(handOver, name, rowAttempts, config.sendAttempts);
  const recordBy = bounds.smtpDeadlineMs + bounds.recordWithinMs - (performance.now() - markedAt);
  try {
    await recordWithin(deps, name, { ids, owner: claim.owner, actor: attempt.actor, detail, ...versions }, settings, recordBy);
  } catch (error) {
    logger.error(
      { ...context, err: error, outcome: 'unrecorded', transition: name, messageId, smtpReply: handOver.outcome === 'accepted' ? handOver.response : detail },
      'OUTCOME NOT RECORDED: the ledger could not be written after the hand-over; the rows stay sending and become unknown when the lease expires. Check delivery with the Message-ID before any replay.',
    );
    throw new PermanentSendError(`delivered or possibly delivered as ${messageId}, but the outcome could not be recorded: ${(error as Error).message}`, { cause: error });
  }

  switch (name) {
    case 'sent':
      logger.info({ ...context, outcome: 'sent', messageId, templateVersion: rendered.templateVersion }, 'reminder sent');
      result.sent.push(...ids);
      result.emails.push({ messageId, ledgerIds: ids });
      return;
    case 'retry':
    case 'unreachable':
      logger.info({ ...context, outcome: name, reason: detail }, 'transient send failure; will retry');
      throw new TransientSendError(detail);
    case 'unknown':
      logger.warn({ ...context, outcome: 'unknown', reason: detail, messageId }, 'reminder outcome unknown');
      result.unknown.push(...ids);
      throw new PermanentSendError(detail);
    default:
      logger.warn({ ...context, outcome: 'failed', reason: detail }, 'reminder failed');
      result.failed.push(...ids);
      throw new PermanentSendError(detail);
  }
}

/**
 * The one call whose failures are SMTP failures. Never throws. Past `deadlineMs` the connection
 * carrying the message is closed: nothing can go out after it.
 */
async function handOverToSmtp(mailer: Mailer, email: OutgoingEmail, deadlineMs: number): Promise<HandOver> {
  try {
    const { response } = await mailer.send(email, { signal: AbortSignal.timeout(Math.max(1, Math.floor(deadlineMs))) });
    return { outcome: 'accepted', response };
  } catch (error) {
    return { outcome: serverUnreached(error) ? 'unreachable' : classifySmtpError(error), detail: describeSmtpError(error), error };
  }
}

/** The audit text of an outcome. */
function outcomeDetail(handOver: HandOver, name: ReturnType<typeof outcomeTransition>, rowAttempts: number, maxAttempts: number): string {
  if (handOver.outcome === 'accepted') return handOver.response;
  switch (name) {
    case 'unknown':
      return `connection lost after the message was handed over (${handOver.detail}): it may have been delivered; check, then replay to resend`;
    case 'retry':
      return `attempt ${rowAttempts} of ${maxAttempts}: ${handOver.detail}`;
    case 'unreachable':
      return `SMTP server not reached, not counted as an attempt: ${handOver.detail}`;
    default:
      return handOver.outcome === 'transient' ? `gave up after ${rowAttempts} attempt(s): ${handOver.detail}` : handOver.detail;
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Records an outcome as one guarded statement (shared with the process's other attempts recording
 * the same transition at the same moment, see batcher.ts), retried with back-off until `withinMs` of wall
 * clock have passed (each try bounded too: a connection that waits for the server to come back
 * counts against the bound). A late try that lands anyway is harmless: every statement is
 * guarded by the status and the lease owner. A transition that moves none of the rows means the
 * lease was lost and the sweep settled them: the outcome is then kept as a `late-outcome`
 * event, with its Message-ID, on each row, and logged, never dropped in silence.
 */
async function recordWithin(deps: SendDeps, name: TransitionName, request: TransitionRequest, settings: LeaseSettings, withinMs: number): Promise<TransitionResult> {
  const deadline = performance.now() + withinMs;
  let delay = 100;
  for (let n = 1; ; n++) {
    const left = deadline - performance.now();
    try {
      if (left <= 0) throw new Error(`gave up recording ${name} within the attempt's bound`);
      const moved = await withTimeout(applyLeaseTransition(deps.db, name, request, settings), left, `recording ${name} took longer than the attempt's bound`);
      if (moved.missed.length > 0) await lateOutcome(deps, name, request, moved.missed, settings);
      return moved;
    } catch (error) {
      if (error instanceof BoundExceeded || deadline - performance.now() <= delay) throw error;
      deps.logger.warn({ err: error, ledgerIds: request.ids, transition: name, attempt: n }, 'recording the outcome failed; retrying the write');
      await sleep(delay);
      delay = Math.min(2000, delay * 2);
    }
  }
}

async function lateOutcome(deps: SendDeps, name: TransitionName, request: TransitionRequest, missed: string[], settings: LeaseSettings): Promise<void> {
  void settings;
  const detail = `${name} reported by an attempt that no longer held the lease${request.messageId ? ` (Message-ID ${request.messageId})` : ''}: ${request.detail ?? ''}`;
  deps.logger.error({ ledgerIds: missed, transition: name, messageId: request.messageId }, `late outcome: ${detail}`);
  await recordEvents(
    deps.db,
    missed.map((id) => ({ ledgerId: id, event: 'late-outcome', status: 'unknown', detail, messageId: request.messageId ?? null, actor: request.actor })),
  ).catch(() => undefined);
}

class BoundExceeded extends Error {}

function withTimeout<T>(work: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new BoundExceeded(message)), Math.max(1, ms));
  });
  // A try abandoned at the bound may still land later: guarded, so harmless; its error is dropped.
  work.catch(() => undefined);
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
