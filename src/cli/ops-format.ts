import type { HistoryResult } from '../ops/history';
import type { ReplayResult } from '../ops/replay';
import type { UndeliveredRow } from '../ops/undelivered';
import { formatTable } from './table';

/** `2026-05-03T10:15:22Z`: UTC to the second, the same in every terminal. */
export const instant = (date: Date | null | undefined): string => (date ? date.toISOString().replace(/\.\d{3}Z$/, 'Z') : '');

const oneLine = (text: string | null | undefined, max?: number): string => {
  const flat = (text ?? '').replace(/\s+/g, ' ').trim();
  return max !== undefined && flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
};

const indent = (text: string, by = '    ') =>
  text
    .split('\n')
    .map((line) => by + line)
    .join('\n');

/** The `reminders failed` table (reasons cut to one line; --json has them whole). */
export function formatUndelivered(rows: UndeliveredRow[]): string {
  return formatTable(
    ['id', 'status', 'kind', 'license', 'order', 'recipient', 'offset', 'expires', 'attempts', 'last reply or reason', 'when'],
    rows.map((r) => [r.id, r.status, r.kind, r.license_key, r.order_number, r.recipient, r.offset_days, r.expires_on, r.attempts, oneLine(r.reason, 90), instant(r.updated_at)]),
  );
}

/** The fields of a ledger row every JSON output shares, under the same names. */
export function ledgerRowJson(row: UndeliveredRow): Record<string, unknown> {
  return {
    id: row.id,
    status: row.status,
    kind: row.kind,
    licenseKey: row.license_key,
    orderNumber: row.order_number,
    recipient: row.recipient,
    offset: row.offset_days,
    expiresOn: row.expires_on,
    scanDate: row.scan_date,
    attempts: row.attempts,
    reason: row.reason,
    forced: row.forced,
    updatedAt: row.updated_at.toISOString(),
  };
}

const ACTION_LABEL: Record<ReplayResult['entries'][number]['action'], string> = {
  replay: 'replay',
  force: 'FORCE re-send',
  superseded: 'not replayed',
  ineligible: 'not replayed',
  'already-pending': 'not replayed',
  'in-flight': 'not replayed',
};

/** What `reminders replay` did (or, with --dry-run, would do), row by row. */
export function formatReplay(result: ReplayResult): string {
  const queued = result.entries.filter((e) => e.jobId !== null).length;
  const lines: string[] = [];
  if (result.entries.length === 0) return result.dryRun ? 'DRY RUN: nothing matches; nothing would be replayed.' : 'Nothing matches; nothing replayed.';
  lines.push(
    formatTable(
      ['id', 'was', 'action', 'kind', 'license', 'recipient', 'offset', 'expires', 'send job', 'note'],
      result.entries.map((e) => [e.row.id, e.row.status, ACTION_LABEL[e.action], e.row.kind, e.row.license_key, e.row.recipient, e.row.offset_days, e.row.expires_on, e.jobId ?? '', oneLine(e.note, 90)]),
    ),
  );
  if (result.dryRun) {
    lines.push(`DRY RUN: nothing changed. Would put ${queued} reminder(s) back to pending in ${result.jobs.length} send job(s).`);
  } else if (queued > 0) {
    lines.push(`Replayed ${queued} reminder(s) in ${result.jobs.length} send job(s). The running daemon sends them, or run \`reminders work --drain\`.`);
  } else {
    lines.push('Nothing was replayed.');
  }
  return lines.join('\n');
}

/** The audit of a license or an address: current blocks, then each ledger row and its events. */
export function formatHistory(result: HistoryResult): string {
  const blocks: string[] = [];
  if (result.notes.length > 0) blocks.push(['Now:', ...result.notes.map((n) => `  ${n}`)].join('\n'));
  if (result.entries.length === 0) blocks.push('No reminders recorded in the ledger.');
  for (const { row, events } of result.entries) {
    const head = `#${row.id}  ${row.kind}  ${row.license_key}  order ${row.order_number}  to ${row.recipient}  ${row.offset_days}-day reminder, expiry ${row.expires_on}, scan ${row.scan_date}`;
    const facts = [
      `status ${row.status.toUpperCase()}`,
      `attempts ${row.attempts}`,
      row.forced ? 'FORCED re-send' : null,
      row.message_id ? `message ${row.message_id}` : null,
      row.template_version ? `template ${row.template_version}` : null,
      `created ${instant(row.created_at)}`,
      row.sent_at ? `sent ${instant(row.sent_at)}` : null,
      row.reason ? `reason: ${oneLine(row.reason)}` : null,
    ].filter(Boolean);
    const table = formatTable(
      ['at', 'event', 'status', 'actor', 'detail'],
      events.map((e) => [instant(e.at), e.event, e.status, e.actor, oneLine([e.detail, e.message_id ? `message ${e.message_id}` : null, e.template_version ? `template ${e.template_version}` : null].filter(Boolean).join('; '))]),
    );
    blocks.push([head, `  ${facts.join(', ')}`, indent(table)].join('\n'));
  }
  return blocks.join('\n\n');
}

export function historyJson(result: HistoryResult): Array<Record<string, unknown>> {
  return result.entries.map(({ row, events }) => ({
    ...ledgerRowJson(row),
    messageId: row.message_id,
    templateVersion: row.template_version,
    createdAt: row.created_at.toISOString(),
    sentAt: row.sent_at?.toISOString() ?? null,
    events: events.map((e) => ({
      at: e.at.toISOString(),
      event: e.event,
      status: e.status,
      actor: e.actor,
      detail: e.detail,
      messageId: e.message_id,
      templateVersion: e.template_version,
    })),
  }));
}
