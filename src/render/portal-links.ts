import type { ReminderKind } from '../db/types';

/** Portal deep links; the paths follow the portal's pages named in the renewal FAQ. */
export function portalLinks(portalUrl: string, kind: ReminderKind, licenseKeys: string[]) {
  return {
    renew: `${portalUrl}/license/full-license?renew=${licenseKeys.map(encodeURIComponent).join(',')}`,
    upcomingRenewals: `${portalUrl}/order/upcoming-renewal?tab=${kind === 'license' ? 'annual-license' : 'maintenance'}`,
  };
}
