import { createVerify } from 'node:crypto';
import { get } from 'node:https';
import type { BounceReport } from './classify';
import { classifyStatus, cleanAddress, statusIn } from './classify';

/** An SNS message as posted to an HTTP(S) subscription. */
export interface SnsMessage {
  Type: 'Notification' | 'SubscriptionConfirmation' | 'UnsubscribeConfirmation' | string;
  MessageId: string;
  TopicArn: string;
  Message: string;
  Timestamp: string;
  Subject?: string;
  SubscribeURL?: string;
  Token?: string;
  SignatureVersion: string;
  Signature: string;
  SigningCertURL: string;
}

/**
 * Fetches a URL's body over HTTPS: the signing certificate, and the subscription confirmation.
 * A seam, so that tests serve their own certificate without reaching the internet.
 */
export type HttpsGet = (url: string) => Promise<string>;

/** Only Amazon SNS hosts may serve signing certificates or confirm subscriptions. */
const SNS_HOST = /^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$/;

/** Why a URL is not an Amazon SNS HTTPS URL, or null when it is. */
export function snsUrlProblem(value: string | undefined): string | null {
  if (!value) return 'missing';
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'not a URL';
  }
  if (url.protocol !== 'https:') return 'not https';
  if (!SNS_HOST.test(url.hostname)) return `host ${url.hostname} is not an Amazon SNS host`;
  if (url.username || url.password || (url.port && url.port !== '443')) return 'unexpected credentials or port';
  return null;
}

/** The production fetcher: HTTPS to an SNS host only, 10 s, at most 64 KB. */
export const httpsGet: HttpsGet = (url) =>
  new Promise((resolve, reject) => {
    const problem = snsUrlProblem(url);
    if (problem) return reject(new Error(`refused to fetch ${url}: ${problem}`));
    const request = get(url, { timeout: 10_000 }, (response) => {
      if (response.statusCode !== 200) {
        response.resume();
        return reject(new Error(`GET ${url}: HTTP ${response.statusCode}`));
      }
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        body += chunk;
        if (body.length > 65_536) request.destroy(new Error(`GET ${url}: response too large`));
      });
      response.on('end', () => resolve(body));
    });
    request.on('timeout', () => request.destroy(new Error(`GET ${url}: timed out`)));
    request.on('error', reject);
  });

/** The string SNS signs (its documented field order, per message type). */
export function snsStringToSign(message: SnsMessage): string {
  const keys =
    message.Type === 'Notification'
      ? (['Message', 'MessageId', 'Subject', 'Timestamp', 'TopicArn', 'Type'] as const)
      : (['Message', 'MessageId', 'SubscribeURL', 'Timestamp', 'Token', 'TopicArn', 'Type'] as const);
  return keys
    .filter((key) => message[key] !== undefined && message[key] !== null)
    .map((key) => `${key}\n${message[key]}\n`)
    .join('');
}

const certCache = new Map<string, string>();

/**
 * Verifies an SNS message: its certificate URL is an SNS host, the certificate (fetched through
 * `fetch`, cached) verifies the signature over the documented fields. Returns null when genuine.
 */
export async function snsSignatureProblem(message: SnsMessage, fetch: HttpsGet): Promise<string | null> {
  if (typeof message.Signature !== 'string' || typeof message.SigningCertURL !== 'string') return 'unsigned';
  const urlProblem = snsUrlProblem(message.SigningCertURL);
  if (urlProblem) return `SigningCertURL ${urlProblem}`;
  const algorithm = message.SignatureVersion === '1' ? 'RSA-SHA1' : message.SignatureVersion === '2' ? 'RSA-SHA256' : null;
  if (!algorithm) return `unknown SignatureVersion ${JSON.stringify(message.SignatureVersion)}`;
  let cert = certCache.get(message.SigningCertURL);
  if (!cert) {
    cert = await fetch(message.SigningCertURL);
    if (!cert.includes('-----BEGIN CERTIFICATE-----')) return 'the signing certificate is not a PEM certificate';
    certCache.set(message.SigningCertURL, cert);
  }
  try {
    const ok = createVerify(algorithm).update(snsStringToSign(message), 'utf8').verify(cert, message.Signature, 'base64');
    return ok ? null : 'bad signature';
  } catch (error) {
    return `signature could not be checked: ${(error as Error).message}`;
  }
}

interface SesNotification {
  notificationType?: string;
  eventType?: string;
  mail?: { messageId?: string; commonHeaders?: { messageId?: string }; headers?: Array<{ name: string; value: string }> };
  bounce?: {
    bounceType?: string;
    bounceSubType?: string;
    feedbackId?: string;
    timestamp?: string;
    bouncedRecipients?: Array<{ emailAddress?: string; status?: string; action?: string; diagnosticCode?: string }>;
  };
  complaint?: { feedbackId?: string; timestamp?: string; complaintFeedbackType?: string; complainedRecipients?: Array<{ emailAddress?: string }> };
}

const stripBrackets = (value: string | undefined | null) => (value ? value.trim().replace(/^<|>$/g, '') : null);

/** The bounces and complaints of an SES notification (event publishing or feedback notifications). */
export function sesReports(messageText: string): BounceReport[] {
  const note = JSON.parse(messageText) as SesNotification;
  const kind = note.notificationType ?? note.eventType;
  const header = note.mail?.headers?.find((h) => h.name.toLowerCase() === 'message-id')?.value;
  const messageId = stripBrackets(note.mail?.commonHeaders?.messageId ?? header);
  const base = { messageId, verpLedgerIds: [] as string[] };
  if (kind === 'Bounce' && note.bounce) {
    const b = note.bounce;
    return (b.bouncedRecipients ?? []).map((r) => {
      const status = statusIn(r.status) ?? statusIn(r.diagnosticCode);
      const diagnostic = r.diagnosticCode ?? `${b.bounceType ?? ''} ${b.bounceSubType ?? ''}`.trim();
      const type = b.bounceType === 'Permanent' ? (status ? classifyStatus(status, diagnostic) : 'hard') : b.bounceType === 'Transient' ? 'soft' : 'unknown';
      return {
        ...base,
        type,
        recipient: cleanAddress(r.emailAddress),
        status,
        diagnostic,
        providerEventId: b.feedbackId ? `${b.feedbackId}:${r.emailAddress}` : null,
        occurredAt: b.timestamp ? new Date(b.timestamp) : null,
      } satisfies BounceReport;
    });
  }
  if (kind === 'Complaint' && note.complaint) {
    const c = note.complaint;
    if (c.complaintFeedbackType === 'not-spam') return [];
    return (c.complainedRecipients ?? []).map((r) => ({
      ...base,
      type: 'complaint' as const,
      recipient: cleanAddress(r.emailAddress),
      status: null,
      diagnostic: `${c.complaintFeedbackType ?? 'abuse'} complaint via Amazon SES`,
      feedbackType: c.complaintFeedbackType ?? 'abuse',
      providerEventId: c.feedbackId ? `${c.feedbackId}:${r.emailAddress}` : null,
      occurredAt: c.timestamp ? new Date(c.timestamp) : null,
    }));
  }
  return [];
}
