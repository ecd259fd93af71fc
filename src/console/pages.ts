import type { UnreachableRenewal } from '../bounces/unreachable';
import type { ReplayResult } from '../ops/replay';
import { LEDGER_STATUSES, REMINDER_KINDS } from '../db/types';
import type { RefusedTemplate } from '../templates-store/store';
import type { TemplateProblem } from '../render/template-problem';
import type { ActivityView, ReminderDetail, SearchFilter, SearchRow, TemplateRow, TodayView } from './data';
import { type Html, html, jsonBlock } from './html';
import { page, type PageContext } from './layout';
import { CAN } from './users';

const when = (d: Date | string | null | undefined) => (d ? new Date(d).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC') : '—');
const duration = (ms: number | null) => (ms === null ? '—' : ms < 1000 ? `${ms} ms` : ms < 120_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 60_000)} min`);
const state = (text: string) => html`<span class="${text === 'ok' || text === 'not checked' ? 'ok' : text.startsWith('error') ? 'bad' : 'warn'}">${text}</span>`;
const csrf = (ctx: PageContext) => html`<input type="hidden" name="_csrf" value="${ctx.csrfToken}">`;
const flash = (message?: { notice?: string; error?: string }) =>
  html`${message?.notice ? html`<p class="notice" role="status">${message.notice}</p>` : ''}${message?.error ? html`<p class="error" role="alert">${message.error}</p>` : ''}`;

function statusCell(status: string): Html {
  return html`<span class="status status-${status}">${status}</span>`;
}

export function todayPage(ctx: PageContext, v: TodayView): string {
  const h = v.health;
  const p = v.progress;
  const due = Object.values(p).reduce((a, b) => a + b, 0);
  const done = p.sent + p.skipped + p.failed + p.unknown;
  const body = html`
<ul class="strip" aria-label="Services">
  <li>PostgreSQL: ${state(h.postgres)}</li><li>Redis: ${state(h.redis)}</li><li>SMTP: ${state(h.smtp)}</li><li>Templates: ${state(h.templates)}</li>
</ul>
<div class="cards">
  <section class="card" aria-labelledby="scan-h"><h2 id="scan-h">Last scan</h2>
    ${
      v.lastScan
        ? html`<dl class="facts"><dt>Business date</dt><dd>${v.lastScan.date}</dd><dt>Finished</dt><dd>${v.lastScan.completedAt ? when(v.lastScan.completedAt) : 'still running'}</dd>
        <dt>Took</dt><dd>${duration(v.lastScan.durationMs)}</dd><dt>Due (queued)</dt><dd>${v.lastScan.queued}</dd><dt>Caught up</dt><dd>${v.lastScan.caughtUp}${v.lastScan.missedDays ? ` (after ${v.lastScan.missedDays} missed day(s))` : ''}</dd><dt>Skipped</dt><dd>${v.lastScan.skipped}</dd></dl>
        ${h.daysBehind !== null && h.daysBehind >= 2 ? html`<p class="bad">The daily scan is ${h.daysBehind} days behind.</p>` : ''}`
        : html`<p>No scan has run yet.</p>`
    }
  </section>
  <section class="card" aria-labelledby="progress-h"><h2 id="progress-h">Today's sends (${v.date})</h2>
    <p class="big">${done} of ${due} done</p>
    <progress max="${due || 1}" value="${done}" aria-label="Today's sends done">${done} of ${due}</progress>
    <p>${p.sent} sent · ${p.pending + p.sending} to go · ${p.skipped} skipped · <span class="${p.failed + p.unknown ? 'bad' : ''}">${p.failed} failed · ${p.unknown} unknown</span></p>
  </section>
  <section class="card" aria-labelledby="queue-h"><h2 id="queue-h">Queue</h2>
    ${
      v.queue
        ? html`<dl class="facts"><dt>Waiting</dt><dd>${v.queue.waiting}</dd><dt>Sending now</dt><dd>${v.queue.active}</dd><dt>Delayed for a retry</dt><dd>${v.queue.delayed}</dd></dl>`
        : html`<p class="bad">Redis does not answer.</p>`
    }
    <p>Oldest pending reminder: ${v.lagMs === null ? 'none pending' : duration(v.lagMs)}</p>
  </section>
  <section class="card" aria-labelledby="decide-h"><h2 id="decide-h">Waiting for a decision</h2>
    <p class="big"><a href="/console/reminders?status=failed">${v.waiting.failed} failed</a> · <a href="/console/reminders?status=unknown">${v.waiting.unknown} unknown</a></p>
    <p class="muted">Failed: the SMTP server refused or retries ran out. Unknown: may have been delivered; check, then replay.</p>
  </section>
