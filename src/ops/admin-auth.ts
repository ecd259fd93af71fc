import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';

export const ADMIN_COOKIE = 'reminders_admin';

/** Constant-time comparison of two secrets of any length (hashing first evens out the lengths). */
export function sameSecret(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** The cookie holds a value derived from the token, not the token; a new ADMIN_TOKEN voids old cookies. */
export function adminSessionValue(adminToken: string): string {
  return createHmac('sha256', adminToken).update('reminders admin session').digest('base64url');
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const [key, ...rest] = part.trim().split('=');
    if (key === name) return rest.join('=');
  }
  return undefined;
}

/**
 * Guards the queue dashboard: `Authorization: Bearer <ADMIN_TOKEN>`, or `?token=<ADMIN_TOKEN>`
 * once in a browser, which sets an HttpOnly cookie (scoped to `cookiePath`) so the dashboard's
 * own requests pass, then redirects to the same page without the token in the address bar.
 * With no ADMIN_TOKEN configured the dashboard does not exist (404).
 */
export function adminAuth(adminToken: string, cookiePath: string): RequestHandler {
  const session = adminToken ? adminSessionValue(adminToken) : '';
  return (req, res, next) => {
    if (!adminToken) {
      res.status(404).type('text/plain').send('The queue dashboard is disabled: set ADMIN_TOKEN to enable it.\n');
      return;
    }
    const bearer = /^Bearer\s+(.+)$/i.exec(req.get('authorization') ?? '')?.[1]?.trim();
    if (bearer !== undefined && sameSecret(bearer, adminToken)) return next();
    const cookie = cookieValue(req.get('cookie'), ADMIN_COOKIE);
    if (cookie !== undefined && sameSecret(cookie, session)) return next();
    const queryToken = typeof req.query.token === 'string' ? req.query.token : undefined;
    if (queryToken !== undefined && sameSecret(queryToken, adminToken)) {
      res.cookie(ADMIN_COOKIE, session, { httpOnly: true, sameSite: 'strict', secure: req.secure, path: cookiePath });
      if (req.method === 'GET') {
        const url = new URL(req.originalUrl, 'http://localhost');
        url.searchParams.delete('token');
        res.redirect(303, url.pathname + url.search);
        return;
      }
      return next();
    }
    res
      .status(401)
      .set('WWW-Authenticate', 'Bearer realm="reminders admin"')
      .type('text/plain')
      .send(`Unauthorized: send "Authorization: Bearer <ADMIN_TOKEN>", or open ${cookiePath}?token=<ADMIN_TOKEN> once in the browser.\n`);
  };
}
