import { type Readable, Transform } from 'node:stream';
import nodemailer from 'nodemailer';
import { type EnvelopeSender, type Mailer, type OutgoingEmail, type SendResult, toMailOptions } from './mailer';

/**
 * Pooled SMTP through nodemailer. Connection reuse matters: servers greet each new one slowly.
 * `envelopeSender` gives each message its own Return-Path (VERP), so its bounces name it.
 */
export function createSmtpMailer(smtpUrl: string, poolSize: number, envelopeSender?: EnvelopeSender): Mailer {
  const url = new URL(smtpUrl);
  const transport = nodemailer.createTransport({
    host: url.hostname,
    port: url.port ? Number(url.port) : url.protocol === 'smtps:' ? 465 : 587,
    secure: url.protocol === 'smtps:',
    auth: url.username ? { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) } : undefined,
    ignoreTLS: url.searchParams.get('ignoreTLS') === 'true',
    requireTLS: url.searchParams.get('requireTLS') === 'true',
    pool: true,
    maxConnections: poolSize,
    maxMessages: 100,
    connectionTimeout: 15_000,
    greetingTimeout: 15_000,
    socketTimeout: 60_000,
  });
  // The last stage of the message stream is read only after the server's 354 answer to DATA, and
  // ends once the connection has taken every byte: from then on, a lost connection may have
  // delivered the message (see smtp-errors.ts). nodemailer rebuilds the stream when it moves a
  // message to a fresh pooled connection, so this must hook its pipeline, not wrap a one-shot stream.
  transport.use('stream', (mail, done) => {
    const onBodyOut = (mail.data as { onBodyOut?: () => void }).onBodyOut;
    if (onBodyOut) {
      (mail.message as unknown as { processFunc(fn: (input: Readable) => Readable): void }).processFunc((input) => {
        // The message leaves as one chunk, so one socket write rather than one per MIME part:
        // under load each write is a syscall that costs more than building the part.
        const chunks: Buffer[] = [];
        const output = new Transform({
          transform(chunk: Buffer, _encoding, next) {
            chunks.push(chunk);
            next();
          },
          flush(next) {
            next(null, Buffer.concat(chunks));
          },
        });
        input.once('error', (error) => output.destroy(error));
        input.pipe(output);
        output.once('end', onBodyOut);
        return output;
      });
    }
    done();
  });
  const safeUrl = `${url.protocol}//${url.host}`;
  return {
    description: `SMTP ${safeUrl}`,
    async send(email: OutgoingEmail, sendOptions: { signal?: AbortSignal } = {}): Promise<SendResult> {
      let afterBody = false;
      const options = {
        ...toMailOptions(email, envelopeSender),
        // Base64 is native and fixed-cost; quoted-printable first scans every character of the
        // 20 KB HTML to choose an encoding, then escapes it in JavaScript: half of nodemailer's CPU.
        textEncoding: 'base64' as const,
        onBodyOut: () => (afterBody = true),
        // nodemailer closes the connection delivering the message when the signal aborts.
        ...(sendOptions.signal ? { signal: sendOptions.signal } : {}),
      };
      const info = await transport.sendMail(options).catch((error: unknown) => {
        throw Object.assign(error as Error, { afterBody });
      });
      // Some recipients refused but not all: for our single-recipient messages that is a refusal.
      if (info.rejected.length > 0) {
        const refusal = Object.assign(new Error(`recipient refused: ${info.response}`), {
          code: 'EENVELOPE',
          responseCode: 550,
          response: info.response,
        });
        throw refusal;
      }
      return { messageId: email.messageId, response: info.response };
    },
    async verify() {
      await transport.verify();
    },
    async close() {
      transport.close();
    },
  };
}
