import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { type EnvelopeSender, type Mailer, type OutgoingEmail, type SendResult, toMailOptions } from './mailer';

const escapeHtml = (value: string) =>
  value.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);

/**
 * With no SMTP_URL, mail lands in a folder a person can open: one `.eml` (the exact message)
 * and one `.html` per email, and an `index.html` listing them newest first.
 */
export function createCaptureMailer(outboxDir: string, envelopeSender?: EnvelopeSender): Mailer {
  const transport = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
  return {
    description: `local capture in ${outboxDir}/index.html`,
    async send(email: OutgoingEmail): Promise<SendResult> {
      const options = toMailOptions(email, envelopeSender);
      // The envelope sender is what a receiving server writes as Return-Path: show it in the capture.
      const returnPath = (options.envelope as { from?: string } | undefined)?.from;
      if (returnPath) options.headers = { 'Return-Path': `<${returnPath}>`, ...(options.headers as Record<string, string>) };
      const info = await transport.sendMail(options);
      await mkdir(outboxDir, { recursive: true });
      const stamp = new Date().toISOString().replace(/[:.]/g, '-');
      const base = `${stamp}_${email.messageId.replace(/[^A-Za-z0-9.-]/g, '_')}`;
      await writeFile(path.join(outboxDir, `${base}.eml`), info.message as Buffer);
      await writeFile(path.join(outboxDir, `${base}.html`), email.html);
      await writeFile(
        path.join(outboxDir, `${base}.json`),
        JSON.stringify({ to: email.to, subject: email.subject, messageId: email.messageId, at: new Date().toISOString() }),
      );
      await writeIndex(outboxDir);
      return { messageId: email.messageId, response: `captured ${base}.eml` };
    },
    async verify() {
      await mkdir(outboxDir, { recursive: true });
    },
    async close() {
      transport.close();
    },
  };
}

/** What the index can say about a captured email besides its address and subject. */
export interface CaptureNote {
  /** The business day it belongs to (a simulated one in the demo). */
  day?: string;
  kind?: string;
  /** "30 days", "expiry day", "expired (sent late)". */
  reminder?: string;
}

interface CaptureMeta extends CaptureNote {
  to: string;
  subject: string;
  messageId: string;
  at: string;
}

/**
 * Adds what the sender knows (day, kind, reminder) to captured emails, by Message-ID, and rewrites
 * the index: the demo uses it to show its simulated days instead of the clock time of each capture.
 */
export async function annotateOutbox(outboxDir: string, notes: ReadonlyMap<string, CaptureNote>): Promise<void> {
  for (const name of (await readdir(outboxDir)).filter((n) => n.endsWith('.json'))) {
    const file = path.join(outboxDir, name);
    const meta = JSON.parse(await readFile(file, 'utf8')) as CaptureMeta;
    const note = notes.get(meta.messageId);
    if (note) await writeFile(file, JSON.stringify({ ...meta, ...note }));
  }
  await writeIndex(outboxDir);
}

async function writeIndex(outboxDir: string): Promise<void> {
  const names = (await readdir(outboxDir)).filter((name) => name.endsWith('.json'));
  const entries: Array<{ base: string; meta: CaptureMeta }> = [];
  for (const name of names) {
    entries.push({ base: name.slice(0, -'.json'.length), meta: JSON.parse(await readFile(path.join(outboxDir, name), 'utf8')) as CaptureMeta });
  }
  // Newest first: by the business day when it is known, then by capture time.
  entries.sort((a, b) => (b.meta.day ?? '').localeCompare(a.meta.day ?? '') || b.meta.at.localeCompare(a.meta.at));
  const annotated = entries.some((e) => e.meta.day);
  const rows = entries.map(({ base, meta }) => {
    const cells = annotated ? [meta.day ?? '', meta.kind ?? '', meta.reminder ?? ''] : [meta.at];
    return `<tr>${cells.map((c) => `<td>${escapeHtml(c)}</td>`).join('')}<td>${escapeHtml(meta.to)}</td><td><a href="${encodeURI(base)}.html">${escapeHtml(meta.subject)}</a></td><td><a href="${encodeURI(base)}.eml">.eml</a></td></tr>`;
  });
  const heads = annotated ? ['day', 'kind', 'reminder'] : ['captured at (UTC)'];
  const page = `<!doctype html><meta charset="utf-8"><title>Outbox (${rows.length})</title>
<style>body{font:14px system-ui;margin:2em}td{padding:4px 12px;border-bottom:1px solid #ddd}</style>
<h1>Captured emails (${rows.length})</h1><p>Sent with no SMTP_URL: nothing left this machine.</p>
<table><tr>${[...heads, 'to', 'subject', 'raw'].map((h) => `<th>${h}</th>`).join('')}</tr>${rows.join('\n')}</table>`;
  await writeFile(path.join(outboxDir, 'index.html'), page);
}
