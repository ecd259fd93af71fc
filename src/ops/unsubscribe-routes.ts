import { type Request, type Response, Router } from 'express';
import type { App } from '../app';
import { subscriptionState, unsubscribeAddress } from '../unsubscribe/unsubscribe-address';
import { verifyUnsubscribeToken } from '../unsubscribe/token';
import { escapeHtml, htmlPage } from './html-page';

const TOKEN_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

type TokenCheck = { ok: true; address: string } | { ok: false; status: 400 | 403; title: string; message: string };

/**
 * One-click unsubscribe (RFC 8058): `POST /unsubscribe?token=…` unsubscribes, whatever its body
 * (mailbox providers send `List-Unsubscribe=One-Click`); `GET` only shows a page whose button
 * POSTs, because link scanners and previews fetch every URL in an email.
 */
export function unsubscribeRoutes(app: App): Router {
  const router = Router();
  const support = escapeHtml(app.config.supportEmail);

  const check = (req: Request): TokenCheck => {
    const token = typeof req.query.token === 'string' ? req.query.token : '';
    if (!TOKEN_SHAPE.test(token)) {
      return { ok: false, status: 400, title: 'This unsubscribe link is incomplete', message: 'The link is missing its token or was cut short (some mail programs break long links). Open it again from the email, or copy the whole link into your browser.' };
    }
    const address = verifyUnsubscribeToken(token, app.config.unsubscribeSecret);
    if (!address) {
      return { ok: false, status: 403, title: 'This unsubscribe link is not valid', message: 'The link was altered or does not come from one of our emails.' };
    }
    return { ok: true, address };
  };

  const refuse = (res: Response, failed: Extract<TokenCheck, { ok: false }>) =>
    send(res, failed.status, htmlPage(failed.title, `<p>${escapeHtml(failed.message)}</p><p>Nothing was changed. To stop renewal reminders, write to <a href="mailto:${support}">${support}</a>.</p>`));

  router.get('/unsubscribe', async (req, res) => {
    const result = check(req);
    if (!result.ok) return refuse(res, result);
    const state = await subscriptionState(app.db, result.address);
    const address = escapeHtml(result.address);
    if (state.contacts > 0 && state.subscribed === 0) {
      return send(res, 200, htmlPage('You are unsubscribed', `<p><strong>${address}</strong> already receives no renewal reminders.</p>`));
    }
    send(
      res,
      200,
      htmlPage(
        'Unsubscribe from renewal reminders?',
        `<p>Stop the license and maintenance renewal reminders sent to <strong>${address}</strong>.</p>
<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click"><button type="submit">Unsubscribe</button></form>
<p class="muted">Reminders already on their way are stopped too. Order confirmations and other emails are not affected.</p>`,
      ),
    );
  });

  router.post('/unsubscribe', async (req, res) => {
    const result = check(req);
    if (!result.ok) {
      app.logger.warn({ event: 'unsubscribe', outcome: 'refused', status: result.status }, 'unsubscribe request with a bad token');
      return refuse(res, result);
    }
    const changed = await unsubscribeAddress(app.db, result.address);
    app.logger.info({ event: 'unsubscribe', outcome: 'unsubscribed', recipient: result.address, contacts: changed }, 'address unsubscribed');
    send(res, 200, htmlPage('You are unsubscribed', `<p><strong>${escapeHtml(result.address)}</strong> will receive no more renewal reminders.</p><p class="muted">Changed your mind? Write to <a href="mailto:${support}">${support}</a>.</p>`));
  });
  return router;
}

function send(res: Response, status: number, html: string): void {
  // The token is in the URL: keep it out of caches and Referer headers.
  res
    .status(status)
    .set({
      'Content-Type': 'text/html; charset=utf-8',
      'Cache-Control': 'no-store',
      'Referrer-Policy': 'no-referrer',
      'X-Robots-Tag': 'noindex',
      'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
    })
    .send(html);
}
