import type { AddressInfo, Socket } from 'node:net';
import { type ParsedMail, simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
  to: string;
  /** The envelope sender (MAIL FROM), where bounces go. */
  from?: string;
  raw: string;
  parsed: ParsedMail;
}

/** A reply to force for a recipient at RCPT TO: `times` times (default: always). */
export interface ForcedReply {
  code: number;
  message: string;
  times?: number;
}

/**
 * A real SMTP server in the test process. Messages are parsed with mailparser; replies can be
 * forced per recipient to simulate 4xx deferrals and 5xx refusals.
 */
export type SmtpTestServer = Awaited<ReturnType<typeof startSmtpServer>>;

export async function startSmtpServer(): Promise<{
  url: string;
  received: ReceivedMail[];
  forceReply(recipient: string, reply: ForcedReply): void;
  /** Calls before DATA completes, per recipient (accepted or not). */
  attempts: Map<string, number>;
  /** Drops the connection at the next RCPT TO for `recipient`: nothing was handed over. */
  dropAtRcpt(recipient: string): void;
  /** Takes the next message to `recipient` in full, then drops the connection without a reply. */
  dropAfterBody(recipient: string): void;
  /** Delays the reply to each message's DATA by `ms` (0: answer at once). */
  holdReplies(ms: number): void;
  /**
   * Runs `hook` once the next message has been received in full, before the server answers it:
   * the point where the client has handed the message over and waits for the verdict.
   */
  beforeNextReply(hook: (mail: ReceivedMail) => Promise<void> | void): void;
  /** Errors thrown by `beforeNextReply` hooks (an assertion inside one): a test must fail on them. */
  hookErrors: unknown[];
  /** Forgets received mail, counted attempts and forced replies. */
  clear(): void;
  close(): Promise<void>;
}> {
  const received: ReceivedMail[] = [];
  const forced = new Map<string, ForcedReply>();
  const attempts = new Map<string, number>();
  let holdMs = 0;
  let beforeReply: ((mail: ReceivedMail) => Promise<void> | void) | null = null;
  const hookErrors: unknown[] = [];
  const dropAfter = new Set<string>();
  const dropAtRcpt = new Set<string>();
  const sockets = new Map<number, Socket>();
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onRcptTo(address, session, callback) {
      const to = address.address.toLowerCase();
      attempts.set(to, (attempts.get(to) ?? 0) + 1);
      if (dropAtRcpt.delete(to)) {
        sockets.get(session.remotePort)?.destroy();
        return;
      }
      const reply = forced.get(to);
      if (reply && (reply.times === undefined || reply.times > 0)) {
        if (reply.times !== undefined) reply.times -= 1;
        const error = Object.assign(new Error(reply.message), { responseCode: reply.code });
        return callback(error);
      }
      callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        simpleParser(raw)
          .then((parsed) => {
            const recipients = session.envelope.rcptTo.map((rcpt) => rcpt.address.toLowerCase());
            const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
            for (const to of recipients) received.push({ to, from, raw, parsed });
            const hook = beforeReply;
            beforeReply = null;
            // A failed assertion in the hook is kept for the test; the server still answers.
            return Promise.resolve()
              .then(() => hook?.({ to: recipients[0] ?? '', raw, parsed }))
              .catch((error: unknown) => void hookErrors.push(error))
              .then(() => recipients);
          })
          .then((recipients) => {
            const drop = recipients.find((to) => dropAfter.has(to));
            if (drop) {
              dropAfter.delete(drop);
              sockets.get(session.remotePort)?.destroy();
              return;
            }
            if (holdMs > 0) setTimeout(() => callback(), holdMs);
            else callback();
          })
          .catch(callback);
      });
    },
  });
  // A client killed mid-message resets its socket; that is a scenario under test, not a failure.
  server.on('error', () => undefined);
  server.server.on('connection', (socket: Socket) => {
    if (socket.remotePort) sockets.set(socket.remotePort, socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.server.address() as AddressInfo;
  return {
    url: `smtp://127.0.0.1:${port}?ignoreTLS=true`,
    received,
    attempts,
    hookErrors,
    dropAfterBody: (recipient) => dropAfter.add(recipient.toLowerCase()),
    dropAtRcpt: (recipient) => dropAtRcpt.add(recipient.toLowerCase()),
    clear: () => {
      received.length = 0;
      hookErrors.length = 0;
      attempts.clear();
      forced.clear();
      dropAfter.clear();
      dropAtRcpt.clear();
    },
    holdReplies: (ms) => {
      holdMs = ms;
    },
    beforeNextReply: (hook) => {
      beforeReply = hook;
    },
    forceReply: (recipient, reply) => forced.set(recipient.toLowerCase(), { ...reply }),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Deliveries per ledger id: each message lists the rows it carries in its X-Reminder-Ids header. */
export function deliveriesPerLedgerId(received: readonly ReceivedMail[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const mail of received) {
    for (const id of String(mail.parsed.headers.get('x-reminder-ids') ?? '').split(',').filter(Boolean)) counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

/** The ledger ids delivered more than once (must stay empty). */
export function duplicateDeliveries(received: readonly ReceivedMail[]): string[] {
  return [...deliveriesPerLedgerId(received)].filter(([, n]) => n > 1).map(([id]) => id);
}
