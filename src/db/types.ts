import type { ColumnType, Generated, Insertable, Selectable } from 'kysely';

/** ISO calendar date `YYYY-MM-DD`: pg's date parser is set to hand these back as strings. */
export type IsoDate = string;
/** bigint ids come back from pg as strings (OID 20); inserts accept numbers too. */
type Id = ColumnType<string, string | number, string | number>;
type GeneratedId = ColumnType<string, string | number | undefined, never>;
type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;

export type ReminderKind = 'license' | 'maintenance';
export const REMINDER_KINDS: readonly ReminderKind[] = ['license', 'maintenance'];

export type LedgerStatus = 'pending' | 'sending' | 'sent' | 'failed' | 'skipped' | 'unknown' | 'bounced';
export const LEDGER_STATUSES: readonly LedgerStatus[] = ['pending', 'sending', 'sent', 'failed', 'skipped', 'unknown', 'bounced'];

// The customer portal's tables (the integration contract).
export interface OrdersTable {
  id: GeneratedId;
  order_number: string;
  customer_name: string;
}

export interface OrderContactsTable {
  id: GeneratedId;
  order_id: Id;
  email: string;
  name: string | null;
  locale: ColumnType<string, string | undefined, string>;
  unsubscribed_at: NullableTimestamp;
}

export interface LicensesTable {
  id: GeneratedId;
  order_id: Id;
  license_key: string;
  product: string;
  license_type: 'annual' | 'lifetime';
  expires_on: IsoDate | null;
  maintenance_expires_on: IsoDate | null;
  status: ColumnType<'active' | 'cancelled', 'active' | 'cancelled' | undefined, 'active' | 'cancelled'>;
}

// This service's own tables.
export interface ReminderLedgerTable {
  id: Generated<string>;
  kind: ReminderKind;
  license_id: Id;
  license_key: string;
  order_id: Id;
  order_number: string;
  expires_on: IsoDate;
  offset_days: number;
  recipient: string;
  scan_date: IsoDate;
  group_key: string;
  status: LedgerStatus;
  reason: string | null;
  attempts: Generated<number>;
  claim_token: string | null;
  message_id: string | null;
  template_version: string | null;
  forced: Generated<boolean>;
  created_at: Timestamp;
  updated_at: Timestamp;
  claimed_at: NullableTimestamp;
  sent_at: NullableTimestamp;
  /** The send job that last claimed the row. */
  job_id: ColumnType<string | null, string | null | undefined, string | null>;
  /** The copy experiment's arm the email was sent with ('A' when the variant has no arm B). */
  template_arm: ColumnType<string | null, string | null | undefined, string | null>;
  /** The locale of the published variant the email was sent with (after fallback). */
  template_locale: ColumnType<string | null, string | null | undefined, string | null>;
  /** The attempt holding the row while `sending` (its claim token). */
  lease_owner: ColumnType<string | null, string | null | undefined, string | null>;
  /** Until when the owner's lease holds; a live attempt extends it, an expired one may be settled. */
  lease_expires_at: NullableTimestamp;
  /** Set just before the SMTP call: from then on the message may have reached the server. */
  handed_over_at: NullableTimestamp;
}

export type LedgerEvent = 'queued' | 'claimed' | 'sent' | 'failed' | 'retry' | 'skipped' | 'unknown' | 'replayed' | 'late-outcome' | 'unrecorded' | 'bounced';

export interface ReminderEventsTable {
  id: Generated<string>;
  ledger_id: Id;
  at: Timestamp;
  event: LedgerEvent;
  status: LedgerStatus;
  detail: string | null;
  message_id: string | null;
  template_version: string | null;
  actor: string | null;
}

export interface ScanRunsTable {
  scan_date: IsoDate;
  started_at: Timestamp;
  completed_at: NullableTimestamp;
  duration_ms: number | null;
  queued: Generated<number>;
  skipped: Generated<number>;
  caught_up: Generated<number>;
  missed_days: Generated<number>;
}

export interface LicenseHoldsTable {
  license_id: Id;
  reason: string;
  created_at: Timestamp;
}

export interface SuppressedAddressesTable {
  address: string;
  reason: string;
  created_at: Timestamp;
}

export interface TemplateVersionsTable {
  family: string;
  locale: string;
  variant: string;
  version: string;
  files: ColumnType<Record<string, string>, string, string>;
  html: string;
  subject: string;
  subject_where: ColumnType<string, string | undefined, string>;
  template_locale: string;
  created_at: Timestamp;
}

export type TemplateArm = 'A' | 'B';
export type PublicationAction = 'publish' | 'rollback' | 'end-experiment';

export interface TemplateLiveTable {
  family: string;
  locale: string;
  variant: string;
  arm: TemplateArm;
  version: string;
  publication_id: Id;
}

