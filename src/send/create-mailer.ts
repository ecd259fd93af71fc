import type { Config } from '../config';
import { verpAddress } from './verp';
import { createCaptureMailer } from './capture-mailer';
import type { EnvelopeSender, Mailer } from './mailer';
import { createSmtpMailer } from './smtp-mailer';

/**
 * With BOUNCE_ADDRESS set, each reminder's envelope sender names its first ledger row (VERP): its
 * bounces find their rows without guessing from addresses. Other mail (the sales digest) keeps MAIL_FROM.
 */
export function verpEnvelopeSender(config: Pick<Config, 'bounceAddress' | 'unsubscribeSecret'>): EnvelopeSender | undefined {
  if (!config.bounceAddress) return undefined;
  return (email) => {
    const firstId = email.headers?.['X-Reminder-Ids']?.split(',')[0]?.trim();
    return firstId ? verpAddress(config.bounceAddress, firstId, config.unsubscribeSecret) : undefined;
  };
}

/** SMTP when SMTP_URL is set, else the local capture folder. */
export function createMailer(config: Pick<Config, 'smtpUrl' | 'smtpPoolSize' | 'outboxDir' | 'bounceAddress' | 'unsubscribeSecret'>): Mailer {
  const envelopeSender = verpEnvelopeSender(config);
  return config.smtpUrl ? createSmtpMailer(config.smtpUrl, config.smtpPoolSize, envelopeSender) : createCaptureMailer(config.outboxDir, envelopeSender);
}
