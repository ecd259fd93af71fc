import type { Kysely, Transaction } from 'kysely';
import type { Config } from '../config';
import type { Database, IsoDate, LedgerRow } from '../db/types';
import { portalLinks } from '../render/portal-links';
import type { ReminderEmailInput } from '../render/types';
import { daysBetween } from '../dates';
import { normalizeAddress } from '../send/address';
import { unsubscribeUrl } from '../unsubscribe/token';
import type { EligibilityReads } from './portal-state';

export type EmailConfig = Pick<Config, 'portalUrl' | 'publicUrl' | 'unsubscribeSecret' | 'salesEmail' | 'supportEmail'>;

/**
 * The business date an email's days left are counted from: the day it is sent, or the scan's
 * date when that is later (a forced scan of a future date rehearses that day's email). A 14-day
 * reminder that goes out on the expiry day says so, never "13 days".
 */
export function daysLeftFrom(scanDate: IsoDate, sendDay: IsoDate | undefined): IsoDate {
  return sendDay && sendDay > scanDate ? sendDay : scanDate;
}

/**
 * Gathers the contact, customer and item details of claimed rows into the template's input. The
 * licenses, contacts and (when given) orders come from the claim's eligibility reads.
 * `sendDay` is the business date of the send (see daysLeftFrom).
 */
export async function readEmailInput(
  db: Kysely<Database> | Transaction<Database>,
  config: EmailConfig,
  rows: LedgerRow[],
  reads: Pick<EligibilityReads, 'licenses' | 'contacts'> & Partial<Pick<EligibilityReads, 'orders'>>,
  sendDay?: IsoDate,
): Promise<ReminderEmailInput> {
  const first = rows[0] as LedgerRow;
  const orderIds = [...new Set(rows.map((r) => r.order_id))];
  // The claim's reads carry the orders; other callers read them here.
  const orders = reads.orders ?? (await db.selectFrom('orders').select(['id', 'customer_name']).where('id', 'in', orderIds).execute());
  const product = new Map(reads.licenses.map((l) => [l.id, l.product]));
  const customer = new Map(orders.map((o) => [o.id, o.customer_name]));
  const contacts = reads.contacts.filter((c) => c.unsubscribed_at === null && orderIds.includes(c.order_id));
  const contact = contacts.find((c) => normalizeAddress(c.email) === first.recipient);
  const items = rows.map((row) => ({
    product: product.get(row.license_id) ?? '',
    licenseKey: row.license_key,
    orderNumber: row.order_number,
    customerName: customer.get(row.order_id) ?? '',
    expiresOn: row.expires_on,
    daysLeft: daysBetween(daysLeftFrom(row.scan_date, sendDay), row.expires_on),
  }));
  items.sort((a, b) => a.expiresOn.localeCompare(b.expiresOn) || a.licenseKey.localeCompare(b.licenseKey));
  const daysLeft = Math.min(...items.map((i) => i.daysLeft));
  const offset = Math.min(...rows.map((r) => r.offset_days));
  return {
    kind: first.kind,
    // Sent on the expiry day (late, or forced), any reminder reads as the expiry day's.
    offset: daysLeft === 0 ? 0 : offset,
    expired: daysLeft < 0,
    daysLeft,
    locale: contact?.locale ?? 'en',
    contactName: contact?.name ?? null,
    recipient: first.recipient,
    items,
    links: {
      ...portalLinks(config.portalUrl, first.kind, items.map((i) => i.licenseKey)),
      unsubscribe: unsubscribeUrl(config.publicUrl, first.recipient, config.unsubscribeSecret),
    },
    salesEmail: config.salesEmail,
    supportEmail: config.supportEmail,
  };
}
