import { type Kysely, sql } from 'kysely';
import type { Database, IsoDate } from '../db/types';
import { addDays } from '../dates';
import { UserError } from '../user-error';

const PRODUCTS = [
  'Dynamic Web TWAIN',
  'Dynamsoft Barcode Reader',
  'Dynamsoft Document Normalizer',
  'Dynamsoft Label Recognizer',
  'Dynamsoft Capture Vision',
];
const CUSTOMERS = [
  'Acme Logistics GmbH',
  'Blue Harbor Imaging',
  'Northwind Traders',
  'Contoso Pharma',
  'Fabrikam Retail',
  'Globex Scanning Ltd',
  'Initech Archives',
  'Umbrella Health',
  'Stark Document Services',
  'Wayne Records',
  'Tyrell Identity',
  'Soylent Foods & Co',
];
const PEOPLE = ['Alex Meyer', 'Jordan Lee', 'Sam Novak', 'Priya Raman', 'Chen Wei', 'Maria Rossi', 'Jonas Berg', 'Aiko Tanaka'];

export interface DemoDataSummary {
  orders: number;
  contacts: number;
  licenses: number;
  /** Left out by every scan by design (no ledger row), so the demo says so. */
  unsubscribedContacts: number;
  cancelledLicenses: number;
  /** License ids the demo renews part-way through its run (to show a series restarting). */
  renewLater: string[];
}

/** A small deterministic generator, so every demo run shows the same data. */
function seeded(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648;
  };
}

/**
 * Fills the portal's tables with a believable mix relative to `today`: annual and lifetime
 * licenses expiring over the next months, orders with several contacts (one address shared by
 * two orders in different case, one unsubscribed, one that is not an address), cancelled licenses,
 * and licenses that will be renewed during the demo. Refuses to run on a database that has orders.
 */
export async function loadDemoData(db: Kysely<Database>, today: IsoDate): Promise<DemoDataSummary> {
  const existing = await db.selectFrom('orders').select(sql<string>`count(*)`.as('n')).executeTakeFirstOrThrow();
  if (Number(existing.n) > 0) throw new UserError('demo-data: the database already has orders: demo data goes into an empty database only');
  const random = seeded(20261127);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  let orders = 0;
  let contacts = 0;
  let licenses = 0;
  let unsubscribedContacts = 0;
  let cancelledLicenses = 0;
  let firstOrderId: string | null = null;
  const renewLater: string[] = [];

  // Expiry offsets (days from today) chosen so that every reminder offset falls inside a 45-day run.
  const expiryDays = [0, 2, 5, 7, 9, 14, 16, 20, 23, 30, 31, 35, 40, 44, 52, 60, 62, 67, 75, 81, 90, 91, 98, 104, 118, 125, 133];
  for (let i = 0; i < CUSTOMERS.length; i++) {
    const customer = CUSTOMERS[i] as string;
    const orderNumber = `DS-${String(2026_0400 + i * 7)}`;
    const order = await db.insertInto('orders').values({ order_number: orderNumber, customer_name: customer }).returning('id').executeTakeFirstOrThrow();
    orders += 1;
    firstOrderId ??= order.id;
    const domain = customer.toLowerCase().replace(/[^a-z]+/g, '-').replace(/^-|-$/g, '') + '.example';
    const people = 1 + Math.floor(random() * 3);
    for (let p = 0; p < people; p++) {
      const name = pick(PEOPLE);
      const local = name.toLowerCase().replace(' ', '.');
      await db
        .insertInto('order_contacts')
        .values({
          order_id: order.id,
          email: p === 0 && i % 5 === 1 ? `${local[0]?.toUpperCase()}${local.slice(1)}@${domain}` : `${local}@${domain}`,
          name,
          locale: i % 4 === 3 ? 'de' : 'en',
          unsubscribed_at: p === 2 ? new Date() : null,
        })
        .execute();
      contacts += 1;
      if (p === 2) unsubscribedContacts += 1;
    }
    // A purchasing department that buys for two customers: one address on two orders, in different case.
    if (i === 2 || i === 7) {
      await db
        .insertInto('order_contacts')
        .values({ order_id: order.id, email: i === 2 ? 'Purchasing@Reseller.example' : 'purchasing@reseller.example', name: 'Reseller Purchasing', locale: 'en' })
        .execute();
      contacts += 1;
    }
    if (i === 5) {
      await db.insertInto('order_contacts').values({ order_id: order.id, email: 'accounts payable at globex', name: 'Accounts', locale: 'en' }).execute();
      contacts += 1;
    }
    const count = 2 + Math.floor(random() * 4);
    for (let l = 0; l < count; l++) {
      const lifetime = random() < 0.4;
      const expiry = addDays(today, pick(expiryDays));
      const row = await db
        .insertInto('licenses')
        .values({
          order_id: order.id,
          license_key: `t0${Math.floor(random() * 1e8).toString(36).toUpperCase()}-${i}${l}`,
          product: pick(PRODUCTS),
          license_type: lifetime ? 'lifetime' : 'annual',
          expires_on: lifetime ? null : expiry,
          maintenance_expires_on: lifetime ? expiry : null,
          status: l === 3 ? 'cancelled' : 'active',
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      licenses += 1;
      if (l === 3) cancelledLicenses += 1;
      if (l === 1 && i % 3 === 0) renewLater.push(row.id);
    }
  }
  // Expired two days ago and never reminded (say, loaded late): the first scan catches its
  // expiry-day reminder up, as the "has expired, renew through support" email.
  if (firstOrderId !== null) {
    await db
      .insertInto('licenses')
      .values({ order_id: firstOrderId, license_key: 'T0EXPIRED-LATE', product: PRODUCTS[0] as string, license_type: 'annual', expires_on: addDays(today, -2), maintenance_expires_on: null, status: 'active' })
      .execute();
    licenses += 1;
  }
  return { orders, contacts, licenses, unsubscribedContacts, cancelledLicenses, renewLater };
}

/** What a renewal in the portal does: move the expiry date a year on. */
export async function renewLicense(db: Kysely<Database>, licenseId: string): Promise<void> {
  await db
    .updateTable('licenses')
    .set({
      expires_on: sql`case when license_type = 'annual' then expires_on + 365 else expires_on end`,
      maintenance_expires_on: sql`case when license_type = 'lifetime' then maintenance_expires_on + 365 else maintenance_expires_on end`,
    })
    .where('id', '=', licenseId)
    .execute();
}
