import { randomBytes } from 'node:crypto';
import path from 'node:path';
import express, { type Request, type RequestHandler, type Response } from 'express';
import type { App } from '../app';
import { LEDGER_STATUSES, type LedgerStatus, REMINDER_KINDS, type ReminderKind } from '../db/types';
import { parseIsoDate } from '../dates';
import { listUnreachable } from '../bounces/unreachable';
import { adminAuth, sameSecret } from '../ops/admin-auth';
import { holdLicense, releaseLicense, suppressAddress, unsuppressAddress } from '../ops/holds';
import { replay } from '../ops/replay';
import { UserError } from '../user-error';
import { actorName, recordAction } from './audit';
import { ACTIVITY_SCRIPT } from './client-scripts';
import { activityView, liveTemplates, reminderDetail, searchReminders, type SearchFilter, sentEmail, todayView } from './data';
import { registerEditorRoutes } from './editor-routes';
import { html } from './html';
import { type PageContext, signInPage } from './layout';
import { activityPage, emailPage, messagePage, reminderPage, remindersPage, replayPage, templatesPage, todayPage, unreachablePage } from './pages';
import { createSession, endSession, readSession, roleOf, type Session, SESSION_COOKIE, signIn } from './sessions';
import { CAN } from './users';
import { listRefusals } from '../templates-store/store';

export const CONSOLE_PATH = '/console';
const LOGIN_COOKIE = 'reminders_console_login';

function cookieValue(req: Request, name: string): string | undefined {
  for (const part of (req.get('cookie') ?? '').split(';')) {
    const [key, ...rest] = part.trim().split('=');
    if (key === name) return decodeURIComponent(rest.join('='));
  }
  return undefined;
}