</div>
${
  v.waiting.latest.length > 0
    ? html`<h2>Latest failures and unknowns</h2>${resultsTable(
        ctx,
        v.waiting.latest.map((r) => ({ ...r })),
        false,
      )}`
    : ''
}
${h.refusedTemplates.length > 0 ? html`<h2>Refused template edits</h2>${refusedList(h.refusedTemplates)}` : ''}
<h2>Recent console actions</h2>
${
  v.actions.length === 0
    ? html`<p class="muted">None yet.</p>`
    : html`<div class="table-wrap"><table><thead><tr><th>When</th><th>Who</th><th>What</th><th>On</th><th>Detail</th></tr></thead><tbody>
    ${v.actions.map((a) => html`<tr><td>${when(a.at)}</td><td>${a.actor}</td><td>${a.action}</td><td>${a.target}</td><td class="reason">${a.detail ?? ''}</td></tr>`)}
    </tbody></table></div>`
}
<p class="muted">This page refreshes itself every 30 seconds.</p>`;
  return page(ctx, { title: 'Today', section: 'today', refreshSeconds: 30 }, body);
}

export function activityPage(ctx: PageContext, v: ActivityView): string {
  const forecastRows = v.forecast.filter((d) => d.sends.length > 0);
  const body = html`
<p>Reminders per scan day over the last 90 days, by kind, and what the next 30 days' scans would send if the portal data stays as it is now (the numbers of <code>reminders forecast</code>).</p>
<div class="cards">
  <section class="card" aria-labelledby="c1"><h2 id="c1">Annual licenses: last 90 days</h2><div class="chart"><canvas id="chart-license" role="img" aria-label="Annual license reminders per day: sent, failed, unknown, skipped"></canvas></div></section>
  <section class="card" aria-labelledby="c2"><h2 id="c2">Maintenance: last 90 days</h2><div class="chart"><canvas id="chart-maintenance" role="img" aria-label="Maintenance reminders per day: sent, failed, unknown, skipped"></canvas></div></section>
  <section class="card" aria-labelledby="c3"><h2 id="c3">Forecast: next 30 days</h2><div class="chart"><canvas id="chart-forecast" role="img" aria-label="Emails the next 30 days' scans would send, per kind"></canvas></div></section>
</div>
<h2>Forecast, day by day</h2>
${
  forecastRows.length === 0
    ? html`<p>Nothing due in the next 30 days.</p>`
    : html`<div class="table-wrap"><table><thead><tr><th>Date</th><th>Kind</th><th>Offset</th><th>Emails</th><th>Reminders</th><th>Late</th></tr></thead><tbody>
  ${forecastRows.flatMap((d) => d.sends.map((s) => html`<tr><td>${d.date}</td><td>${s.kind}</td><td>${s.offset}</td><td>${s.emails}</td><td>${s.reminders}</td><td>${s.late}</td></tr>`))}
  </tbody></table></div>`
}
${jsonBlock('activity-data', { days: v.days, series: v.series, forecast: v.forecast.map((d) => ({ date: d.date, license: d.sends.filter((s) => s.kind === 'license').reduce((a, s) => a + s.emails, 0), maintenance: d.sends.filter((s) => s.kind === 'maintenance').reduce((a, s) => a + s.emails, 0) })) })}`;
  return page(ctx, { title: 'Activity', section: 'activity', scripts: ['/console/assets/chart.umd.min.js', '/console/assets/activity.js'] }, body);
}

function resultsTable(ctx: PageContext, rows: SearchRow[], selectable: boolean): Html {
  return html`<div class="table-wrap"><table>
