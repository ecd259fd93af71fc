import { type ParsedMail, simpleParser } from 'mailparser';
import { findVerpLedgerIds } from '../send/verp';
import { type BounceReport, classifyStatus, cleanAddress, statusIn } from './classify';

/** What a raw bounce or complaint message says. */
export interface ParsedMessage {
  /** One per recipient (a DSN may name several); empty when it is no bounce at all. */
  reports: BounceReport[];
  /** Why it could not be read as a bounce, or null. */
  problem: string | null;
}

/** Bytes of a message read at most: a bounce quoting a huge attachment is cut, not refused. */
const MAX_PARSE_BYTES = 2 * 1024 * 1024;

/**
 * Reads a raw message as an RFC 3464 delivery status notification, an RFC 5965 (ARF) feedback
 * report, or one of the common non-standard bounces (Exim, qmail, old Yahoo, Exchange's text),
 * with the reminder it is about: verified VERP tokens anywhere in it, and the Message-ID of the
 * returned original. Never throws: what it cannot read is said in `problem`.
 */
export async function parseBounceMessage(raw: Buffer, secret: string): Promise<ParsedMessage> {
  const text = raw.subarray(0, MAX_PARSE_BYTES).toString('latin1');
  const verpLedgerIds = findVerpLedgerIds(text, secret);
  let mail: ParsedMail;
  try {
    mail = await simpleParser(raw.subarray(0, MAX_PARSE_BYTES), { keepDeliveryStatus: true, skipTextToHtml: true, skipImageLinks: true, maxHtmlLengthToParse: 500_000 });
  } catch (error) {
    return { reports: [], problem: `not a readable MIME message: ${(error as Error)?.message ?? String(error)}` };
  }
  try {
    const originalId = originalMessageId(mail, text);
    const base = { messageId: originalId, verpLedgerIds };
    const attachments = mail.attachments ?? [];
    const part = (...types: string[]) => attachments.find((a) => types.includes(a.contentType.toLowerCase()));

    const feedback = part('message/feedback-report');
    if (feedback) return { reports: [fromFeedbackReport(feedback.content.toString('utf8'), mail, base)], problem: null };

    const dsn = part('message/delivery-status', 'message/global-delivery-status');
    if (dsn) {
      const reports = fromDeliveryStatus(dsn.content.toString('utf8'), base);
      if (reports.length > 0) return { reports, problem: null };
    }
    return fromPlainBounce(mail, base, text);
  } catch (error) {
    return { reports: [], problem: `could not read the report: ${(error as Error)?.message ?? String(error)}` };
  }
}

/** RFC 822-style fields of one block (continuation lines unfolded), lower-cased names. */
export function readFields(block: string): Map<string, string> {
  const fields = new Map<string, string>();
  let last: string | null = null;
  for (const line of block.split(/\r?\n/)) {
    if (/^[ \t]/.test(line) && last) {
      fields.set(last, `${fields.get(last)} ${line.trim()}`);
      continue;
    }
    const match = /^([A-Za-z0-9-]+)\s*:\s*(.*)$/.exec(line);
    if (!match) continue;
    last = (match[1] as string).toLowerCase();
    if (!fields.has(last)) fields.set(last, (match[2] as string).trim());
  }
  return fields;
}

function fromDeliveryStatus(body: string, base: Pick<BounceReport, 'messageId' | 'verpLedgerIds'>): BounceReport[] {
  const blocks = body.split(/\r?\n[ \t]*\r?\n/).map(readFields).filter((f) => f.size > 0);
  const reports: BounceReport[] = [];
  for (const fields of blocks) {
    const recipient = cleanAddress(fields.get('final-recipient') ?? fields.get('original-recipient'));
    if (!recipient && !fields.has('status') && !fields.has('action')) continue; // the per-message block
    const diagnostic = fields.get('diagnostic-code')?.replace(/^smtp\s*;\s*/i, '') ?? null;
    const status = statusIn(fields.get('status')) ?? statusIn(diagnostic);
    const type = classifyStatus(status, diagnostic, fields.get('action') ?? null);
    if (type === 'unknown' && /^(delivered|relayed|expanded)$/i.test(fields.get('action') ?? '')) continue;
    reports.push({ ...base, type, recipient, status, diagnostic: diagnostic ?? fields.get('action') ?? null });
  }
  return reports;
}

