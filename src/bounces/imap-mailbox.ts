import { ImapFlow } from 'imapflow';
import type { Config } from '../config';
import { ingestRawMessage, type IngestDeps } from './ingest';

export interface MailboxPoll {
  /** Messages stored (and read) from the mailbox this round. */
  ingested: number;
  /** Messages left in the mailbox because they could not be stored; the next round tries again. */
  leftForLater: number;
}

/** Connection settings from BOUNCE_IMAP_URL: `imap[s]://user:password@host[:port]/Mailbox`. */
export function imapSettings(url: string): { host: string; port: number; secure: boolean; user: string; pass: string; mailbox: string; safe: string } {
  const u = new URL(url);
  const secure = u.protocol === 'imaps:';
  return {
    host: u.hostname,
    port: u.port ? Number(u.port) : secure ? 993 : 143,
    secure,
    user: decodeURIComponent(u.username),
    pass: decodeURIComponent(u.password),
    mailbox: decodeURIComponent(u.pathname.replace(/^\/+/, '')) || 'INBOX',
    safe: `${u.protocol}//${u.host}${u.pathname}`,
  };
}

/**
 * One round over the bounce mailbox: each message is stored (its raw source, in PostgreSQL) and
 * read, then moved to the processed folder, never deleted. A message that cannot be stored stays
 * where it is for the next round.
 */
export async function pollBounceMailbox(deps: IngestDeps, config: Pick<Config, 'bounceImapUrl' | 'bounceImapProcessed'>): Promise<MailboxPoll> {
  const settings = imapSettings(config.bounceImapUrl);
  const client = new ImapFlow({
    host: settings.host,
    port: settings.port,
    secure: settings.secure,
    auth: { user: settings.user, pass: settings.pass },
    logger: false,
    disableAutoIdle: true,
    connectionTimeout: 15_000,
  });
  client.on('error', (error: Error) => deps.logger.warn({ err: error, mailbox: settings.safe }, 'bounce mailbox connection error'));
  await client.connect();
  const result: MailboxPoll = { ingested: 0, leftForLater: 0 };
  try {
    const folders = await client.list();
    if (!folders.some((f) => f.path === config.bounceImapProcessed)) {
      await client.mailboxCreate(config.bounceImapProcessed).catch((error: unknown) => {
        // Created by another daemon in the meantime: fine.
        if (!/exist/i.test(String((error as { responseText?: string }).responseText ?? (error as Error).message))) throw error;
      });
    }
    const lock = await client.getMailboxLock(settings.mailbox);
    try {
      const uids = (await client.search({ all: true }, { uid: true })) || [];
      for (const uid of uids) {
        const message = await client.fetchOne(String(uid), { source: true }, { uid: true });
        if (!message || !message.source) continue;
        try {
          await ingestRawMessage(deps, 'imap', message.source);
        } catch (error) {
          deps.logger.error({ err: error, uid, mailbox: settings.safe }, 'could not store a bounce from the mailbox: left there for the next round');
          result.leftForLater += 1;
          continue;
        }
        await client.messageMove(String(uid), config.bounceImapProcessed, { uid: true });
        result.ingested += 1;
      }
    } finally {
      lock.release();
    }
  } finally {
    await client.logout().catch(() => client.close());
  }
  return result;
}

/** The daemon's loop: a round now and every BOUNCE_IMAP_POLL_SECONDS; returns its stop. */
export function startBounceMailboxLoop(deps: IngestDeps, config: Pick<Config, 'bounceImapUrl' | 'bounceImapProcessed' | 'bounceImapPollSeconds'>): () => Promise<void> {
  let running: Promise<void> | null = null;
  const safe = imapSettings(config.bounceImapUrl).safe;
  const tick = () => {
    if (running) return;
    running = pollBounceMailbox(deps, config)
      .then((r) => {
        if (r.ingested + r.leftForLater > 0) deps.logger.info({ event: 'bounce-mailbox', mailbox: safe, ...r }, `bounce mailbox: ${r.ingested} message(s) ingested`);
      })
      .catch((error: unknown) => deps.logger.error({ err: error, mailbox: safe }, 'could not read the bounce mailbox; will try again'))
      .finally(() => (running = null));
  };
  const timer = setInterval(tick, config.bounceImapPollSeconds * 1000);
  timer.unref();
  tick();
  // Stopping waits for a round in progress: its messages are stored and moved, or left in place.
  return async () => {
    clearInterval(timer);
    await running;
  };
}