<thead><tr>${selectable ? html`<th scope="col">Select</th>` : ''}<th scope="col">Id</th><th scope="col">Status</th><th scope="col">Kind</th><th scope="col">Offset</th><th scope="col">License</th><th scope="col">Order</th><th scope="col">Recipient</th><th scope="col">Scan date</th><th scope="col">Expires</th><th scope="col">Reason / last reply</th></tr></thead>
<tbody>${rows.map(
    (r) => html`<tr>
  ${selectable ? html`<td><input type="checkbox" name="ids" value="${r.id}" id="sel-${r.id}" aria-label="Select reminder ${r.id}"></td>` : ''}
  <td><a href="/console/reminders/${r.id}">${r.id}</a></td><td>${statusCell(r.status)}</td><td>${r.kind}</td><td>${r.offset_days}</td>
  <td><a href="/console/reminders/${r.id}" aria-label="Open reminder ${r.id} of license ${r.license_key}">${r.license_key}</a></td><td>${r.order_number}</td><td>${r.recipient}</td><td>${r.scan_date}</td><td>${r.expires_on}</td><td class="reason">${r.reason ?? ''}</td></tr>`,
  )}</tbody></table></div>`;
}

export function remindersPage(
  ctx: PageContext,
  filter: SearchFilter,
  result: { rows: SearchRow[]; next: string | null },
  query: URLSearchParams,
  offsets: readonly number[],
  problems: string[] = [],
): string {
  const nextQuery = new URLSearchParams(query);
  if (result.next) nextQuery.set('before', result.next);
  const canAct = CAN.act(ctx.role);
  const body = html`
<form class="filters" method="get" action="/console/reminders" role="search">
  <div><label for="q">License key, order number, address or customer</label><input id="q" name="q" type="search" value="${filter.q ?? ''}" size="32"></div>
  <div><label for="status">Status</label><select id="status" name="status"><option value="">any</option>${LEDGER_STATUSES.map((s) => html`<option${s === filter.status ? html` selected` : ''}>${s}</option>`)}</select></div>
  <div><label for="kind">Kind</label><select id="kind" name="kind"><option value="">any</option>${REMINDER_KINDS.map((k) => html`<option${k === filter.kind ? html` selected` : ''}>${k}</option>`)}</select></div>
  <div><label for="offset">Offset (days)</label><select id="offset" name="offset"><option value="">any</option>${offsets.map((o) => html`<option${o === filter.offset ? html` selected` : ''}>${o}</option>`)}</select></div>
  <div><label for="from">Scan date from</label><input id="from" name="from" type="date" value="${filter.from ?? ''}"></div>
  <div><label for="to">Scan date to</label><input id="to" name="to" type="date" value="${filter.to ?? ''}"></div>
  <div><button type="submit">Search</button></div>
</form>
${problems.map((p) => html`<p class="error" role="alert">${p}</p>`)}
${
  result.rows.length === 0
    ? html`<p>No reminder matches.</p>`
    : canAct
      ? html`<form method="get" action="/console/replay">${resultsTable(ctx, result.rows, true)}<p><button type="submit">Replay selected…</button> <span class="muted">Shows what would be sent first; nothing is sent until you confirm.</span></p></form>`
      : resultsTable(ctx, result.rows, false)
}
${result.next ? html`<p><a href="/console/reminders?${nextQuery.toString()}">Older reminders →</a></p>` : ''}`;
  return page(ctx, { title: 'Reminders', section: 'reminders' }, body);
}

export function reminderPage(ctx: PageContext, d: ReminderDetail, message?: { notice?: string; error?: string }): string {
  const r = d.row;
  const canAct = CAN.act(ctx.role);
  const body = html`
