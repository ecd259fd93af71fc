import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { type Mailer, type OutgoingEmail, type SendResult, toMailOptions } from './mailer';

const escapeHtml = (value: string) =>
  value.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);

/**
 * With no SMTP_URL, mail lands in a folder a person can open: one `.eml` (the exact message)
 * and one `.html` per email, and an `index.html` listing them newest first.
 */
export function createCaptureMailer(outboxDir: string): Mailer {
  const transport = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
  return {
    description: `local capture in ${outboxDir}/index.html`,
    async send(email: OutgoingEmail): Promise<SendResult> {
      const info = await transport.sendMail(toMailOptions(email));
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

async function writeIndex(outboxDir: string): Promise<void> {
  const names = (await readdir(outboxDir)).filter((name) => name.endsWith('.json')).sort().reverse();
  const rows: string[] = [];
  for (const name of names) {
    const meta = JSON.parse(await readFile(path.join(outboxDir, name), 'utf8')) as { to: string; subject: string; at: string };
    const base = name.slice(0, -'.json'.length);
    rows.push(
      `<tr><td>${escapeHtml(meta.at)}</td><td>${escapeHtml(meta.to)}</td><td><a href="${encodeURI(base)}.html">${escapeHtml(meta.subject)}</a></td><td><a href="${encodeURI(base)}.eml">.eml</a></td></tr>`,
    );
  }
  const page = `<!doctype html><meta charset="utf-8"><title>Outbox (${rows.length})</title>
<style>body{font:14px system-ui;margin:2em}td{padding:4px 12px;border-bottom:1px solid #ddd}</style>
<h1>Captured emails (${rows.length})</h1><p>Sent with no SMTP_URL: nothing left this machine.</p>
<table><tr><th>when</th><th>to</th><th>subject</th><th>raw</th></tr>${rows.join('\n')}</table>`;
  await writeFile(path.join(outboxDir, 'index.html'), page);
}
