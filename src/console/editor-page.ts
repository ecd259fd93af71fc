import type { TemplateArm } from '../db/types';
import type { TemplateProblem } from '../render/template-problem';
import { FAMILIES } from '../render/template-source';
import type { VariantRef } from '../render/variants';
import type { EditorState } from './editor-data';
import { type Html, html, jsonBlock } from './html';
import { page, type PageContext } from './layout';
import { CAN } from './users';

const when = (d: Date | string | null | undefined) => (d ? new Date(d).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC') : '—');
const csrf = (ctx: PageContext) => html`<input type="hidden" name="_csrf" value="${ctx.csrfToken}">`;
const variantLabel = (v: string | number) => (v === 'expired' ? 'expired (sent after expiry)' : `${v} days before`);
const selected = (yes: boolean) => (yes ? html` selected` : '');

export interface EditorMessages {
  notice?: string;
  error?: string;
  /** A refused publish: the problems, also shown at their lines. */
  problems?: TemplateProblem[];
  /** A publish that lost to someone else's: the version published meanwhile. */
  conflict?: { live: string | null; by: string | null; at: Date | null; base: string | null };
  /** The person's own edit, kept when a publish is refused or lost. */
  files?: Record<string, string>;
  message?: string;
}

/** The variant picker: kind × offset or expired × language, and the arm. */
function picker(state: EditorState, variants: VariantRef[], offsets: readonly number[]): Html {
  const locales = [...new Set(variants.map((v) => v.locale))].sort();
  const keys = [...offsets.map(String), 'expired'];
  return html`<form method="get" action="/console/templates/edit" class="filters" aria-label="Pick a variant">
  <div><label for="pick-family">Kind</label><select id="pick-family" name="family">${FAMILIES.map((f) => html`<option value="${f}"${selected(f === state.ref.family)}>${f === 'annual' ? 'annual license' : 'maintenance'}</option>`)}</select></div>
  <div><label for="pick-variant">Reminder</label><select id="pick-variant" name="offset">${keys.map((k) => html`<option value="${k}"${selected(k === String(state.ref.variant))}>${variantLabel(k)}</option>`)}</select></div>
  <div><label for="pick-locale">Language</label><select id="pick-locale" name="locale">${locales.map((l) => html`<option${selected(l === state.ref.locale)}>${l}</option>`)}</select></div>
  <div><label for="pick-arm">Arm</label><select id="pick-arm" name="arm"><option value="A"${selected(state.arm === 'A')}>A</option><option value="B"${selected(state.arm === 'B')}>B (experiment)</option></select></div>
  <button type="submit">Open</button>
</form>`;
}

function liveLine(state: EditorState): Html {
  const a = state.liveA;
  const b = state.liveB;
  return html`<ul class="strip" aria-label="Live versions">
  <li>Arm A: ${a ? html`<code>${a.version}</code>, published by ${a.actor} ${when(a.publishedAt)}` : 'nothing published'}</li>
  <li>Arm B: ${b ? html`<code>${b.version}</code>, published by ${b.actor} ${when(b.publishedAt)} (experiment running)` : 'none (no experiment)'}</li>
  <li>Editing: ${state.origin.label}</li>
</ul>`;
}

function historySection(ctx: PageContext, state: EditorState): Html {
  const versions = [...new Set(state.history.map((h) => h.version).filter((v): v is string => v !== null))];
  const editable = CAN.editTemplates(ctx.role);
  const options = (pick: string | undefined) => versions.map((v) => html`<option${selected(v === pick)}>${v}</option>`);
  return html`<h2 id="history-h">History</h2>
${
  state.history.length === 0
    ? html`<p class="muted">Nothing published for this variant yet.</p>`
    : html`<div class="table-wrap"><table aria-labelledby="history-h"><thead><tr><th>When</th><th>Who</th><th>What</th><th>Arm</th><th>Version</th><th>Message</th>${editable ? html`<th>Roll back</th>` : ''}</tr></thead><tbody>
${state.history.map(
  (h) => html`<tr><td>${when(h.publishedAt)}</td><td>${h.actor}</td><td>${h.action} (${h.source})</td><td>${h.arm}</td><td><code>${h.version ?? '(withdrawn)'}</code></td><td class="reason">${h.message}</td>
${
  editable
    ? html`<td>${
        h.version && h.version !== (h.arm === 'B' ? state.liveB : state.liveA)?.version
          ? html`<form method="post" action="/console/templates/rollback">${csrf(ctx)}<input type="hidden" name="variant" value="${state.variant}"><input type="hidden" name="arm" value="${h.arm}"><input type="hidden" name="version" value="${h.version}"><button type="submit" aria-label="Roll back to version ${h.version}">Roll back to this</button></form>`
          : h.version
            ? html`<span class="muted">live</span>`
            : ''
      }</td>`
    : ''
}</tr>`,
)}
</tbody></table></div>
${
  versions.length >= 2
    ? html`<form method="get" action="/console/templates/diff" class="filters" aria-label="Compare two versions">
  <input type="hidden" name="variant" value="${state.variant}">
  <div><label for="diff-from">From version</label><select id="diff-from" name="from">${options(versions[1])}</select></div>
  <div><label for="diff-to">To version</label><select id="diff-to" name="to">${options(versions[0])}</select></div>
  <button type="submit">Show the differences</button>
</form>`
    : ''
}`
}`;
}

function experimentSection(ctx: PageContext, state: EditorState): Html {
  const editable = CAN.editTemplates(ctx.role);
  if (!state.liveB) {
    return html`<h2>Experiment</h2><p class="muted">No arm B: every customer gets arm A. ${editable ? html`<a href="/console/templates/edit?${new URLSearchParams({ family: state.ref.family, offset: String(state.ref.variant), locale: state.ref.locale, arm: 'B' }).toString()}">Write an arm B</a> and publish it to start an experiment: each series gets A or B by a stable hash of its license key, and <a href="/console/outcomes">Outcomes</a> compares them.` : ''}</p>`;
  }
  return html`<h2>Experiment</h2><p>Arm B <code>${state.liveB.version}</code> runs against arm A <code>${state.liveA?.version ?? '(none)'}</code>. See <a href="/console/outcomes">Outcomes</a> for which brings more renewals.</p>
${
  editable
    ? html`<div class="actions">${(['A', 'B'] as TemplateArm[]).map(
        (keep) => html`<form method="post" action="/console/templates/end-experiment">${csrf(ctx)}<input type="hidden" name="variant" value="${state.variant}"><input type="hidden" name="keep" value="${keep}">
<p>${keep === 'A' ? 'Withdraw arm B: everyone gets arm A.' : 'Make arm B the copy everyone gets (arm A), and end the experiment.'}</p><button type="submit">End the experiment, keep ${keep}</button></form>`,
      )}</div>`
    : ''
}`;
}

/** The template editor: pick a variant, edit it beside its live preview, test, draft, publish, history. */
export function editorPage(ctx: PageContext, state: EditorState, variants: VariantRef[], offsets: readonly number[], messages: EditorMessages = {}): string {
  const editable = CAN.editTemplates(ctx.role);
  const files = messages.files ?? state.files;
  const conflict = messages.conflict;
  const data = {
    variant: state.variant,
    arm: state.arm,
    csrf: ctx.csrfToken,
    editable,
    files,
    fileOrder: state.fileOrder.filter((f) => f in files),
    subject: state.subject,
    problems: messages.problems ?? [],
  };
  const body = html`
${picker(state, variants, offsets)}
${liveLine(state)}
${messages.notice ? html`<p class="notice" role="status">${messages.notice}</p>` : ''}
${messages.error ? html`<p class="error" role="alert">${messages.error}</p>` : ''}
${
  conflict
    ? html`<div class="error" role="alert"><p><strong>Not published: someone else published this variant while you were editing.</strong> ${conflict.by ?? 'Someone'} published version <code>${conflict.live ?? '(none)'}</code>${conflict.at ? ` at ${when(conflict.at)}` : ''}; you started from <code>${conflict.base ?? '(none)'}</code>. Your edit is kept below.</p>
<p>${conflict.base && conflict.live ? html`<a href="/console/templates/diff?${new URLSearchParams({ variant: state.variant, from: conflict.base, to: conflict.live }).toString()}">See what they changed</a>, then ` : ''}publish again to replace their version with yours, or <a href="/console/templates/edit?${new URLSearchParams({ family: state.ref.family, offset: String(state.ref.variant), locale: state.ref.locale, arm: state.arm }).toString()}">open their version</a>.</p></div>`
    : ''
}
${editable ? '' : html`<p class="notice">Your role (${ctx.role}) can read templates and their preview; marketing and admins edit and publish them.</p>`}
<div class="editor-grid">
<section aria-labelledby="edit-h">
  <h2 id="edit-h">Edit ${state.variant}${state.arm === 'B' ? ' arm B' : ''}</h2>
  <form id="edit-form" method="post" action="/console/templates/publish">
    ${csrf(ctx)}
    <input type="hidden" name="variant" value="${state.variant}">
    <input type="hidden" name="arm" value="${state.arm}">
    <input type="hidden" name="base" value="${state.baseVersion ?? ''}">
    <input type="hidden" name="files" id="files-field" value="">
    ${
      state.subject
        ? html`<div class="field"><label for="subject-field">Subject</label><input id="subject-field" type="text" class="wide" autocomplete="off" spellcheck="true"${editable ? '' : html` readonly`}>
<p class="muted">The block <code>${state.subject.heading}</code> of <code>${state.subject.file}</code>. Placeholders such as <code>{{plural daysLeft one="# day" other="# days"}}</code> are filled per email.</p></div>`
        : ''
    }
    <div class="field"><span class="label" id="blocks-label">Copy blocks of this email</span>
      <ul class="blocks" aria-labelledby="blocks-label">${state.blocks.map((b) => html`<li><button type="button" class="link" data-block-file="${b.file}" data-block-heading="${b.heading}" aria-label="Edit block ${b.heading.slice(3)} in ${b.file}">${b.heading.slice(3)}</button></li>`)}</ul></div>
    <div class="field"><label for="file-select">File</label><select id="file-select">${data.fileOrder.map((f) => html`<option>${f}</option>`)}</select></div>
    <div id="code-editor" class="code-editor"></div>
    <div class="field" aria-live="polite"><p id="problems-summary" class="muted">Checking…</p><ul id="problems" class="problems"></ul></div>
    ${
      editable
        ? html`<div class="field"><label for="publish-message">Message (what changed and why)</label><input id="publish-message" name="message" type="text" class="wide" maxlength="500" value="${messages.message ?? ''}"></div>
    <div class="buttons">
      <button type="submit" id="publish-button">Publish</button>
      <button type="submit" formaction="/console/templates/draft" id="draft-button" class="secondary">Save draft</button>
      <button type="button" id="send-test-button" class="secondary">Send me a test</button>
    </div>
    <p id="send-test-status" role="status" class="muted"></p>`
        : ''
    }
  </form>
</section>
<section aria-labelledby="preview-h" id="preview" data-state="loading">
  <h2 id="preview-h">Preview</h2>
  <div class="filters"><div><label for="preview-license">Fill with license key (empty: the sample data)</label><input id="preview-license" type="text" autocomplete="off"></div><button type="button" id="preview-refresh" class="secondary">Refresh preview</button></div>
  <p id="preview-license-problem" class="bad" role="status"></p>
  <p><strong>Subject:</strong> <span id="preview-subject"></span></p>
  <p class="muted">Filled with <span id="preview-filled"></span>; version <code id="preview-version"></code></p>
  <div class="previews">
    <figure><figcaption>Desktop</figcaption><iframe id="preview-desktop" class="preview-desktop" title="Preview at desktop width" sandbox=""></iframe></figure>
    <figure><figcaption>Phone, 375 px</figcaption><iframe id="preview-mobile" class="preview-mobile" title="Preview at 375 px width" sandbox=""></iframe></figure>
  </div>
  <h3>Plain text</h3>
  <pre id="preview-text" class="preview-text" aria-label="Plain text preview"></pre>
</section>
</div>
${
  state.drafts.length > 0
    ? html`<h2>Drafts</h2><p class="muted">Drafts are never sent.</p><ul>${state.drafts.slice(0, 10).map(
        (d) => html`<li><a href="/console/templates/edit?${new URLSearchParams({ family: state.ref.family, offset: String(state.ref.variant), locale: state.ref.locale, arm: d.arm, draft: d.id }).toString()}">Draft ${d.id}</a> by ${d.actor}, ${when(d.savedAt)}${d.message ? `: ${d.message}` : ''} (from version ${d.baseVersion ?? 'none'})</li>`,
      )}</ul>`
    : ''
}
${historySection(ctx, state)}
${experimentSection(ctx, state)}
${jsonBlock('editor-data', data)}`;
  return page(ctx, { title: 'Template editor', section: 'templates', scripts: ['/console/assets/editor.js'], wide: true }, body);
}

/** A unified diff, each line coloured by what it does. */
export function diffPage(ctx: PageContext, variant: string, from: string, to: string, diff: string): string {
  const lines = diff.split('\n');
  const body = html`<p>${variant}: from version <code>${from}</code> to <code>${to}</code>. <a href="/console/templates/edit?${new URLSearchParams(editorQuery(variant)).toString()}">Back to the editor</a></p>
${
  diff.trim() === ''
    ? html`<p class="ok">The two versions are identical.</p>`
    : html`<pre class="diff" aria-label="Differences">${lines.map((l) => html`<span class="${l.startsWith('+') && !l.startsWith('+++') ? 'add' : l.startsWith('-') && !l.startsWith('---') ? 'del' : l.startsWith('@@') ? 'hunk' : ''}">${l}</span>\n`)}</pre>`
}`;
  return page(ctx, { title: `Differences of ${variant}`, section: 'templates' }, body);
}

/** The editor's query string for a variant id. */
export function editorQuery(variant: string, arm: TemplateArm = 'A'): Record<string, string> {
  const [family = '', locale = '', offset = ''] = variant.split('/');
  return { family, offset, locale, arm };
}

