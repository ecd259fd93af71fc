import type { Config } from '../config';
import { createCaptureMailer } from './capture-mailer';
import type { Mailer } from './mailer';
import { createSmtpMailer } from './smtp-mailer';

/** SMTP when SMTP_URL is set, else the local capture folder. */
export function createMailer(config: Pick<Config, 'smtpUrl' | 'smtpPoolSize' | 'outboxDir'>): Mailer {
  return config.smtpUrl ? createSmtpMailer(config.smtpUrl, config.smtpPoolSize) : createCaptureMailer(config.outboxDir);
}
