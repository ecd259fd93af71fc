import type { Kysely } from 'kysely';
import { UserError } from '../user-error';
import type { Database } from '../db/types';

export interface LicenseRef {
  id: string;
  licenseKey: string;
  orderNumber: string;
  status: string;
}

/**
 * The one license with this key (on this order, when given). License keys are not unique in the
 * portal's table, so an ambiguous key is refused with the orders that hold it.
 */
export async function findLicenseByKey(db: Kysely<Database>, licenseKey: string, orderNumber?: string): Promise<LicenseRef> {
  const rows = await db
    .selectFrom('licenses')
    .innerJoin('orders', 'orders.id', 'licenses.order_id')
    .select(['licenses.id', 'licenses.license_key', 'orders.order_number', 'licenses.status'])
    .where('licenses.license_key', '=', licenseKey)
    .$if(orderNumber !== undefined, (q) => q.where('orders.order_number', '=', orderNumber as string))
    .orderBy('licenses.id')
    .execute();
  const onOrder = orderNumber === undefined ? '' : ` on order ${orderNumber}`;
  if (rows.length === 0) throw new UserError(`no license with key ${JSON.stringify(licenseKey)}${onOrder}`);
  if (rows.length > 1) {
    throw new UserError(`license key ${JSON.stringify(licenseKey)} is on several orders (${rows.map((r) => r.order_number).join(', ')}): add --order ORDER_NUMBER`);
  }
  const row = rows[0] as (typeof rows)[number];
  return { id: row.id, licenseKey: row.license_key, orderNumber: row.order_number, status: row.status };
}

/** Holds a license: the scan and the worker skip its reminders with "on hold: <reason>". */
export async function holdLicense(
  db: Kysely<Database>,
  licenseKey: string,
  reason: string,
  options: { orderNumber?: string } = {},
): Promise<{ license: LicenseRef; previousReason: string | null }> {
  const text = requireReason(reason);
  const license = await findLicenseByKey(db, licenseKey, options.orderNumber);
  return db.transaction().execute(async (trx) => {
    const previous = await trx.selectFrom('license_holds').select('reason').where('license_id', '=', license.id).forUpdate().executeTakeFirst();
    await trx
      .insertInto('license_holds')
      .values({ license_id: license.id, reason: text })
      .onConflict((oc) => oc.column('license_id').doUpdateSet({ reason: text }))
      .execute();
    return { license, previousReason: previous?.reason ?? null };
  });
}

/** Lifts a hold: the license's next due reminders go out normally (skipped ones stay skipped). */
export async function releaseLicense(
  db: Kysely<Database>,
  licenseKey: string,
  options: { orderNumber?: string } = {},
): Promise<{ license: LicenseRef; releasedReason: string | null }> {
  const license = await findLicenseByKey(db, licenseKey, options.orderNumber);
  const removed = await db.deleteFrom('license_holds').where('license_id', '=', license.id).returning('reason').executeTakeFirst();
  return { license, releasedReason: removed?.reason ?? null };
}

// Suppressions live with the delivery rules that read them (bounces write them too).
export { suppressAddress, unsuppressAddress } from '../delivery/suppressions';

function requireReason(reason: string): string {
  const text = reason.trim();
  if (text === '') throw new UserError('--reason must not be empty: it is shown wherever a reminder is skipped because of it');
  return text;
}
