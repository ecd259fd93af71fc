/** How a failed send should be treated. */
export type FailureClass =
  /** 5xx, bad address: retrying cannot help. */
  | 'permanent'
  /** 4xx, connection refused or reset before the message was handed over: safe to retry. */
  | 'transient'
  /** Lost after the message body went out: it may have been delivered. Never retried automatically. */
  | 'ambiguous';

interface SmtpErrorLike {
  code?: string;
  responseCode?: number;
  response?: string;
  command?: string;
  message?: string;
}

const NETWORK_CODES = new Set(['ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'EDNS', 'ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETLS', 'EPROTOCOL', 'EMAXLIMIT']);

/** Sorts a nodemailer error by the SMTP reply code, or by the stage a network failure hit. */
export function classifySmtpError(error: unknown): FailureClass {
  const e = (error ?? {}) as SmtpErrorLike;
  if (typeof e.responseCode === 'number') {
    if (e.responseCode >= 500) return 'permanent';
    if (e.responseCode >= 400) return 'transient';
  }
  if (e.code === 'EENVELOPE' || e.code === 'EMESSAGE' || e.code === 'EAUTH') return 'permanent';
  if (e.code && NETWORK_CODES.has(e.code)) {
    // Once DATA was accepted and the body streamed, a lost connection leaves the outcome unknown.
    return e.command === 'DATA' || e.command === 'DATA_END' ? 'ambiguous' : 'transient';
  }
  return 'transient';
}

/** One line describing the failure for the ledger: the SMTP reply when there is one. */
export function describeSmtpError(error: unknown): string {
  const e = (error ?? {}) as SmtpErrorLike;
  const reply = e.response?.trim();
  if (reply) return reply;
  return [e.code, e.message].filter(Boolean).join(': ') || String(error);
}
