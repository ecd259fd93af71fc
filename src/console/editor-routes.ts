import type express from 'express';
import type { Request, RequestHandler, Response } from 'express';
import type { App } from '../app';
import { businessDate, parseIsoDate } from '../dates';
import type { IsoDate, TemplateArm } from '../db/types';
import { outcomesReport } from '../outcomes/report';
import type { VariantRef } from '../render/variants';
import { ServiceUnavailableError } from '../service-checks';
import { publishEdit } from '../templates-store/publish';
import { diffVersions, endExperiment, PublishConflict, rollback, saveDraft } from '../templates-store/store';
import { UserError } from '../user-error';
import { actorName, recordAction } from './audit';
import { OUTCOMES_SCRIPT } from './client-scripts';
import { editableVariants, editorState, parseVariant, previewEdit, sendTestEdit } from './editor-data';
import { editorBundle } from './editor-bundle';
import { diffPage, type EditorMessages, editorPage, editorQuery } from './editor-page';
import type { PageContext } from './layout';
import { outcomesPage } from './outcomes-page';
import { messagePage } from './pages';
import { CAN, emailOf } from './users';

type Handler = (req: Request, res: Response) => Promise<void>;
const wrap = (handler: Handler): RequestHandler => (req, res, next) => {
  handler(req, res).catch(next);
};
const str = (value: unknown) => (typeof value === 'string' ? value : '');
const armOf = (value: unknown): TemplateArm => (value === 'B' ? 'B' : 'A');
const VERSION = /^[0-9a-f]{6,64}$/;

/** The edited files from the form: a JSON object of relative path → text, nothing else. */
function filesOf(value: unknown): Record<string, string> | null {
  try {
    const parsed: unknown = JSON.parse(str(value));
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return null;
    const entries = Object.entries(parsed as Record<string, unknown>);
    if (entries.length === 0 || entries.length > 100 || entries.some(([name, text]) => typeof text !== 'string' || !/^[A-Za-z0-9._/-]{1,200}$/.test(name))) return null;
    return Object.fromEntries(entries) as Record<string, string>;
  } catch {
    return null;
  }
}

/**
 * The template editor and the Outcomes page. Reading (the editor read-only, its preview, history,
 * diffs, outcomes) is open to every role; saving, testing, publishing, rolling back and ending an
 * experiment to marketing and admins, checked here whatever the form says.
 */