function fromFeedbackReport(body: string, mail: ParsedMail, base: Pick<BounceReport, 'messageId' | 'verpLedgerIds'>): BounceReport {
  const fields = readFields(body);
  const feedbackType = (fields.get('feedback-type') ?? 'abuse').toLowerCase();
  const recipient =
    cleanAddress(fields.get('original-rcpt-to')) ?? cleanAddress(fields.get('removal-recipient')) ?? cleanAddress(embeddedHeader(mail, 'to'));
  return {
    ...base,
    type: feedbackType === 'not-spam' ? 'unknown' : 'complaint',
    recipient,
    status: null,
    diagnostic: `${feedbackType} report${fields.get('user-agent') ? ` from ${fields.get('user-agent')}` : ''}`,
    feedbackType,
    occurredAt: parseDate(fields.get('arrival-date') ?? fields.get('received-date')),
  };
}

const BOUNCE_SENDER = /mailer-daemon|postmaster|mail delivery (system|subsystem)|microsoftexchange/i;
const BOUNCE_SUBJECT = /undeliver|returned mail|returned to sender|delivery (status notification|failure|has failed|failed)|failure notice|mail delivery failed|could not be delivered|non[- ]?delivery|not delivered|delivery incomplete/i;
const COMPLAINT_SUBJECT = /abuse report|complaint|feedback report/i;
const DELAY_WORDS = /delayed|has not (yet )?been delivered|will (continue to )?(retry|try)|still trying|temporarily deferred/i;
const HARD_WORDS = /does not exist|doesn't exist|user unknown|unknown user|no such (user|mailbox|recipient)|mailbox (unavailable|not found)|address rejected|invalid (recipient|mailbox|address)|account (has been )?(disabled|deactivated)|recipient not found|no mailbox here|permanent (error|failure)|doesn't have a [^\s]+ account/i;
const SOFT_WORDS = /mailbox (is )?full|over quota|quota exceeded|temporar(y|ily)|try again later/i;

