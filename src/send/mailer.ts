import type { SendMailOptions } from 'nodemailer';

/** A fully rendered message, ready for the wire. */
export interface OutgoingEmail {
  from: string;
  to: string;
  subject: string;
  html: string;
  text: string;
  /** Message-ID without angle brackets, derived from the ledger so retries keep it. */
  messageId: string;
  /** One-click unsubscribe URL (RFC 8058); omitted for test sends. */
  unsubscribeUrl?: string;
  headers?: Record<string, string>;
}

export interface SendResult {
  messageId: string;
  /** The server's last reply, e.g. "250 2.0.0 Ok: queued", or where the local capture wrote it. */
  response: string;
}

/** The narrow seam between the worker and the wire: SMTP, or a local capture with no SMTP_URL. */
export interface Mailer {
  readonly description: string;
  /**
   * Hands the message over. With `signal`, an abort closes the connection carrying it: nothing
   * goes out after that (the send's hard deadline).
   */
  send(email: OutgoingEmail, options?: { signal?: AbortSignal }): Promise<SendResult>;
  /** Proves the server answers (SMTP: connect and greet); resolves at once for the local capture. */
  verify(): Promise<void>;
  close(): Promise<void>;
}

/** The envelope sender (Return-Path) of a message: its VERP address, or undefined for MAIL_FROM. */
export type EnvelopeSender = (email: OutgoingEmail) => string | undefined;

/** nodemailer's options for a message: one-click List-Unsubscribe (RFC 8058) when there is a URL. */
export function toMailOptions(email: OutgoingEmail, envelopeSender?: EnvelopeSender): SendMailOptions {
  const returnPath = envelopeSender?.(email);
  const headers: Record<string, string> = { ...email.headers };
  if (email.unsubscribeUrl) headers['List-Unsubscribe-Post'] = 'List-Unsubscribe=One-Click';
  return {
    from: email.from,
    to: email.to,
    subject: email.subject,
    html: email.html,
    text: email.text,
    messageId: `<${email.messageId}>`,
    list: email.unsubscribeUrl ? { unsubscribe: { url: email.unsubscribeUrl, comment: 'Unsubscribe' } } : undefined,
    headers,
    ...(returnPath ? { envelope: { from: returnPath, to: email.to } } : {}),
  };
}
