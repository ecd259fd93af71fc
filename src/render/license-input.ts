import { type Kysely, sql } from 'kysely';
import type { Config } from '../config';
import type { Database, ReminderKind } from '../db/types';
import { addDays } from '../dates';
import { UserError } from '../user-error';
import { unsubscribeUrl } from '../unsubscribe/token';
import { portalLinks } from './portal-links';
import { SAMPLE_DAYS_EXPIRED } from './sample-data';
import type { ReminderEmailInput } from './types';

type LinkConfig = Pick<Config, 'portalUrl' | 'publicUrl' | 'unsubscribeSecret' | 'salesEmail' | 'supportEmail'>;

export interface LicenseInputOptions {
  kind: ReminderKind;
  offset: number;
  expired?: boolean;
  /** The contact's locale unless given. */
  locale?: string;
}

/** The email a real license's first contact would get for this reminder, read from the portal tables. */
export async function licenseInput(db: Kysely<Database>, config: LinkConfig, key: string, options: LicenseInputOptions): Promise<{ input: ReminderEmailInput; sentOn: string }> {
  const offset = options.offset;
  const license = await db
    .selectFrom('licenses')
    .innerJoin('orders', 'orders.id', 'licenses.order_id')
    .select([
      'licenses.order_id',
      'licenses.license_key',
      'licenses.product',
      'licenses.license_type',
      'licenses.expires_on',
      'licenses.maintenance_expires_on',
      'orders.order_number',
      'orders.customer_name',
    ])
    .where('licenses.license_key', '=', key)
    .orderBy('licenses.id')
    .executeTakeFirst();
  if (!license) throw new UserError(`no license with key "${key}"`);
  const expected = options.kind === 'license' ? 'annual' : 'lifetime';
  if (license.license_type !== expected) {
    throw new UserError(`license "${key}" is ${license.license_type}: use --kind ${license.license_type === 'annual' ? 'license' : 'maintenance'}`);
  }
  const expiresOn = options.kind === 'license' ? license.expires_on : license.maintenance_expires_on;
  if (!expiresOn) throw new UserError(`license "${key}" has no ${options.kind === 'license' ? 'expires_on' : 'maintenance_expires_on'} date: it gets no reminders`);
  const contact = await db
    .selectFrom('order_contacts')
    .select(['email', 'name', 'locale'])
    .where('order_id', '=', license.order_id)
    .orderBy(sql<boolean>`unsubscribed_at is null`, 'desc')
    .orderBy('id')
    .executeTakeFirst();
  const daysLeft = options.expired ? SAMPLE_DAYS_EXPIRED : offset;
  const recipient = contact?.email ?? 'customer@example.com';
  const items = [
    {
      product: license.product,
      licenseKey: license.license_key,
      orderNumber: license.order_number,
      customerName: license.customer_name,
      expiresOn,
      daysLeft,
    },
  ];
  return {
    sentOn: addDays(expiresOn, -daysLeft),
    input: {
      kind: options.kind,
      offset: options.expired ? 0 : offset,
      expired: options.expired ?? false,
      daysLeft,
      locale: options.locale ?? contact?.locale ?? 'en',
      contactName: contact?.name ?? null,
      recipient,
      items,
      links: {
        ...portalLinks(config.portalUrl, options.kind, [license.license_key]),
        unsubscribe: unsubscribeUrl(config.publicUrl, recipient, config.unsubscribeSecret),
      },
      salesEmail: config.salesEmail,
      supportEmail: config.supportEmail,
    },
  };
}