/** Bounces that are not DSNs: the human text of Exim, qmail, old Yahoo and others. */
function fromPlainBounce(mail: ParsedMail, base: Pick<BounceReport, 'messageId' | 'verpLedgerIds'>, raw: string): ParsedMessage {
  const from = mail.from?.text ?? '';
  const subject = mail.subject ?? '';
  const autoReply = /auto-replied|auto-generated/i.test(String(mail.headers.get('auto-submitted') ?? '')) && !BOUNCE_SENDER.test(from);
  // A multipart whose boundary never appears leaves no text part: read the raw body instead.
  const rawBody = raw.slice(Math.max(0, raw.search(/\r?\n\r?\n/)));
  const body = (mail.text?.trim() ? mail.text : rawBody).slice(0, 200_000);
  const isBounce = !autoReply && (BOUNCE_SENDER.test(from) || BOUNCE_SUBJECT.test(subject) || !!mail.headers.get('x-failed-recipients'));
  if (!isBounce) {
    const complaint = COMPLAINT_SUBJECT.test(subject) && base.messageId;
    if (complaint) return { reports: [{ ...base, type: 'complaint', recipient: cleanAddress(embeddedHeader(mail, 'to')), status: null, diagnostic: `complaint: ${subject}`, feedbackType: 'abuse' }], problem: null };
    return { reports: [], problem: `not a bounce or complaint (${autoReply ? 'an automatic reply' : `subject ${JSON.stringify(subject.slice(0, 80))}`})` };
  }
  const failed = String(mail.headers.get('x-failed-recipients') ?? '')
    .split(',')
    .map((a) => cleanAddress(a))
    .filter((a): a is string => !!a);
  const recipients = failed.length > 0 ? failed : [firstForeignAddress(body, mail)].filter((a): a is string => !!a);
  const diagnostic = diagnosticLine(body);
  const status = statusIn(diagnostic) ?? statusIn(body.match(/\(#([45]\.\d{1,3}\.\d{1,3})\)/)?.[1]);
  let type = classifyStatus(status, diagnostic, DELAY_WORDS.test(subject) || (DELAY_WORDS.test(body) && !status?.startsWith('5')) ? 'delayed' : 'failed');
  // With no code, only plain words decide; a bounce saying neither (cut short, say) acts on nothing.
  if (!status && type !== 'delay') type = HARD_WORDS.test(body) ? 'hard' : SOFT_WORDS.test(body) ? 'soft' : 'unknown';
  if (recipients.length === 0) recipients.push('');
  return {
    reports: recipients.map((recipient) => ({ ...base, type, recipient: recipient || null, status, diagnostic: diagnostic ?? subject })),
    problem: null,
  };
}

/** The line of a bounce text that carries the remote server's answer (an SMTP code), cut to 500 characters. */
function diagnosticLine(body: string): string | null {
  const lines = body.split(/\r?\n/).map((l) => l.trim());
  const at = lines.findIndex((l) => /\b[45]\d\d[\s-]+([45]\.\d{1,3}\.\d{1,3}\b)?|\(#[45]\.\d/.test(l) && !/^(date|received|message-id)\s*:/i.test(l));
  if (at < 0) return lines.find((l) => HARD_WORDS.test(l) || SOFT_WORDS.test(l))?.slice(0, 500) ?? null;
  return lines.slice(at, at + 3).filter(Boolean).join(' ').slice(0, 500);
}

/** The first address of the bounce text that is not the bounce's own sender, recipient or a daemon. */
function firstForeignAddress(body: string, mail: ParsedMail): string | null {
  const own = new Set([...(mail.from?.value ?? []), ...addressList(mail.to)].map((a) => (a.address ?? '').toLowerCase()));
  for (const match of body.matchAll(/<?([A-Za-z0-9._%+=-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,})>?/g)) {
    const address = (match[1] as string).toLowerCase();
    if (own.has(address) || /^(mailer-daemon|postmaster)@/.test(address) || /\+\d+-[0-9a-f]{16}@/.test(address)) continue;
    return address;
  }
  return null;
}

function addressList(value: ParsedMail['to']): Array<{ address?: string }> {
  if (!value) return [];
  return (Array.isArray(value) ? value : [value]).flatMap((v) => v.value);
}

/** A header of the returned original (message/rfc822 or text/rfc822-headers part). */
function embeddedHeader(mail: ParsedMail, name: string): string | null {
  for (const a of mail.attachments ?? []) {
    const type = a.contentType.toLowerCase();
    if (type !== 'message/rfc822' && type !== 'text/rfc822-headers' && type !== 'message/rfc822-headers') continue;
    const head = a.content.toString('utf8').split(/\r?\n\r?\n/)[0] ?? '';
    const value = readFields(head).get(name);
    if (value) return value;
  }
  return null;
}

/**
 * The Message-ID of the returned original: its embedded headers when attached, else the first
 * Message-ID line after the bounce's own headers (quoted originals in text bounces).
 */
function originalMessageId(mail: ParsedMail, text: string): string | null {
  const embedded = embeddedHeader(mail, 'message-id');
  const fromEmbedded = embedded ? /<?([^<>\s]+@[^<>\s]+)>?/.exec(embedded)?.[1] : undefined;
  if (fromEmbedded) return fromEmbedded;
  const bodyStart = text.search(/\r?\n\r?\n/);
  if (bodyStart < 0) return null;
  const quoted = /^[ \t>]*Message-ID:\s*<([^<>\s]+@[^<>\s]+)>/im.exec(text.slice(bodyStart));
  return quoted?.[1] ?? null;
}

function parseDate(value: string | undefined): Date | null {
  if (!value) return null;
  const at = new Date(value);
  return Number.isNaN(at.getTime()) ? null : at;
}