const clientAddress = (req: Request) => (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');

/** Where to go after signing in: a console or dashboard path of this server, nothing else. */
function safeNext(value: unknown): string {
  return typeof value === 'string' && /^\/(console|admin\/queues)(\/|$|\?)/.test(value) && !value.includes('//') ? value : CONSOLE_PATH;
}

const str = (value: unknown) => (typeof value === 'string' ? value : Array.isArray(value) && typeof value[0] === 'string' ? value[0] : '');
const list = (value: unknown) => (Array.isArray(value) ? value : value === undefined ? [] : [value]).filter((v): v is string => typeof v === 'string' && /^\d{1,18}$/.test(v));

/** Signed out: a page request goes to the sign-in page (and back after it), anything else is refused. */
function toSignIn(req: Request, res: Response): void {
  if (req.method === 'GET' || req.method === 'HEAD') res.status(303).set('Location', `${CONSOLE_PATH}/login?next=${encodeURIComponent(req.originalUrl)}`).type('text/plain').send('Sign in first.\n');
  else res.status(401).type('text/plain').send('Sign in first.\n');
}

type Handler = (req: Request, res: Response) => Promise<void>;
const wrap = (handler: Handler): RequestHandler => (req, res, next) => {
  handler(req, res).catch(next);
};

/**
 * The operations console under /console, and the guard that lets its operators and admins into
 * the queue dashboard. Every action goes through the same functions as the command line.
 */
export function consoleRoutes(app: App): { router: express.Router; dashboardGuard: RequestHandler } {
  const { config, db } = app;
  const secure = config.publicUrl.startsWith('https:');
  const cookieOptions = { httpOnly: true, sameSite: 'strict' as const, secure, path: '/' };
  const trusted = new Set(config.consoleTrustedProxies);
  const router = express.Router();

  router.use((_req, res, next) => {
    res.set({
      'Content-Security-Policy': "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: https:; frame-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
      'X-Frame-Options': 'DENY',
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
      'Cache-Control': 'no-store',
    });
    next();
  });
  // The template editor posts every file of a variant (tens of kB); every other form is small.
  const smallForms = express.urlencoded({ extended: false, limit: '64kb' });
  const editorForms = express.urlencoded({ extended: false, limit: '1mb' });
  router.use((req, res, next) => (req.path.startsWith('/templates/') ? editorForms : smallForms)(req, res, next));

  /** The session of the request: its cookie's, or one opened for the account a trusted proxy names. */
  const authenticate = async (req: Request, res: Response): Promise<Session | null> => {
    const token = cookieValue(req, SESSION_COOKIE);
    const session = await readSession(db, token);
    const proxied = trusted.has(clientAddress(req)) ? req.get(config.consoleProxyUserHeader)?.trim() : undefined;
    if (!proxied) return session;
    if (session?.userName === proxied) return session;
    if (!(await roleOf(db, proxied))) return null;
    const opened = await createSession(db, proxied, config.consoleSessionHours);
    res.cookie(SESSION_COOKIE, opened.token, { ...cookieOptions, expires: opened.expiresAt });
    await recordAction(db, { userName: proxied, action: 'sign in', target: 'console', detail: `single sign-on from ${clientAddress(req)}` });
    return readSession(db, opened.token);
  };

  router.get('/login', wrap(async (req, res) => {
    if (await authenticate(req, res)) return res.redirect(303, safeNext(req.query.next));
    const loginToken = randomBytes(18).toString('base64url');
    res.cookie(LOGIN_COOKIE, loginToken, { ...cookieOptions, path: '/console/login' });
    res.type('html').send(signInPage({ next: safeNext(req.query.next), loginToken }));
  }));

  router.post('/login', wrap(async (req, res) => {
    const body = req.body as Record<string, unknown>;
    const again = (status: number, error: string) => {
      const loginToken = randomBytes(18).toString('base64url');
      res.cookie(LOGIN_COOKIE, loginToken, { ...cookieOptions, path: '/console/login' });
      res.status(status).type('html').send(signInPage({ error, next: safeNext(body.next), loginToken }));
    };
    const expected = cookieValue(req, LOGIN_COOKIE);
    if (!expected || !sameSecret(str(body._login), expected)) return again(403, 'The sign-in form expired. Please sign in again.');
    const result = await signIn(db, str(body.user), str(body.password), clientAddress(req));
    if (!result.ok) {
      app.logger.warn({ user: str(body.user).slice(0, 64), address: clientAddress(req), reason: result.reason }, 'console sign-in refused');
      return result.reason === 'locked'
        ? again(429, 'Too many failed sign-ins: wait 15 minutes, then try again.')
        : again(401, 'Wrong user name or password.');
    }
    const opened = await createSession(db, result.userName, config.consoleSessionHours);
    res.clearCookie(LOGIN_COOKIE, { ...cookieOptions, path: '/console/login' });
    res.cookie(SESSION_COOKIE, opened.token, { ...cookieOptions, expires: opened.expiresAt });
    await recordAction(db, { userName: result.userName, action: 'sign in', target: 'console', detail: `from ${clientAddress(req)}` });
    res.redirect(303, safeNext(body.next));
  }));

  // Nothing below answers signed out; every state change needs the session's CSRF token.
  router.use((req, res, next) => {
    void (async () => {
    const session = await authenticate(req, res);
    if (!session) {
      toSignIn(req, res);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      const given = str((req.body as Record<string, unknown> | undefined)?._csrf);
      if (!given || !sameSecret(given, session.csrfToken)) {
        app.logger.warn({ user: session.userName, path: req.path }, 'console request refused: missing or wrong CSRF token');
        res.status(403).type('text/plain').send('Refused: this form has no valid CSRF token. Reload the page and try again.\n');
        return;
      }
    }
    res.locals.session = session;
    next();
    })().catch(next);
  });
  const ctxOf = (res: Response): PageContext => {
    const s = res.locals.session as Session;
    return { userName: s.userName, role: s.role, csrfToken: s.csrfToken };
  };
  /** Operators and admins only: the server refuses anyone else, whatever the form says. */
  const mayAct = (res: Response): boolean => {
    const ctx = ctxOf(res);
    if (CAN.act(ctx.role)) return true;
    app.logger.warn({ user: ctx.userName, role: ctx.role }, 'console action refused: role may not act');
    res.status(403).type('html').send(messagePage(ctx, 'Not allowed', `Your role (${ctx.role}) can read the console but not act: ask an operator or an admin.`));
    return false;
  };

  router.post('/logout', wrap(async (req, res) => {
    await endSession(db, cookieValue(req, SESSION_COOKIE));
    await recordAction(db, { userName: ctxOf(res).userName, action: 'sign out', target: 'console' });
    res.clearCookie(SESSION_COOKIE, cookieOptions);
    res.redirect(303, `${CONSOLE_PATH}/login`);
  }));

  router.get('/', wrap(async (_req, res) => {
    res.type('html').send(todayPage(ctxOf(res), await todayView(app)));
  }));
  router.get('/activity', wrap(async (_req, res) => {
    res.type('html').send(activityPage(ctxOf(res), await activityView(app)));
  }));
  router.get('/assets/chart.umd.min.js', (_req, res) => {
    res.set('Cache-Control', 'private, max-age=3600').sendFile(path.join(path.dirname(require.resolve('chart.js')), 'chart.umd.min.js'));
  });
  router.get('/assets/activity.js', (_req, res) => {
    res.type('application/javascript').send(ACTIVITY_SCRIPT);
  });

  router.get('/reminders', wrap(async (req, res) => {
    const q = req.query;
    const filter: SearchFilter = {};
    const problems: string[] = [];
    if (str(q.q).trim()) filter.q = str(q.q).trim().slice(0, 200);
    if ((LEDGER_STATUSES as readonly string[]).includes(str(q.status))) filter.status = str(q.status) as LedgerStatus;
    if ((REMINDER_KINDS as readonly string[]).includes(str(q.kind))) filter.kind = str(q.kind) as ReminderKind;
    if (config.offsets.includes(Number(str(q.offset))) && str(q.offset) !== '') filter.offset = Number(str(q.offset));
    for (const key of ['from', 'to'] as const) {
      if (!str(q[key])) continue;
      try {
        filter[key] = parseIsoDate(str(q[key]));
      } catch {
        problems.push(`${key}: not a date`);
      }
    }
    if (/^\d{4}-\d{2}-\d{2}_\d{1,18}$/.test(str(q.before))) filter.before = str(q.before);
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(filter)) if (key !== 'before' && value !== undefined) params.set(key, String(value));
    let result: Awaited<ReturnType<typeof searchReminders>>;
    try {
      result = await searchReminders(db, filter);
    } catch (error) {
      if (!(error instanceof UserError)) throw error;
      problems.push(error.message);
      result = { rows: [], next: null };
    }
    res.type('html').send(remindersPage(ctxOf(res), filter, result, params, config.offsets, problems));
  }));

  router.get('/reminders/:id', wrap(async (req, res) => {
    const detail = await reminderDetail(db, String(req.params.id));
    if (!detail) {
      res.status(404).type('html').send(messagePage(ctxOf(res), 'Not found', `No reminder with id ${String(req.params.id)}.`));
      return;
    }
    const notice = str(req.query.done) || undefined;
    res.type('html').send(reminderPage(ctxOf(res), detail, { notice }));
  }));

  router.get('/reminders/:id/email', wrap(async (req, res) => {
    const id = String(req.params.id);
    const email = /^\d{1,18}$/.test(id) ? await sentEmail(app, id) : { problem: 'not a reminder id' };
    if ('problem' in email) {
      res.status(404).type('html').send(messagePage(ctxOf(res), 'Email not available', email.problem));
      return;
    }
    const facts = html`<p>Reminder <a href="/console/reminders/${id}">${id}</a>, template version <code>${email.templateVersion}</code>: rebuilt from that stored version and the rows sent together; customer and contact details as the portal has them now.</p>`;
    res.type('html').send(emailPage(ctxOf(res), `What reminder ${id} sent`, facts, email));
  }));

  const replayDeps = () => ({ db, sendQueue: app.sendQueue(), config });

  router.get('/replay', wrap(async (req, res) => {
    if (!mayAct(res)) return;
    const ids = list(req.query.ids);
    if (ids.length === 0) {
      res.status(400).type('html').send(messagePage(ctxOf(res), 'Nothing selected', 'Select one or more reminders to replay.'));
      return;
    }
    try {
      const plan = await replay(replayDeps(), { ids }, { dryRun: true, actor: actorName(ctxOf(res).userName) });
      res.type('html').send(replayPage(ctxOf(res), ids, plan, 'preview'));
    } catch (error) {
      if (!(error instanceof UserError)) throw error;
      res.status(400).type('html').send(replayPage(ctxOf(res), ids, null, 'preview', error.message));
    }
  }));

  router.post('/replay', wrap(async (req, res) => {
    if (!mayAct(res)) return;
    const ids = list((req.body as Record<string, unknown>).ids);
    const ctx = ctxOf(res);
    try {
      const result = await replay(replayDeps(), { ids }, { actor: actorName(ctx.userName) });
      const sent = result.entries.filter((e) => e.action === 'replay').map((e) => e.row.id);
      await recordAction(db, { userName: ctx.userName, action: 'replay', target: `reminders ${ids.join(', ')}`, detail: `${sent.length} queued in ${result.jobs.length} email(s)` });
      res.type('html').send(replayPage(ctx, ids, result, 'done'));
    } catch (error) {
      if (!(error instanceof UserError)) throw error;
      res.status(400).type('html').send(replayPage(ctx, ids, null, 'done', error.message));
    }
  }));

  router.post('/reminders/:id/force', wrap(async (req, res) => {
    if (!mayAct(res)) return;
    const id = String(req.params.id);
    const reason = str((req.body as Record<string, unknown>).reason).trim();
    const ctx = ctxOf(res);
    if (!reason) {
      res.status(400).type('html').send(messagePage(ctx, 'Reason required', 'A forced re-send needs a reason: it is recorded with your name.'));
      return;
    }
    try {
      const result = await replay(replayDeps(), { ids: list(id) }, { force: true, reason, actor: actorName(ctx.userName) });
      await recordAction(db, { userName: ctx.userName, action: 'force re-send', target: `reminder ${id}`, detail: reason });
      res.type('html').send(replayPage(ctx, [id], result, 'done'));
    } catch (error) {
      if (!(error instanceof UserError)) throw error;
      res.status(400).type('html').send(messagePage(ctx, 'Not re-sent', error.message));
    }
  }));

  /** Hold, release, suppress, unsuppress: the command line's functions, then back to the reminder. */
  const simpleAction = (name: string, run: (body: Record<string, string>, userName: string) => Promise<{ target: string; done: string }>) =>
    wrap(async (req, res) => {
      if (!mayAct(res)) return;
      const raw = req.body as Record<string, unknown>;
      const body = Object.fromEntries(['license', 'order', 'reason', 'address', 'back'].map((k) => [k, str(raw[k]).trim()]));
      const ctx = ctxOf(res);
      try {
        const { target, done } = await run(body, ctx.userName);
        await recordAction(db, { userName: ctx.userName, action: name, target, detail: body.reason || null });
        const back = /^\d{1,18}$/.test(body.back ?? '') ? `${CONSOLE_PATH}/reminders/${body.back}` : CONSOLE_PATH;
        res.redirect(303, `${back}?done=${encodeURIComponent(done)}`);
      } catch (error) {
        if (!(error instanceof UserError)) throw error;
        res.status(400).type('html').send(messagePage(ctx, `Could not ${name}`, error.message));
      }
    });
  router.post('/licenses/hold', simpleAction('hold', async (b) => {
    const { license } = await holdLicense(db, b.license ?? '', b.reason ?? '', { orderNumber: b.order || undefined });
    return { target: `license ${license.licenseKey} (order ${license.orderNumber})`, done: `License ${license.licenseKey} is on hold: its reminders are skipped until released.` };
  }));
  router.post('/licenses/release', simpleAction('release', async (b) => {
    const { license } = await releaseLicense(db, b.license ?? '', { orderNumber: b.order || undefined });
    return { target: `license ${license.licenseKey} (order ${license.orderNumber})`, done: `License ${license.licenseKey} released: its next due reminders go out normally.` };
  }));
  router.post('/addresses/suppress', simpleAction('suppress', async (b) => {
    const { address } = await suppressAddress(db, b.address ?? '', b.reason ?? '');
    return { target: `address ${address}`, done: `${address} is suppressed: no reminder goes to it until unsuppressed.` };
  }));
  router.post('/addresses/unsuppress', simpleAction('unsuppress', async (b) => {
    const { address } = await unsuppressAddress(db, b.address ?? '');
    return { target: `address ${address}`, done: `${address} is no longer suppressed.` };
  }));

  router.get('/templates', wrap(async (_req, res) => {
    const [live, disk, refused] = await Promise.all([liveTemplates(db), checkTemplateFolder(app), listRefusals(db)]);
    res.type('html').send(templatesPage(ctxOf(res), live, refused, disk));
  }));
  router.get('/templates/:version/:family/:locale/:variant', wrap(async (req, res) => {
    const { version, family, locale, variant } = req.params as Record<string, string>;
    const ctx = ctxOf(res);
    const [{ databaseVersionStore }, { compiledFromParts }, { loadSampleData, sampleInput }, { KIND_OF_FAMILY }] = await Promise.all([
      import('../render/template-versions'),
      import('../render/compile-variant'),
      import('../render/sample-data'),
      import('../render/template-source'),
    ]);
    const stored = (await databaseVersionStore(db).find(String(version))).find((s) => s.family === family && s.requestedLocale === locale && String(s.variant) === variant);
    if (!stored) {
      res.status(404).type('html').send(messagePage(ctx, 'Not found', `No stored version ${String(version)} of ${String(family)}/${String(locale)}/${String(variant)}.`));
      return;
    }
    const input = sampleInput(config, loadSampleData(config.templatesDir), {
      kind: KIND_OF_FAMILY[stored.family],
      offset: stored.variant === 'expired' ? 0 : stored.variant,
      expired: stored.variant === 'expired',
      locale: stored.requestedLocale,
    });
    const email = compiledFromParts(stored).fill(input);
    const facts = html`<p>${stored.family}/${stored.requestedLocale}/${String(stored.variant)}, version <code>${stored.templateVersion}</code>, filled with the sample data of the templates folder.</p>`;
    res.type('html').send(emailPage(ctx, `Template ${stored.family}/${stored.requestedLocale}/${String(stored.variant)}`, facts, email));
  }));

  // Every signed-in role reads it: the function `reminders unreachable` prints.
  router.get('/unreachable', wrap(async (_req, res) => {
    res.type('html').send(unreachablePage(ctxOf(res), await listUnreachable(db, config)));
  }));

  registerEditorRoutes(router, app, ctxOf);

  router.use((_req, res) => {
    res.status(404).type('html').send(messagePage(ctxOf(res), 'Not found', 'No such console page.'));
  });

  // The dashboard: a signed-in operator or admin, or ADMIN_TOKEN as before.
  const tokenGuard = config.adminToken ? adminAuth(config.adminToken, '/admin/queues') : null;
  const dashboardGuard: RequestHandler = (req, res, next) => {
    authenticate(req, res)
      .then((session) => {
        if (session && CAN.queueDashboard(session.role)) return next();
        const bearerOrCookie = /^Bearer\s/i.test(req.get('authorization') ?? '') || (req.get('cookie') ?? '').includes('reminders_admin=') || typeof req.query.token === 'string';
        if (tokenGuard && bearerOrCookie) return tokenGuard(req, res, next);
        if (session) {
          res.status(403).type('text/plain').send(`Your role (${session.role}) may not open the queue dashboard: operators and admins may.\n`);
          return;
        }
        toSignIn(req, res);
      })
      .catch(next);
  };
  return { router, dashboardGuard };
}

const folderChecks = new WeakMap<App, { at: number; result: Promise<{ problems: import('../render/template-problem').TemplateProblem[]; checked: number } | { error: string }> }>();

/** The checks of `templates validate` on the templates folder, at most once a minute. */
function checkTemplateFolder(app: App) {
  const cached = folderChecks.get(app);
  if (cached && Date.now() - cached.at < 60_000) return cached.result;
  const result = import('../render/validate-templates')
    .then(({ validateTemplates }) => validateTemplates(app.config.templatesDir, app.config))
    .then((report) => ({ problems: report.problems, checked: report.checked }))
    .catch((error: unknown) => ({ error: `The templates folder could not be checked: ${(error as Error).message}` }));
  folderChecks.set(app, { at: Date.now(), result });
  return result;
}
