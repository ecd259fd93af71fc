import type { Kysely } from 'kysely';
import type { Database, IsoDate } from '../../src/db/types';

let nextId = 1000;

/** Portal rows written only through the contract's tables, as the portal would. */
export async function insertOrder(
  db: Kysely<Database>,
  order: { orderNumber?: string; customerName?: string; contacts: Array<{ email: string; name?: string | null; locale?: string; unsubscribed?: boolean }> },
): Promise<{ orderId: string; contactIds: string[] }> {
  const id = String(nextId++);
  await db
    .insertInto('orders')
    .values({ id, order_number: order.orderNumber ?? `ORD-${id}`, customer_name: order.customerName ?? `Customer ${id}` })
    .execute();
  const contactIds: string[] = [];
  for (const contact of order.contacts) {
    const contactId = String(nextId++);
    await db
      .insertInto('order_contacts')
      .values({
        id: contactId,
        order_id: id,
        email: contact.email,
        name: contact.name ?? null,
        locale: contact.locale ?? 'en',
        unsubscribed_at: contact.unsubscribed ? new Date() : null,
      })
      .execute();
    contactIds.push(contactId);
  }
  return { orderId: id, contactIds };
}

export async function insertLicense(
  db: Kysely<Database>,
  license: {
    orderId: string;
    type?: 'annual' | 'lifetime';
    expiresOn?: IsoDate | null;
    maintenanceExpiresOn?: IsoDate | null;
    status?: 'active' | 'cancelled';
    key?: string;
    product?: string;
  },
): Promise<string> {
  const id = String(nextId++);
  await db
    .insertInto('licenses')
    .values({
      id,
      order_id: license.orderId,
      license_key: license.key ?? `KEY-${id}`,
      product: license.product ?? 'Dynamic Web TWAIN',
      license_type: license.type ?? 'annual',
      expires_on: license.expiresOn ?? null,
      maintenance_expires_on: license.maintenanceExpiresOn ?? null,
      status: license.status ?? 'active',
    })
    .execute();
  return id;
}
