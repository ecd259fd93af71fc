import { createHmac, createPublicKey, type KeyObject, timingSafeEqual, verify } from 'node:crypto';
import type { BounceReport } from './classify';
import { classifyStatus, cleanAddress, statusIn } from './classify';

const stripBrackets = (value: unknown) => (typeof value === 'string' && value.trim() ? value.trim().replace(/^<|>$/g, '') : null);
const text = (value: unknown) => (typeof value === 'string' ? value : typeof value === 'number' ? String(value) : null);
const base = (messageId: string | null) => ({ messageId, verpLedgerIds: [] as string[] });

/** How far a signed timestamp may be from now: an old signed request replayed later is refused. */
export const SIGNATURE_MAX_AGE_S = 15 * 60;

const fresh = (timestamp: string, now: number) => /^\d{1,12}$/.test(timestamp) && Math.abs(now / 1000 - Number(timestamp)) <= SIGNATURE_MAX_AGE_S;

/** SendGrid's verification key: base64 of an ECDSA public key (DER, SPKI), or a PEM. */
export function sendgridKey(value: string): KeyObject {
  return value.includes('BEGIN PUBLIC KEY') ? createPublicKey(value) : createPublicKey({ key: Buffer.from(value, 'base64'), format: 'der', type: 'spki' });
}

/** SendGrid's signed event webhook: ECDSA (SHA-256) over the timestamp header followed by the raw body. */
export function sendgridSignatureProblem(key: KeyObject, signature: string | undefined, timestamp: string | undefined, body: Buffer, now = Date.now()): string | null {
  if (!signature || !timestamp) return 'unsigned';
  if (!fresh(timestamp, now)) return 'timestamp too old or malformed';
  try {
    return verify('sha256', Buffer.concat([Buffer.from(timestamp, 'utf8'), body]), key, Buffer.from(signature, 'base64')) ? null : 'bad signature';
  } catch {
    return 'bad signature';
  }
}

/** SendGrid events: bounce and blocked, deferred, spam reports. Others (delivered, open…) are ignored. */
export function sendgridReports(events: unknown): BounceReport[] {
  if (!Array.isArray(events)) throw new Error('expected a JSON array of events');
  const reports: BounceReport[] = [];
  for (const e of events as Array<Record<string, unknown>>) {
    const recipient = cleanAddress(text(e.email));
    const common = {
      ...base(stripBrackets(e['smtp-id'])),
      recipient,
      providerEventId: text(e.sg_event_id),
      occurredAt: typeof e.timestamp === 'number' ? new Date(e.timestamp * 1000) : null,
    };
    const reason = text(e.reason) ?? text(e.response);
    const status = statusIn(text(e.status)) ?? statusIn(reason);
    if (e.event === 'bounce') {
      // "blocked" is SendGrid's word for a refusal of the sender or content, not of the address.
      const type = e.type === 'blocked' ? 'soft' : classifyStatus(status, reason, 'failed');
      reports.push({ ...common, type, status, diagnostic: reason });
    } else if (e.event === 'deferred') {
      reports.push({ ...common, type: 'delay', status, diagnostic: reason });
    } else if (e.event === 'spamreport') {
      reports.push({ ...common, type: 'complaint', status: null, diagnostic: 'spam report via SendGrid', feedbackType: 'abuse' });
    }
  }
  return reports;
}

