import { Readable } from 'node:stream';
import nodemailer from 'nodemailer';
import { type Mailer, type OutgoingEmail, type SendResult, toMailOptions } from './mailer';

/** Pooled SMTP through nodemailer. Connection reuse matters: servers greet each new one slowly. */
export function createSmtpMailer(smtpUrl: string, poolSize: number): Mailer {
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
  // Messages are built first and handed to the pool as a raw stream: that shows when the body has
  // gone out, after which a lost connection may have delivered it (see smtp-errors.ts).
  const composer = nodemailer.createTransport({ streamTransport: true, buffer: true });
  const safeUrl = `${url.protocol}//${url.host}`;
  return {
    description: `SMTP ${safeUrl}`,
    async send(email: OutgoingEmail): Promise<SendResult> {
      const built = await composer.sendMail(toMailOptions(email));
      let handedOver = false;
      const raw = Readable.from([built.message as Buffer]);
      raw.on('end', () => (handedOver = true));
      const info = await transport.sendMail({ envelope: built.envelope, raw }).catch((error: unknown) => {
        throw Object.assign(error as Error, { afterBody: handedOver });
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
      composer.close();
      transport.close();
    },
  };
}
