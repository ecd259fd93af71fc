import type { Server } from 'node:http';
import path from 'node:path';
import express from 'express';
import type { Config } from '../config';
import type { MjmlOutcome } from './compile-variant';
import { renderOnce, type RenderOutcome } from './render-sample';
import { loadSampleData, type SampleData, sampleInput } from './sample-data';
import { templatesFingerprint } from './template-fingerprint';
import { dedupe, formatProblem } from './template-problem';
import { describeVariant, KIND_OF_FAMILY } from './template-source';
import { checkVariant, validateTemplates, type ValidationReport } from './validate-templates';
import { listVariants, parseVariantId, type VariantRef, variantId } from './variants';

export type PreviewConfig = Pick<
  Config,
  'templatesDir' | 'offsets' | 'portalUrl' | 'publicUrl' | 'unsubscribeSecret' | 'salesEmail' | 'supportEmail' | 'timezone'
>;

export interface PreviewServer {
  url: string;
  close(): Promise<void>;
}

const escapeHtml = (value: string) =>
  value.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);

/**
 * A local page for marketers: every variant, its subject, the email at desktop and mobile
 * widths and its plain text. The page polls `/version` (a fingerprint of the templates folder)
 * and reloads when a template is saved; a broken template shows its problems instead.
 */
export async function startPreviewServer(options: { config: PreviewConfig; port?: number; host?: string }): Promise<PreviewServer> {
  const { config } = options;
  const dir = path.resolve(config.templatesDir);
  const cache = new Map<string, Promise<RenderOutcome>>();
  // MJML output shared by the selected email and the full check (cleared with the cache).
  const mjmlCache = new Map<string, Promise<MjmlOutcome>>();
  let report: Promise<ValidationReport> | null = null;
  let cachedFor = '';

  const fresh = () => {
    const version = templatesFingerprint(dir);
    if (version !== cachedFor) {
      cache.clear();
      mjmlCache.clear();
      report = null;
      cachedFor = version;
    }
  };

  /**
   * One email as the page shows it: filled with the sample data, and with every problem
   * `templates validate` finds in it (the same check): an email can render and still be one
   * the worker refuses, such as one without its unsubscribe link.
   */
  const render = (ref: VariantRef, itemCount: number | undefined): Promise<RenderOutcome> => {
    fresh();
    const key = `${variantId(ref)}|${itemCount ?? 'all'}`;
    let outcome = cache.get(key);
    if (!outcome) {
      outcome = (async (): Promise<RenderOutcome> => {
        let sample: SampleData;
        try {
          sample = loadSampleData(dir);
        } catch (error) {
          return { email: null, locale: null, problems: [{ file: 'sample-data.json', line: 0, message: error instanceof Error ? error.message : String(error) }] };
        }
        const input = sampleInput(config, sample, {
          kind: KIND_OF_FAMILY[ref.family],
          offset: ref.variant === 'expired' ? 0 : ref.variant,
          expired: ref.variant === 'expired',
          locale: ref.locale,
          itemCount,
        });
        const [shown, checked] = await Promise.all([renderOnce(dir, input, { mjmlCache }), checkVariant(dir, ref, config, sample, { mjmlCache })]);
        return { ...shown, problems: dedupe([...shown.problems, ...checked.problems]) };
      })();
      cache.set(key, outcome);
    }
    return outcome;
  };

  /** Every problem `templates validate` reports, computed once per version of the folder. */
  const validation = (): Promise<ValidationReport> => {
    fresh();
    report ??= validateTemplates(dir, config, { mjmlCache });
    return report;
  };

  const app = express();
  app.disable('x-powered-by');

  const selected = (query: Record<string, unknown>) => {
    const variants = listVariants(dir, config.offsets);
    const requested = typeof query.v === 'string' ? parseVariantId(query.v) : null;
    const ref = requested ?? variants[0] ?? { family: 'annual' as const, locale: 'en', variant: config.offsets[0] ?? 30 };
    const itemCount = query.items === '1' ? 1 : undefined;
    return { variants, ref, itemCount };
  };

  app.get('/version', (_req, res) => {
    res.set('Cache-Control', 'no-store').json({ version: templatesFingerprint(dir) });
  });

  // What `templates validate` reports, so the list can mark the broken variants and show every
  // problem: fetched by the page after it loads, since checking every variant takes a moment the
  // selected email should not wait for.
  app.get('/status', async (_req, res) => {
    const version = templatesFingerprint(dir);
    const { problems, variants } = await validation();
    const broken = variants.filter((v) => v.problems.length > 0).map((v) => ({ id: variantId(v.ref), problems: v.problems.map((p) => formatProblem(p, dir)) }));
    res.set('Cache-Control', 'no-store').json({ version, problems: problems.map((p) => formatProblem(p, dir)), broken });
  });

  app.get('/email', async (req, res) => {
    const { ref, itemCount } = selected(req.query as Record<string, unknown>);
    const outcome = await render(ref, itemCount);
    res.set('Cache-Control', 'no-store');
    if (!outcome.email) {
      res.status(422).type('html').send(`<!doctype html><meta charset="utf-8"><pre style="color:#b00020;white-space:pre-wrap">${escapeHtml(outcome.problems.map((p) => formatProblem(p, dir)).join('\n'))}</pre>`);
      return;
    }
    if (req.query.format === 'text') res.type('text/plain; charset=utf-8').send(outcome.email.text);
    else res.type('html').send(outcome.email.html);
  });

  app.get('/', async (req, res) => {
    const { variants, ref, itemCount } = selected(req.query as Record<string, unknown>);
    const version = templatesFingerprint(dir);
    const outcome = await render(ref, itemCount);
    res.set('Cache-Control', 'no-store').type('html').send(page(dir, variants, ref, itemCount, outcome, version));
  });

  const server = await new Promise<Server>((resolve, reject) => {
    const listening = app.listen(options.port ?? 4000, options.host ?? '127.0.0.1', (error?: Error) => (error ? reject(error) : resolve(listening)));
    listening.once('error', reject);
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : (options.port ?? 4000);
  const host = options.host ?? '127.0.0.1';
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}/`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

function page(dir: string, variants: VariantRef[], ref: VariantRef, itemCount: number | undefined, outcome: RenderOutcome, version: string): string {
  const id = variantId(ref);
  const query = (v: string, items = itemCount) => `?v=${encodeURIComponent(v)}${items ? `&items=${items}` : ''}`;
  const groups = new Map<string, VariantRef[]>();
  for (const variant of variants) {
    const key = `${variant.family} · ${variant.locale}`;
    groups.set(key, [...(groups.get(key) ?? []), variant]);
  }
  const nav = [...groups]
    .map(
      ([title, refs]) =>
        `<h3>${escapeHtml(title)}</h3><ul>${refs
          .map((r) => {
            const rid = variantId(r);
            const label = r.variant === 'expired' ? 'expired (sent late)' : `${r.variant} days`;
            return `<li><a data-variant="${escapeHtml(rid)}" href="${query(rid)}"${rid === id ? ' aria-current="page"' : ''}>${escapeHtml(label)}</a></li>`;
          })
          .join('')}</ul>`,
    )
    .join('');
  const frameSrc = `/email${query(id)}`;
  const problems = outcome.problems.length === 0
    ? ''
    : `<div class="problems" id="problems" role="alert"><h2>${outcome.email ? 'This email renders, but `templates validate` refuses it: the worker would not send it' : 'This template has errors'}</h2><p>Fix them and save: this page reloads by itself.</p><ul>${outcome.problems
        .map((p) => `<li><code>${escapeHtml(formatProblem(p, dir))}</code></li>`)
        .join('')}</ul></div>`;
  const body = outcome.email
    ? `${problems}<p class="subject"><span>Subject</span> <strong id="subject">${escapeHtml(outcome.email.subject)}</strong></p>
       <p class="meta">Template version ${escapeHtml(outcome.email.templateVersion)} · copy from ${escapeHtml(outcome.locale ?? ref.locale)} ·
         ${itemCount === 1 ? `<a href="${query(id, 0)}">show several licenses</a>` : `<a href="${query(id, 1)}">show one license</a>`}</p>
       <div class="frames">
         <figure><figcaption>Desktop (700 px)</figcaption><iframe id="desktop" title="desktop" src="${frameSrc}" width="700" height="1100"></iframe></figure>
         <figure><figcaption>Mobile (375 px)</figcaption><iframe id="mobile" title="mobile" src="${frameSrc}" width="375" height="1100"></iframe></figure>
       </div>
       <h2>Plain text</h2><pre id="text">${escapeHtml(outcome.email.text)}</pre>`
    : problems;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="template-version" content="${escapeHtml(version)}"><title>Reminder templates · ${escapeHtml(id)}</title>
<style>
  body { margin: 0; font: 14px/1.45 system-ui, sans-serif; display: flex; color: #1f2933; }
  nav { width: 230px; flex: none; background: #f2f4f7; padding: 12px 16px; height: 100vh; overflow: auto; box-sizing: border-box; position: sticky; top: 0; }
  nav h3 { margin: 14px 0 4px; font-size: 13px; text-transform: uppercase; color: #52606d; }
  nav ul { list-style: none; margin: 0; padding: 0; }
  nav a { display: block; padding: 2px 6px; border-radius: 3px; color: #1a73c8; text-decoration: none; }
  nav a[aria-current] { background: #1a73c8; color: #fff; }
  nav a.broken { color: #b00020; font-weight: 600; }
  nav a.broken[aria-current] { background: #b00020; color: #fff; }
  nav .status { color: #52606d; font-size: 12px; margin: 6px 0 0; }
  nav .status[data-problems]:not([data-problems="0"]) { color: #b00020; font-weight: 600; }
  nav .all-problems li { font-size: 12px; color: #b00020; margin: 4px 0; overflow-wrap: anywhere; }
  main { padding: 16px 24px; flex: 1; min-width: 0; }
  .subject span { color: #52606d; } .subject strong { font-size: 16px; }
  .meta { color: #52606d; }
  .frames { display: flex; gap: 24px; align-items: flex-start; flex-wrap: wrap; }
  figure { margin: 0; } figcaption { color: #52606d; margin-bottom: 4px; }
  iframe { border: 1px solid #cbd2d9; background: #fff; }
  pre { background: #f8f9fa; border: 1px solid #e4e7eb; padding: 12px; white-space: pre-wrap; max-width: 80ch; }
  .problems { border: 2px solid #b00020; border-radius: 6px; padding: 8px 16px; background: #fff5f5; }
  .problems code { white-space: pre-wrap; color: #b00020; }
</style></head>
<body>
<nav aria-label="variants"><strong>Reminder templates</strong><p class="status" id="status" aria-live="polite">Checking every variant…</p><ul class="all-problems" id="all-problems"></ul>${nav}</nav>
<main>
  <h1>${escapeHtml(ref.family === 'annual' ? 'Annual license' : 'Maintenance')} · ${escapeHtml(ref.locale)} · ${escapeHtml(describeVariant(ref.variant))}</h1>
  ${body}
</main>
<script>
  (function () {
    var current = ${JSON.stringify(version)};
    function check() {
      fetch('/version', { cache: 'no-store' }).then(function (r) { return r.json(); }).then(function (data) {
        if (data.version !== current) location.reload();
      }).catch(function () {}).then(function () { setTimeout(check, 1000); });
    }
    check();
    // What \`templates validate\` reports: every problem listed, each email that has one marked, with
    // its first problem as the tooltip.
    fetch('/status', { cache: 'no-store' }).then(function (r) { return r.json(); }).then(function (data) {
      var status = document.getElementById('status');
      var list = document.getElementById('all-problems');
      data.broken.forEach(function (b) {
        var link = document.querySelector('nav a[data-variant="' + b.id + '"]');
        if (!link) return;
        link.classList.add('broken');
        link.setAttribute('title', b.problems[0] || 'broken');
        link.textContent = link.textContent + ' \u26a0 broken';
      });
      data.problems.forEach(function (p) {
        var item = document.createElement('li');
        item.textContent = p;
        list.appendChild(item);
      });
      status.textContent = data.problems.length === 0
        ? 'Every variant renders and passes \`templates validate\`.'
        : data.problems.length + ' problem(s) \`templates validate\` reports; ' + data.broken.length + ' variant(s) broken (marked \u26a0):';
      status.setAttribute('data-broken', String(data.broken.length));
      status.setAttribute('data-problems', String(data.problems.length));
    }).catch(function () {});
  })();
</script>
</body></html>`;
}
