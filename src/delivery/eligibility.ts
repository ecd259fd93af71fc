import type { IsoDate, LedgerStatus, ReminderKind } from '../db/types';
import { ON_ITS_WAY } from './transitions';

/**
 * Statuses of a smaller offset of the same series that block a larger one: it went out, may have
 * gone out, or is on its way. `failed` and `skipped` do not block: nothing reached the reader.
 * Derived from the transition table (src/delivery/transitions.ts); the scan, the worker and
 * replay all use it.
 */
export { ON_ITS_WAY };

/** Where each kind's expiry date lives in the portal's `licenses` table, and which license type has it. */
export const EXPIRY_SOURCE = {
  license: { column: 'expires_on', type: 'annual' },
  maintenance: { column: 'maintenance_expires_on', type: 'lifetime' },
} as const satisfies Record<ReminderKind, { column: 'expires_on' | 'maintenance_expires_on'; type: 'annual' | 'lifetime' }>;

/** The reminder being decided: one (item, expiry date, offset, recipient). */
export interface ReminderRef {
  kind: ReminderKind;
  offset: number;
  expiresOn: IsoDate;
  /** An operator's forced re-send: exempt from the series rule, not from the portal's state. */
  forced?: boolean;
}

/** What the portal and the operators say about the item and the address right now. */
export interface PortalState {
  /** The license row, or null when it no longer exists. */
  license: {
    status: string;
    licenseType: string;
    expiresOn: IsoDate | null;
    maintenanceExpiresOn: IsoDate | null;
  } | null;
  /** The order's contacts with this address (case-insensitive): empty when none is left. */
  contacts: ReadonlyArray<{ unsubscribed: boolean }>;
  /** Reason of an operator's hold on the license, if any. */
  hold: string | null;
  /** Reason the address is suppressed (bounces, complaints), if it is. */
  suppression: string | null;
}

/** Another reminder of the same series (item, kind, expiry date, recipient). */
export interface SeriesMember {
  id: string;
  offset: number;
  status: LedgerStatus;
}

export type Eligibility = { send: true } | { send: false; reason: string };

/**
 * May this reminder be sent now? One pure rule for the scan (recording a due reminder), the worker
 * (at send time) and replay: the portal's state first (renewed, cancelled, type changed, held,
 * suppressed, contact gone or unsubscribed), then the series (nothing once a smaller offset of the
 * same expiry is sent or on its way).
 */
export function eligibility(reminder: ReminderRef, portal: PortalState, series: readonly SeriesMember[]): Eligibility {
  const skip = (reason: string): Eligibility => ({ send: false, reason });
  const { license } = portal;
  if (!license) return skip('license no longer exists');
  if (license.status !== 'active') return skip(`cancelled: license status is ${license.status}`);
  const source = EXPIRY_SOURCE[reminder.kind];
  if (license.licenseType !== source.type) return skip(`license type changed to ${license.licenseType}`);
  const expiry = source.column === 'expires_on' ? license.expiresOn : license.maintenanceExpiresOn;
  if (expiry !== reminder.expiresOn) return skip(expiry ? `renewed: expiry moved to ${expiry}` : 'expiry date removed');
  if (portal.hold !== null) return skip(`on hold: ${portal.hold}`);
  if (portal.suppression !== null) return skip(`suppressed: ${portal.suppression}`);
  if (!reminder.forced) {
    const smaller = smallestOnItsWay(reminder.offset, series);
    if (smaller) {
      const which = `the ${smaller.offset}-day reminder${smaller.id ? ` (#${smaller.id})` : ''} of this expiry`;
      return skip(`superseded: ${which} is ${smaller.status === 'sent' ? 'already sent' : smaller.status}`);
    }
  }
  if (portal.contacts.length === 0) return skip('contact no longer on the order');
  if (portal.contacts.every((c) => c.unsubscribed)) return skip('unsubscribed');
  return { send: true };
}

/** The smallest offset below `offset` whose reminder is sent or on its way, if any. */
export function smallestOnItsWay(offset: number, series: readonly SeriesMember[]): SeriesMember | undefined {
  let best: SeriesMember | undefined;
  for (const member of series) {
    if (member.offset >= offset || !ON_ITS_WAY.includes(member.status)) continue;
    if (!best || member.offset < best.offset) best = member;
  }
  return best;
}

/** Key of one series: an item's expiry date, of one kind, for one recipient. */
export const seriesKey = (kind: ReminderKind, licenseId: string, expiresOn: IsoDate, recipient: string) => `${kind}|${licenseId}|${expiresOn}|${recipient}`;