${flash(message)}
<div class="cards">
<section class="card" aria-labelledby="r-h"><h2 id="r-h">Details</h2>
<dl class="facts">
  <dt>Status</dt><dd>${statusCell(r.status)}${r.forced ? ' (forced re-send)' : ''}</dd>
  <dt>Reason / last SMTP reply</dt><dd>${r.reason ?? '—'}</dd>
  <dt>Kind, offset</dt><dd>${r.kind}, ${r.offset_days} days before ${r.expires_on}</dd>
  <dt>License</dt><dd>${r.license_key}</dd>
  <dt>Order</dt><dd>${r.order_number}${d.customerName ? ` (${d.customerName})` : ''}</dd>
  <dt>Recipient</dt><dd>${r.recipient}</dd>
  <dt>Scan date</dt><dd>${r.scan_date}</dd>
  <dt>Attempts</dt><dd>${r.attempts}</dd>
  <dt>Message-ID</dt><dd>${r.message_id ? html`<code>${r.message_id}</code>` : '—'}</dd>
  <dt>Sent at</dt><dd>${when(r.sent_at)}</dd>
  <dt>Template version</dt><dd>${r.template_version ? html`<code>${r.template_version}</code>${r.sent_at ? html` · <a href="/console/reminders/${r.id}/email">What was sent</a>` : ''}` : '—'}</dd>
</dl>
${d.sameEmail.length > 1 ? html`<p class="muted">Sent in one email with ${d.sameEmail.filter((s) => s.id !== r.id).map((s) => html`<a href="/console/reminders/${s.id}">${s.license_key}</a> `)}</p>` : ''}
</section>
<section class="card" aria-labelledby="now-h"><h2 id="now-h">Now</h2><ul>${d.notes.map((n) => html`<li>${n}</li>`)}</ul></section>
</div>
<h2>History</h2>
<div class="table-wrap"><table><thead><tr><th>When</th><th>Event</th><th>Status</th><th>Detail (SMTP reply)</th><th>Message-ID</th><th>Template</th><th>By</th></tr></thead><tbody>
${d.events.map((e) => html`<tr><td>${when(e.at)}</td><td>${e.event}</td><td>${statusCell(e.status)}</td><td class="reason">${e.detail ?? ''}</td><td>${e.message_id ? html`<code>${e.message_id}</code>` : ''}</td><td>${e.template_version ?? ''}</td><td>${e.actor ?? ''}</td></tr>`)}
</tbody></table></div>
${
  canAct
    ? html`<h2>Actions</h2>
<div class="actions">
  ${
    r.status === 'sent'
      ? html`<form method="post" action="/console/reminders/${r.id}/force">${csrf(ctx)}<h3>Force a second copy</h3>
      <div class="field"><label for="force-reason">Reason (required, recorded)</label><textarea id="force-reason" name="reason" required rows="2"></textarea></div>
      <button type="submit" class="danger">Force re-send</button></form>`
      : html`<form method="get" action="/console/replay"><h3>Replay</h3><input type="hidden" name="ids" value="${r.id}"><p class="muted">Shows what would be sent; nothing is sent until you confirm.</p><button type="submit">Replay…</button></form>`
  }
  ${
    d.hold
      ? html`<form method="post" action="/console/licenses/release">${csrf(ctx)}<h3>License on hold</h3><p>${d.hold}</p><input type="hidden" name="license" value="${r.license_key}"><input type="hidden" name="order" value="${r.order_number}"><input type="hidden" name="back" value="${r.id}"><button type="submit">Release license</button></form>`
      : html`<form method="post" action="/console/licenses/hold">${csrf(ctx)}<h3>Hold the license</h3><input type="hidden" name="license" value="${r.license_key}"><input type="hidden" name="order" value="${r.order_number}"><input type="hidden" name="back" value="${r.id}">
      <div class="field"><label for="hold-reason">Reason for the hold</label><input type="text" id="hold-reason" name="reason" required></div><button type="submit">Hold license</button></form>`
  }
  ${
    d.suppression
      ? html`<form method="post" action="/console/addresses/unsuppress">${csrf(ctx)}<h3>Address suppressed</h3><p>${d.suppression}</p><input type="hidden" name="address" value="${r.recipient}"><input type="hidden" name="back" value="${r.id}"><button type="submit">Unsuppress address</button></form>`
      : html`<form method="post" action="/console/addresses/suppress">${csrf(ctx)}<h3>Suppress the address</h3><input type="hidden" name="address" value="${r.recipient}"><input type="hidden" name="back" value="${r.id}">
      <div class="field"><label for="suppress-reason">Reason for the suppression</label><input type="text" id="suppress-reason" name="reason" required></div><button type="submit">Suppress address</button></form>`
  }
</div>`
    : ''
}`;
  return page(ctx, { title: `Reminder ${r.id}`, section: 'reminders' }, body);
}

export function replayPage(ctx: PageContext, ids: string[], plan: ReplayResult | null, outcome: 'preview' | 'done', error?: string): string {
  const willSend = plan?.entries.filter((e) => e.action === 'replay' || e.action === 'force') ?? [];
  const unknown = willSend.filter((e) => e.row.status === 'unknown');
  const body = html`
