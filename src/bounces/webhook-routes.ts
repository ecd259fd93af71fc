import { createHash, timingSafeEqual } from 'node:crypto';
import express, { type Request, type Response, Router } from 'express';
import type { App } from '../app';
import type { BounceReport } from './classify';
import { type BounceChannel, ingestProviderEvents } from './ingest';
import { genericReports, mailgunReports, mailgunSignatureProblem, postmarkReports, sendgridKey, sendgridReports, sendgridSignatureProblem } from './providers';
import { type HttpsGet, httpsGet, type SnsMessage, sesReports, snsSignatureProblem, snsUrlProblem } from './sns';

export interface WebhookOptions {
  /** Fetches SNS signing certificates and subscription confirmations (tests serve their own). */
  snsGet?: HttpsGet;
}

/** Constant-time comparison of two secrets of any length. */
function sameSecret(given: string, expected: string): boolean {
  return timingSafeEqual(createHash('sha256').update(given).digest(), createHash('sha256').update(expected).digest());
}

class Refused extends Error {
  constructor(readonly status: 400 | 401 | 403 | 404, message: string) {
    super(message);
  }
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw new Refused(400, 'the body is not JSON');
  }
}

/**
 * The providers' bounce and complaint webhooks under /webhooks/. Each checks its vendor's
 * documented authentication on the raw body before reading it: a missing credential is 401, a
 * wrong one 403, and either changes nothing. An endpoint whose key is not configured is 404.
 * 200 once the events are recorded; 500 (the provider retries) when they could not be.
 */
export function webhookRoutes(app: App, options: WebhookOptions = {}): Router {
  const router = Router();
  const { config } = app;
  const deps = { db: app.db, config, logger: app.logger };
  const snsGet = options.snsGet ?? httpsGet;
  const sendgrid = config.sendgridWebhookPublicKey ? sendgridKey(config.sendgridWebhookPublicKey) : null;
  router.use(express.raw({ type: () => true, limit: '5mb' }));

  const handle = (channel: BounceChannel, read: (req: Request, body: Buffer) => Promise<BounceReport[] | 'done'>) => async (req: Request, res: Response) => {
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    let reports: BounceReport[] | 'done';
    try {
      reports = await read(req, body);
    } catch (error) {
      if (error instanceof Refused) {
        app.logger.warn({ event: 'bounce-webhook', channel, status: error.status, reason: error.message }, `${channel} webhook refused: ${error.message}`);
        res.status(error.status).type('text/plain').send(`${error.message}\n`);
        return;
      }
      app.logger.warn({ event: 'bounce-webhook', channel, err: error }, `${channel} webhook: unreadable body`);
      res.status(400).type('text/plain').send(`${(error as Error).message}\n`);
      return;
    }
    if (reports === 'done') {
      res.status(200).json({ ok: true });
      return;
    }
    const outcome = await ingestProviderEvents(deps, channel, body, reports);
    res.status(200).json({ ok: true, recorded: outcome.events.filter((e) => e.recorded).length, events: outcome.events });
  };

  router.post(
    '/ses',
    handle('ses', async (_req, body) => {
      if (config.sesSnsTopicArns.length === 0) throw new Refused(404, 'SES notifications are not accepted here: set SES_SNS_TOPIC_ARNS');
      const message = parseJson(body) as SnsMessage;
      if (!message || typeof message !== 'object' || typeof message.Type !== 'string') throw new Refused(400, 'not an SNS message');
      if (!message.Signature) throw new Refused(401, 'unsigned SNS message');
      const problem = await snsSignatureProblem(message, snsGet).catch((error: unknown) => `certificate not fetched: ${(error as Error).message}`);
      if (problem) throw new Refused(403, `SNS signature refused: ${problem}`);
      if (!config.sesSnsTopicArns.includes(message.TopicArn)) throw new Refused(403, `topic ${message.TopicArn} is not in SES_SNS_TOPIC_ARNS`);
      if (message.Type === 'SubscriptionConfirmation') {
        const urlProblem = snsUrlProblem(message.SubscribeURL);
        if (urlProblem) throw new Refused(403, `SubscribeURL ${urlProblem}`);
        await snsGet(message.SubscribeURL as string);
        app.logger.info({ event: 'bounce-webhook', channel: 'ses', topic: message.TopicArn }, 'SNS subscription confirmed');
        return 'done';
      }
      if (message.Type !== 'Notification') return 'done';
      try {
        return sesReports(message.Message);
      } catch {
        throw new Refused(400, 'the SNS Message is not an SES notification');
      }
    }),
  );

  router.post(
    '/sendgrid',
    handle('sendgrid', async (req, body) => {
      if (!sendgrid) throw new Refused(404, 'SendGrid events are not accepted here: set SENDGRID_WEBHOOK_PUBLIC_KEY');
      const signature = req.get('x-twilio-email-event-webhook-signature');
      const timestamp = req.get('x-twilio-email-event-webhook-timestamp');
      if (!signature || !timestamp) throw new Refused(401, 'unsigned SendGrid event');
      const problem = sendgridSignatureProblem(sendgrid, signature, timestamp, body);
      if (problem) throw new Refused(403, `SendGrid signature refused: ${problem}`);
      return sendgridReports(parseJson(body));
    }),
  );

  router.post(
    '/postmark',
    handle('postmark', async (req, body) => {
      if (!config.postmarkWebhookAuth) throw new Refused(404, 'Postmark webhooks are not accepted here: set POSTMARK_WEBHOOK_AUTH');
      const basic = /^Basic\s+(.+)$/i.exec(req.get('authorization') ?? '')?.[1];
      if (!basic) throw new Refused(401, 'no basic auth');
      if (!sameSecret(Buffer.from(basic, 'base64').toString('utf8'), config.postmarkWebhookAuth)) throw new Refused(403, 'wrong basic auth');
      return postmarkReports(parseJson(body));
    }),
  );

  router.post(
    '/mailgun',
    handle('mailgun', async (_req, body) => {
      if (!config.mailgunWebhookSigningKey) throw new Refused(404, 'Mailgun webhooks are not accepted here: set MAILGUN_WEBHOOK_SIGNING_KEY');
      const payload = parseJson(body) as { signature?: { timestamp?: unknown; token?: unknown; signature?: unknown }; 'event-data'?: unknown };
      if (!payload?.signature) throw new Refused(401, 'unsigned Mailgun event');
      const problem = mailgunSignatureProblem(config.mailgunWebhookSigningKey, payload.signature);
      if (problem) throw new Refused(403, `Mailgun signature refused: ${problem}`);
      return mailgunReports(payload['event-data']);
    }),
  );

  router.post(
    '/bounces',
    handle('generic', async (req, body) => {
      if (!config.adminToken) throw new Refused(404, 'the generic bounce endpoint needs ADMIN_TOKEN');
      const bearer = /^Bearer\s+(.+)$/i.exec(req.get('authorization') ?? '')?.[1]?.trim();
      if (!bearer) throw new Refused(401, 'send Authorization: Bearer <ADMIN_TOKEN>');
      if (!sameSecret(bearer, config.adminToken)) throw new Refused(403, 'wrong token');
      return genericReports(parseJson(body));
    }),
  );
  return router;
}
