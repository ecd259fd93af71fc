import type { IsoDate, ReminderKind, TemplateArm } from '../db/types';

/** One expiring item listed in an email. */
export interface ReminderItem {
  product: string;
  licenseKey: string;
  orderNumber: string;
  customerName: string;
  /** The expiry date as an ISO date; templates format it for the contact's locale. */
  expiresOn: IsoDate;
  /** Calendar days from the reminder's business date to expiry; negative once expired. */
  daysLeft: number;
}

/** Everything a template may use. Built by the worker (or sample data) and escaped by the renderer. */
export interface ReminderEmailInput {
  kind: ReminderKind;
  /** The offset this reminder was scheduled for: 90, 60, 30, 14, 7 or 0 (or any configured one). */
  offset: number;
  /** True for the expiry-day reminder sent after the expiry date (catch-up): the "expired-late" copy. */
  expired: boolean;
  /** Smallest days-left among the items (the true figure, also when sent late). */
  daysLeft: number;
  locale: string;
  contactName: string | null;
  recipient: string;
  items: ReminderItem[];
  links: {
    /** Portal "License - Full License" with every listed key pre-selected (renew now / renew selected). */
    renew: string;
    /** Portal "Order - Upcoming Renewal", on the tab for this kind. */
    upcomingRenewals: string;
    /** One-click unsubscribe page for this recipient. */
    unsubscribe: string;
  };
  salesEmail: string;
  supportEmail: string;
}

export interface RenderedEmail {
  subject: string;
  html: string;
  text: string;
  /** Short hash of the template files used: recorded in the ledger with each send. */
  templateVersion: string;
  /** The copy experiment's arm, when rendered from a published version. */
  arm?: TemplateArm;
  /** The locale of the published variant used (after fallback), when rendered from one. */
  templateLocale?: string;
}

/** A template that cannot be compiled or filled. Permanent: the reminders wait as `failed`. */
export class TemplateError extends Error {
  override name = 'TemplateError';
}

export interface Renderer {
  /** Renders one email; throws TemplateError when the template is broken. */
  render(input: ReminderEmailInput): Promise<RenderedEmail>;
  /** Stops watching template files, if it does. */
  close(): Promise<void>;
}