${error ? html`<p class="error" role="alert">${error}</p>` : ''}
${
  outcome === 'preview' && unknown.length > 0
    ? html`<p class="error" role="alert">${unknown.length} of these are <strong>unknown</strong>: they may have been delivered already. Check with the recipient or the mail server's log (Message-ID, time) before confirming, or the customer may get a second copy.</p>`
    : ''
}
${
  plan
    ? html`
<p class="${outcome === 'done' ? 'notice' : ''}" role="status">${
        outcome === 'preview'
          ? `Nothing has been sent yet. Confirming queues ${plan.jobs.length} email(s) carrying ${willSend.length} reminder(s); the worker checks each again at send time.`
          : `Replayed: ${plan.jobs.length} email(s) queued carrying ${willSend.length} reminder(s).`
      }</p>
<div class="table-wrap"><table><thead><tr><th>Id</th><th>Was</th><th>Recipient</th><th>License</th><th>Kind</th><th>Offset</th><th>Will be</th><th>Why</th></tr></thead><tbody>
${plan.entries.map(
  (e) =>
    html`<tr><td><a href="/console/reminders/${e.row.id}">${e.row.id}</a></td><td>${statusCell(e.row.status)}</td><td>${e.row.recipient}</td><td>${e.row.license_key}</td><td>${e.row.kind}</td><td>${e.row.offset_days}</td><td>${e.action === 'replay' || e.action === 'force' ? 'sent again' : `left alone (${e.action})`}</td><td class="reason">${e.note}</td></tr>`,
)}
</tbody></table></div>
${
  outcome === 'preview' && willSend.length > 0
    ? html`<form method="post" action="/console/replay">${csrf(ctx)}${ids.map((id) => html`<input type="hidden" name="ids" value="${id}">`)}<p><button type="submit">Confirm replay</button> <a href="/console/reminders">Cancel</a></p></form>`
    : ''
}`
    : ''
}`;
  return page(ctx, { title: outcome === 'preview' ? 'Replay: check before sending' : 'Replay done', section: 'reminders' }, body);
}

function refusedList(refused: RefusedTemplate[]): Html {
  return html`<ul>${refused.map((t) => html`<li><strong>${t.variant}</strong> version ${t.version} refused since ${when(t.since)}; ${t.serving ? `sending ${t.serving} meanwhile` : 'no good version: its reminders fail'}<ul>${t.problems.map((p) => html`<li>${p}</li>`)}</ul></li>`)}</ul>`;
}

export function templatesPage(ctx: PageContext, live: TemplateRow[], refused: RefusedTemplate[], disk: { problems: TemplateProblem[]; checked: number } | { error: string }): string {
  const body = html`