/** Postmark's webhook: a Bounce or SpamComplaint record. */
export function postmarkReports(body: unknown): BounceReport[] {
  const records = Array.isArray(body) ? body : [body];
  const reports: BounceReport[] = [];
  for (const r of records as Array<Record<string, unknown>>) {
    const recipient = cleanAddress(text(r.Email));
    const common = { ...base(null), recipient, providerEventId: text(r.ID), occurredAt: typeof r.BouncedAt === 'string' ? new Date(r.BouncedAt) : null };
    const details = [text(r.Description), text(r.Details)].filter(Boolean).join(' — ') || null;
    if (r.RecordType === 'SpamComplaint' || r.Type === 'SpamComplaint') {
      reports.push({ ...common, type: 'complaint', status: null, diagnostic: 'spam complaint via Postmark', feedbackType: 'abuse' });
    } else if (r.RecordType === 'Bounce' || typeof r.Type === 'string') {
      const kind = text(r.Type) ?? '';
      const status = statusIn(text(r.Details));
      const type = kind === 'HardBounce' || kind === 'BadEmailAddress' || kind === 'ManuallyDeactivated' ? 'hard'
        : ['SoftBounce', 'Transient', 'DnsError', 'Blocked', 'SMTPApiError', 'ContentRelated', 'VirusNotification', 'ChallengeVerification'].includes(kind) ? 'soft'
        : 'unknown';
      reports.push({ ...common, type, status, diagnostic: details ?? kind });
    }
  }
  return reports;
}

/** Mailgun's webhook signature: HMAC-SHA256 of timestamp + token with the webhook signing key. */
export function mailgunSignatureProblem(key: string, signature: { timestamp?: unknown; token?: unknown; signature?: unknown } | undefined, now = Date.now()): string | null {
  const timestamp = text(signature?.timestamp);
  const token = text(signature?.token);
  const given = text(signature?.signature);
  if (!timestamp || !token || !given) return 'unsigned';
  if (!fresh(timestamp, now)) return 'timestamp too old or malformed';
  const expected = Buffer.from(createHmac('sha256', key).update(timestamp + token).digest('hex'));
  const actual = Buffer.from(given.toLowerCase());
  return expected.length === actual.length && timingSafeEqual(expected, actual) ? null : 'bad signature';
}

/** Mailgun's `event-data`: failed (permanent or temporary) and complained. */
export function mailgunReports(eventData: unknown): BounceReport[] {
  const e = (eventData ?? {}) as Record<string, unknown>;
  const message = (e.message ?? {}) as { headers?: Record<string, unknown> };
  const delivery = (e['delivery-status'] ?? {}) as Record<string, unknown>;
  const common = {
    ...base(stripBrackets(message.headers?.['message-id'])),
    recipient: cleanAddress(text(e.recipient)),
    providerEventId: text(e.id),
    occurredAt: typeof e.timestamp === 'number' ? new Date(e.timestamp * 1000) : null,
  };
  const diagnostic = [text(delivery.code), text(delivery.message) || text(delivery.description)].filter(Boolean).join(' ') || text(e.reason);
  const status = statusIn(text(delivery['enhanced-code'])) ?? statusIn(diagnostic);
  if (e.event === 'failed') {
    const type = e.severity === 'temporary' ? 'soft' : classifyStatus(status, diagnostic, 'failed');
    return [{ ...common, type, status, diagnostic }];
  }
  if (e.event === 'complained') return [{ ...common, type: 'complaint', status: null, diagnostic: 'complaint via Mailgun', feedbackType: 'abuse' }];
  return [];
}

/** The generic endpoint's JSON: `{type: "bounce"|"complaint", recipient, messageId, status, diagnostic}`. */
export function genericReports(body: unknown): BounceReport[] {
  const items = Array.isArray(body) ? body : [body];
  return (items as Array<Record<string, unknown>>).map((b) => {
    if (b.type !== 'bounce' && b.type !== 'complaint') throw new Error('type must be "bounce" or "complaint"');
    const recipient = cleanAddress(text(b.recipient));
    const messageId = stripBrackets(b.messageId);
    if (!recipient && !messageId) throw new Error('recipient or messageId is required');
    const diagnostic = text(b.diagnostic);
    const status = statusIn(text(b.status)) ?? statusIn(diagnostic);
    if (b.type === 'complaint') return { ...base(messageId), type: 'complaint', recipient, status: null, diagnostic: diagnostic ?? 'complaint', feedbackType: 'abuse' };
    return { ...base(messageId), type: classifyStatus(status, diagnostic, 'failed'), recipient, status, diagnostic };
  });
}