export function registerEditorRoutes(router: express.Router, app: App, ctxOf: (res: Response) => PageContext): void {
  const { config, db } = app;

  /** Marketing and admins only: a forged request from another role is refused and logged. */
  const mayEdit = (res: Response, asJson = false): boolean => {
    const ctx = ctxOf(res);
    if (CAN.editTemplates(ctx.role)) return true;
    app.logger.warn({ user: ctx.userName, role: ctx.role }, 'console template edit refused: role may not edit templates');
    const text = `Your role (${ctx.role}) can read templates but not edit or publish them: marketing and admins can.`;
    if (asJson) res.status(403).json({ message: text });
    else res.status(403).type('html').send(messagePage(ctx, 'Not allowed', text));
    return false;
  };

  const variantFrom = (body: Record<string, unknown>): VariantRef | null => parseVariant(str(body.variant), config.offsets);

  const showEditor = async (res: Response, ref: VariantRef, arm: TemplateArm, options: { draft?: string; status?: number; messages?: EditorMessages } = {}) => {
    const ctx = ctxOf(res);
    try {
      const state = await editorState(app, ref, arm, options.draft);
      if (options.messages?.conflict) state.baseVersion = options.messages.conflict.live;
      res.status(options.status ?? 200).type('html').send(editorPage(ctx, state, await editableVariants(app), config.offsets, options.messages));
    } catch (error) {
      if (!(error instanceof UserError)) throw error;
      res.status(404).type('html').send(messagePage(ctx, 'Not found', error.message));
    }
  };
  const backTo = (res: Response, ref: VariantRef, arm: TemplateArm, done: string) =>
    res.redirect(303, `/console/templates/edit?${new URLSearchParams({ ...editorQuery(`${ref.family}/${ref.locale}/${ref.variant}`, arm), done }).toString()}`);

  router.get('/assets/editor.js', wrap(async (_req, res) => {
    res.type('application/javascript').set('Cache-Control', 'private, max-age=3600').send(await editorBundle());
  }));
  router.get('/assets/outcomes.js', (_req, res) => {
    res.type('application/javascript').send(OUTCOMES_SCRIPT);
  });

  router.get('/templates/edit', wrap(async (req, res) => {
    const q = req.query;
    const family = str(q.family) || 'annual';
    const locale = str(q.locale) || 'en';
    const offset = str(q.offset) || (config.offsets.includes(30) ? '30' : String(config.offsets[0]));
    const ref = parseVariant(`${family}/${locale}/${offset}`, config.offsets);
    if (!ref) {
      res.status(400).type('html').send(messagePage(ctxOf(res), 'No such variant', `${family}/${locale}/${offset} is no variant: pick a kind, a reminder offset of ${config.offsets.join(', ')} or expired, and a language.`));
      return;
    }
    const draft = /^\d{1,18}$/.test(str(q.draft)) ? str(q.draft) : undefined;
    await showEditor(res, ref, armOf(q.arm), { draft, messages: { notice: str(q.done) || undefined } });
  }));

  router.post('/templates/preview', wrap(async (req, res) => {
    const body = req.body as Record<string, unknown>;
    const ref = variantFrom(body);
    const files = filesOf(body.files);
    if (!ref || !files) {
      res.status(400).json({ message: 'no variant or no files in the request', problems: [] });
      return;
    }
    res.json(await previewEdit(app, ref, files, { license: str(body.license).trim() || undefined }));
  }));

  router.post('/templates/send-test', wrap(async (req, res) => {
    if (!mayEdit(res, true)) return;
    const body = req.body as Record<string, unknown>;
    const ref = variantFrom(body);
    const files = filesOf(body.files);
    const ctx = ctxOf(res);
    if (!ref || !files) {
      res.status(400).json({ message: 'Not sent: no variant or no files in the request.' });
      return;
    }
    const to = await emailOf(db, ctx.userName);
    if (!to) {
      res.status(400).json({ message: `Not sent: your account has no email address. An admin sets one with \`reminders users add ${ctx.userName} --email …\` (or name the account by its address).` });
      return;
    }
    try {
      const sent = await sendTestEdit(app, ref, files, to, str(body.license).trim() || undefined);
      await recordAction(db, { userName: ctx.userName, action: 'send test', target: `template ${ref.family}/${ref.locale}/${ref.variant}`, detail: `to ${to}` });
      res.json({ message: `Sent "${sent.subject}" to ${to}.` });
    } catch (error) {
      // A refused edit or an SMTP refusal (UserError), or no SMTP server answering: said on the page.
      if (error instanceof UserError) res.status(422).json({ message: error.message });
      else if (error instanceof ServiceUnavailableError) res.status(502).json({ message: error.message });
      else throw error;
    }
  }));

  /** The edit a draft or publish form carries, or null once the page has said what is missing. */
  const editForm = (req: Request, res: Response, refused: string) => {
    const body = req.body as Record<string, unknown>;
    const ref = variantFrom(body);
    const files = filesOf(body.files);
    const ctx = ctxOf(res);
    if (!ref || !files) {
      res.status(400).type('html').send(messagePage(ctx, refused, 'The form named no variant or no files: reload the editor and try again.'));
      return null;
    }
    const base = str(body.base);
    return { ref, files, ctx, arm: armOf(body.arm), baseVersion: VERSION.test(base) ? base : null, message: str(body.message).trim().slice(0, 500) };
  };

  router.post('/templates/draft', wrap(async (req, res) => {
    if (!mayEdit(res)) return;
    const form = editForm(req, res, 'Not saved');
    if (!form) return;
    const { ref, files, ctx, arm, baseVersion } = form;
    const draft = await saveDraft(db, { ref, arm, baseVersion, files, actor: actorName(ctx.userName), message: form.message });
    await recordAction(db, { userName: ctx.userName, action: 'save draft', target: `template ${ref.family}/${ref.locale}/${ref.variant} arm ${arm}`, detail: `draft ${draft.id}` });
    res.redirect(303, `/console/templates/edit?${new URLSearchParams({ ...editorQuery(`${ref.family}/${ref.locale}/${ref.variant}`, arm), draft: draft.id, done: `Draft ${draft.id} saved: it is not sent until published.` }).toString()}`);
  }));

  router.post('/templates/publish', wrap(async (req, res) => {
    if (!mayEdit(res)) return;
    const form = editForm(req, res, 'Not published');
    if (!form) return;
    const { ref, files, ctx, arm, baseVersion } = form;
    const message = form.message || 'edited in the console';
    try {
      const outcome = await publishEdit(db, config, config.templatesDir, { ref, arm, files, baseVersion, actor: actorName(ctx.userName), message });
      const target = `template ${ref.family}/${ref.locale}/${ref.variant} arm ${arm}`;
      if (outcome.status === 'refused') {
        await recordAction(db, { userName: ctx.userName, action: 'publish refused', target, detail: `${outcome.problems.length} problem(s)` });
        await showEditor(res, ref, arm, { status: 422, messages: { error: 'Not published: this edit fails the checks. The live version keeps sending.', problems: outcome.problems, files, message } });
        return;
      }
      await recordAction(db, { userName: ctx.userName, action: 'publish', target, detail: `version ${outcome.publication.version}: ${message}` });
      backTo(res, ref, arm, `Published version ${outcome.publication.version}: every worker sends it within seconds.`);
    } catch (error) {
      if (!(error instanceof PublishConflict)) throw error;
      const c = error.conflicts[0]!;
      await showEditor(res, ref, arm, { status: 409, messages: { conflict: { live: c.live, by: c.by, at: c.at, base: baseVersion }, files, message } });
    }
  }));

  router.post('/templates/rollback', wrap(async (req, res) => {
    if (!mayEdit(res)) return;
    const body = req.body as Record<string, unknown>;
    const ref = variantFrom(body);
    const version = str(body.version);
    const ctx = ctxOf(res);
    if (!ref || !VERSION.test(version)) {
      res.status(400).type('html').send(messagePage(ctx, 'Not rolled back', 'The form named no variant or version.'));
      return;
    }
    try {
      await rollback(db, version, { actor: actorName(ctx.userName), message: `rollback to ${version} in the console`, source: 'console', filter: { family: ref.family, locale: ref.locale, variant: String(ref.variant) } });
    } catch (error) {
      if (!(error instanceof UserError)) throw error;
      res.status(404).type('html').send(messagePage(ctx, 'Not rolled back', error.message));
      return;
    }
    await recordAction(db, { userName: ctx.userName, action: 'rollback', target: `template ${ref.family}/${ref.locale}/${ref.variant}`, detail: `to version ${version}` });
    backTo(res, ref, armOf(body.arm), `Rolled back to version ${version}: it is live again.`);
  }));

  router.post('/templates/end-experiment', wrap(async (req, res) => {
    if (!mayEdit(res)) return;
    const body = req.body as Record<string, unknown>;
    const ref = variantFrom(body);
    const keep = armOf(body.keep);
    const ctx = ctxOf(res);
    if (!ref) {
      res.status(400).type('html').send(messagePage(ctx, 'Experiment not ended', 'The form named no variant.'));
      return;
    }
    try {
      await endExperiment(db, [ref], keep, { actor: actorName(ctx.userName), message: `experiment ended in the console, kept ${keep}`, source: 'console' });
    } catch (error) {
      if (!(error instanceof UserError) && !(error instanceof PublishConflict)) throw error;
      res.status(409).type('html').send(messagePage(ctx, 'Experiment not ended', error.message));
      return;
    }
    await recordAction(db, { userName: ctx.userName, action: 'end experiment', target: `template ${ref.family}/${ref.locale}/${ref.variant}`, detail: `kept ${keep}` });
    backTo(res, ref, 'A', `Experiment ended: everyone gets the copy of arm ${keep}.`);
  }));

  router.get('/templates/diff', wrap(async (req, res) => {
    const ref = parseVariant(str(req.query.variant), config.offsets);
    const from = str(req.query.from);
    const to = str(req.query.to);
    const ctx = ctxOf(res);
    if (!ref || !VERSION.test(from) || !VERSION.test(to)) {
      res.status(400).type('html').send(messagePage(ctx, 'Nothing to compare', 'Pick a variant and two versions.'));
      return;
    }
    try {
      res.type('html').send(diffPage(ctx, str(req.query.variant), from, to, await diffVersions(db, from, to)));
    } catch (error) {
      if (!(error instanceof UserError)) throw error;
      res.status(404).type('html').send(messagePage(ctx, 'Nothing to compare', error.message));
    }
  }));

  router.get('/outcomes', wrap(async (req, res) => {
    const problems: string[] = [];
    const range: { from?: IsoDate; to?: IsoDate } = {};
    for (const key of ['from', 'to'] as const) {
      const value = str(req.query[key]);
      if (!value) continue;
      try {
        range[key] = parseIsoDate(value);
      } catch {
        problems.push(`${key === 'from' ? 'Sent from' : 'Sent to'}: "${value}" is not a date (YYYY-MM-DD).`);
      }
    }
    if (range.from && range.to && range.from > range.to) problems.push(`Sent from ${range.from} is after sent to ${range.to}: nothing can match.`);
    const report = await outcomesReport(db, { ...range, asOf: businessDate(new Date(), config.timezone) });
    res.type('html').send(outcomesPage(ctxOf(res), report, problems));
  }));
}