<p>The live version of each variant is its published version: every worker sends it. A publish that fails the checks is refused and the live version keeps going out.</p>
<h2>Edits refused</h2>
${
  'error' in disk
    ? html`<p class="error">${disk.error}</p>`
    : disk.problems.length === 0 && refused.length === 0
      ? html`<p class="ok">None: the ${disk.checked} variants in the templates folder pass the checks.</p>`
      : html`${disk.problems.length > 0 ? html`<p class="bad">The templates folder does not pass the checks, so it cannot be published:</p><ul>${disk.problems.map((p) => html`<li><code>${p.file}:${p.line}</code> ${p.message}</li>`)}</ul>` : ''}${refusedList(refused)}`
}
<h2>Live versions</h2>
${
  live.length === 0
    ? html`<p>No version published yet: <code>reminders templates publish</code> publishes the templates folder.</p>`
    : html`<div class="table-wrap"><table><thead><tr><th>Variant</th><th>Live version</th><th>Since</th><th>Versions kept</th><th>Preview</th><th>Edit</th></tr></thead><tbody>
${live.map((t) => html`<tr><td>${t.variant}</td><td><code>${t.version}</code></td><td>${when(t.since)}</td><td>${t.versions}</td><td><a href="/console/templates/${t.version}/${t.variant}" aria-label="Preview ${t.variant} version ${t.version}">Preview</a></td><td><a href="/console/templates/edit?${editLink(t.variant)}" aria-label="Open ${t.variant} in the editor">${CAN.editTemplates(ctx.role) ? 'Edit' : 'Open'}</a></td></tr>`)}
</tbody></table></div>`
}
<p><a href="/console/templates/edit">Open the template editor</a>: ${CAN.editTemplates(ctx.role) ? 'edit a variant beside its live preview, test it, publish it, roll it back.' : 'read a variant, its preview and its history (marketing and admins edit).'}</p>`;
  return page(ctx, { title: 'Templates', section: 'templates' }, body);
}

const editLink = (variant: string) => {
  const [family = '', locale = '', offset = ''] = variant.split('/');
  return new URLSearchParams({ family, locale, offset }).toString();
};

/** The renewals of `reminders unreachable`: one row per order, each item with its expiry, each address with why. */
export function unreachablePage(ctx: PageContext, renewals: UnreachableRenewal[]): string {
  const body = html`
<p>Renewals due within the reminder horizon (up to 30 days past expiry) whose every subscribed contact is suppressed or has bounced: no reminder reaches them, so sales should call. The same list as <code>reminders unreachable</code>, mailed to sales once a day.</p>
${
  renewals.length === 0
    ? html`<p class="ok">No renewal is unreachable: every due renewal has at least one contact mail can reach.</p>`
    : html`<p>${renewals.length} renewal(s) no contact can be reached for.</p>
<div class="table-wrap"><table aria-label="Unreachable renewals"><thead><tr><th>Order</th><th>Customer</th><th>Items</th><th>Expires</th><th>Addresses and why</th></tr></thead><tbody>
${renewals.map(
  (r) => html`<tr><td><a href="/console/reminders?q=${encodeURIComponent(r.orderNumber)}" aria-label="Reminders of order ${r.orderNumber}">${r.orderNumber}</a></td><td>${r.customerName}</td>
<td><ul class="plain">${r.items.map((i) => html`<li>${i.kind} <code>${i.licenseKey}</code> (${i.product})</li>`)}</ul></td>
<td><ul class="plain">${r.items.map((i) => html`<li>${i.expiresOn}</li>`)}</ul></td>
<td class="reason"><ul class="plain">${r.contacts.map((c) => html`<li>${c.address}: <span class="bad">${c.why}</span></li>`)}</ul></td></tr>`,
)}
</tbody></table></div>`
}`;
  return page(ctx, { title: 'Unreachable', section: 'unreachable' }, body);
}

/** An email shown in a sandboxed frame: no scripts, no forms, no navigation out of the console. */
export function emailPage(ctx: PageContext, title: string, facts: Html, email: { subject: string; html: string }): string {
  const body = html`${facts}<p><strong>Subject:</strong> ${email.subject}</p><iframe class="email" title="${title}" sandbox="" srcdoc="${email.html}"></iframe>`;
  return page(ctx, { title, section: 'none' }, body);
}

export function messagePage(ctx: PageContext, title: string, text: string, status: 'notice' | 'error' = 'error'): string {
  return page(ctx, { title, section: 'none' }, html`<p class="${status}">${text}</p>`);
}
