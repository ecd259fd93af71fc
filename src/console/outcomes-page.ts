import type { OutcomesReport } from '../outcomes/report';
import { html, jsonBlock } from './html';
import { page, type PageContext } from './layout';

const percent = (value: number | null) => (value === null ? '—' : `${(value * 100).toFixed(1)} %`);
const points = (value: number) => `${value >= 0 ? '+' : ''}${(value * 100).toFixed(1)} points`;

/** The table of `reminders report outcomes`, its arm comparisons, and a chart of the same rows. */
export function outcomesPage(ctx: PageContext, report: OutcomesReport, problems: string[]): string {
  const body = html`
<p>Renewals attributed to the reminders sent in the range (by their business date), as known on ${report.asOf}: the same table as <code>reminders report outcomes</code>. A series still within 30 days after its expiry and not renewed is counted in none of the outcome columns yet.</p>
<form method="get" action="/console/outcomes" class="filters" aria-label="Date range">
  <div><label for="from">Sent from</label><input id="from" name="from" type="date" value="${report.from ?? ''}"></div>
  <div><label for="to">Sent to</label><input id="to" name="to" type="date" value="${report.to ?? ''}"></div>
  <button type="submit">Show</button>
</form>
${problems.map((p) => html`<p class="error" role="alert">${p}</p>`)}
${
  report.rows.length === 0
    ? html`<p>No reminders sent in that range.</p>`
    : html`<div class="card"><div class="chart" style="height: ${Math.max(10, report.rows.length * 2 + 4)}rem"><canvas id="chart-outcomes" role="img" aria-label="Series renewed before expiry, within 30 days after, and not renewed, per row of the table"></canvas></div></div>
<h2 id="outcomes-h">Per variant, version and arm</h2>
<div class="table-wrap"><table aria-labelledby="outcomes-h"><thead><tr><th>Kind</th><th>Offset</th><th>Locale</th><th>Version</th><th>Arm</th><th>Sent</th><th>Renewed before expiry</th><th>Renewed ≤ 30 days after</th><th>Not renewed</th><th>Median days to renewal</th></tr></thead><tbody>
${report.rows.map(
  (r) => html`<tr><td>${r.kind}</td><td>${r.offset}</td><td>${r.locale}</td><td><code>${r.templateVersion}</code></td><td>${r.arm}</td><td>${r.sent}</td><td>${r.renewedBeforeExpiry}</td><td>${r.renewedAfterExpiry}</td><td>${r.notRenewed}</td><td>${r.medianDaysToRenewal ?? '—'}</td></tr>`,
)}
</tbody></table></div>`
}
${
  report.comparisons.length > 0
    ? html`<h2 id="arms-h">Experiments: arm B against arm A</h2>
<div class="table-wrap"><table aria-labelledby="arms-h"><thead><tr><th>Kind</th><th>Offset</th><th>Locale</th><th>A renewed</th><th>B renewed</th><th>Difference (B − A)</th><th>95 % interval</th><th>Verdict</th></tr></thead><tbody>
${report.comparisons.map(
  (c) => html`<tr><td>${c.kind}</td><td>${c.offset}</td><td>${c.locale}</td><td>${c.a.renewed}/${c.a.series} (${percent(c.a.rate)})</td><td>${c.b.renewed}/${c.b.series} (${percent(c.b.rate)})</td>
<td>${c.difference === null ? '—' : points(c.difference)}</td><td>${c.confidenceInterval ? `${points(c.confidenceInterval[0])} to ${points(c.confidenceInterval[1])}` : '—'}</td><td class="${c.significant ? 'ok' : 'warn'}">${c.verdict}</td></tr>`,
)}
</tbody></table></div>`
    : ''
}
${jsonBlock('outcomes-data', { rows: report.rows })}`;
  return page(ctx, { title: 'Outcomes', section: 'outcomes', scripts: report.rows.length > 0 ? ['/console/assets/chart.umd.min.js', '/console/assets/outcomes.js'] : ['/console/assets/outcomes.js'] }, body);
}