export interface TemplatePublicationsTable {
  id: GeneratedId;
  family: string;
  locale: string;
  variant: string;
  arm: TemplateArm;
  version: string | null;
  action: PublicationAction;
  source: string;
  actor: string;
  message: ColumnType<string, string | undefined, string>;
  published_at: Timestamp;
}

export interface TemplateRefusalsTable {
  family: string;
  locale: string;
  variant: string;
  arm: TemplateArm;
  version: string;
  problems: ColumnType<string[], string, string>;
  source: string;
  actor: string;
  refused_at: Timestamp;
}

export interface TemplateDraftsTable {
  id: GeneratedId;
  family: string;
  locale: string;
  variant: string;
  arm: TemplateArm;
  base_version: string | null;
  files: ColumnType<Record<string, string>, string, string>;
  actor: string;
  message: ColumnType<string, string | undefined, string>;
  saved_at: Timestamp;
}

export interface LicenseRenewalsTable {
  license_id: Id;
  kind: ReminderKind;
  old_expires_on: IsoDate;
  new_expires_on: IsoDate;
  observed_on: IsoDate;
  recorded_at: Timestamp;
}

export type BounceType = 'hard' | 'soft' | 'complaint' | 'delay' | 'unknown';

export interface BounceMessagesTable {
  id: Generated<string>;
  channel: string;
  received_at: Timestamp;
  raw: Buffer;
  raw_sha256: string;
  problem: string | null;
  events: Generated<number>;
  processed_at: NullableTimestamp;
}

export interface BounceEventsTable {
  id: Generated<string>;
  bounce_message_id: Id | null;
  event_key: string;
  channel: string;
  type: BounceType;
  recipient: string | null;
  recipient_domain: string | null;
  status: string | null;
  diagnostic: string | null;
  feedback_type: string | null;
  reminder_message_id: string | null;
  ledger_ids: ColumnType<string[], string[] | undefined, string[]>;
  matched_by: string | null;
  action: ColumnType<string, string | undefined, string>;
  occurred_at: Timestamp;
  received_at: Timestamp;
}

export interface SuppressionLogTable {
  id: Generated<string>;
  address: string;
  action: 'suppressed' | 'unsuppressed';
  reason: string | null;
  actor: string | null;
  at: Timestamp;
}

export interface SalesDigestsTable {
  digest_date: IsoDate;
  claimed_at: Timestamp;
  sent_at: NullableTimestamp;
  orders: Generated<number>;
  message_id: string | null;
}

export type ConsoleRole = 'viewer' | 'operator' | 'marketing' | 'admin';
export const CONSOLE_ROLES: readonly ConsoleRole[] = ['viewer', 'operator', 'marketing', 'admin'];

export interface ConsoleUsersTable {
  name: string;
  role: ConsoleRole;
  password_hash: string;
  created_at: Timestamp;
  password_changed_at: Timestamp;
  /** Where the template editor sends a test to this person (null: the name, when it is an address). */
  email: ColumnType<string | null, string | null | undefined, string | null>;
}

export interface ConsoleSessionsTable {
  id: string;
  user_name: string;
  csrf_token: string;
  created_at: Timestamp;
  last_seen_at: Timestamp;
  expires_at: Timestamp;
}

export interface ConsoleSignInFailuresTable {
  id: GeneratedId;
  user_name: string;
  address: string;
  at: Timestamp;
}

export interface ConsoleActionsTable {
  id: GeneratedId;
  at: Timestamp;
  actor: string;
  action: string;
  target: string;
  detail: string | null;
}

export interface Database {
  orders: OrdersTable;
  order_contacts: OrderContactsTable;
  licenses: LicensesTable;
  reminder_ledger: ReminderLedgerTable;
  reminder_events: ReminderEventsTable;
  scan_runs: ScanRunsTable;
  license_holds: LicenseHoldsTable;
  suppressed_addresses: SuppressedAddressesTable;
  template_versions: TemplateVersionsTable;
  template_live: TemplateLiveTable;
  template_publications: TemplatePublicationsTable;
  template_refusals: TemplateRefusalsTable;
  template_drafts: TemplateDraftsTable;
  license_renewals: LicenseRenewalsTable;
  bounce_messages: BounceMessagesTable;
  bounce_events: BounceEventsTable;
  suppression_log: SuppressionLogTable;
  sales_digests: SalesDigestsTable;
  console_users: ConsoleUsersTable;
  console_sessions: ConsoleSessionsTable;
  console_sign_in_failures: ConsoleSignInFailuresTable;
  console_actions: ConsoleActionsTable;
}

export type LedgerRow = Selectable<ReminderLedgerTable>;
export type NewLedgerRow = Insertable<ReminderLedgerTable>;
