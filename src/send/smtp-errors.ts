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
  /** Set by the SMTP mailer once the whole message body was handed to the connection. */
  afterBody?: boolean;
}


/**
 * A transient failure in which the server gave no reply at all (refused, unreachable, time-out,
 * connection cut before the body went out): the message was not offered, so it is no attempt.
 */
export function serverUnreached(error: unknown): boolean {
  const e = (error ?? {}) as SmtpErrorLike;
  return classifySmtpError(error) === 'transient' && typeof e.responseCode !== 'number';
}

/** Sorts a nodemailer error by the SMTP reply code, or by the stage a network failure hit. */
export function classifySmtpError(error: unknown): FailureClass {
  const e = (error ?? {}) as SmtpErrorLike;
  if (typeof e.responseCode === 'number') {
    if (e.responseCode >= 500) return 'permanent';
    if (e.responseCode >= 400) return 'transient';
  }
  if (e.code === 'EENVELOPE' || e.code === 'EMESSAGE' || e.code === 'EAUTH') return 'permanent';
  // No reply after the body went out (connection lost, time-out waiting for the final answer):
  // the server may have queued the message, so retrying could deliver it twice.
  if (e.afterBody) return 'ambiguous';
  // Connection refused or reset, DNS, TLS, time-outs before the body: nothing was delivered.
  return 'transient';
}

/** One line describing the failure for the ledger: the SMTP reply when there is one. */
export function describeSmtpError(error: unknown): string {
  const e = (error ?? {}) as SmtpErrorLike;
  const reply = e.response?.trim();
  if (reply) return reply;
  return [e.code, e.message].filter(Boolean).join(': ') || String(error);
}
