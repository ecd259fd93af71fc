import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { Config } from '../config';
import type { IsoDate, ReminderKind } from '../db/types';
import { addDays, businessDate } from '../dates';
import { portalLinks } from './portal-links';
import { unsubscribeUrl } from '../unsubscribe/token';
import { type ReminderEmailInput, TemplateError } from './types';

export const SAMPLE_DATA_FILE = 'sample-data.json';

/** Days past expiry used for the expired-late sample (a catch-up sends it within CATCHUP_DAYS). */
export const SAMPLE_DAYS_EXPIRED = -2;

const sampleSchema = z.object({
  today: z
    .string()
    .regex(/^(\d{4}-\d{2}-\d{2})?$/, 'must be empty or a date like 2026-06-01')
    .optional(),
  contactName: z.string().nullable().optional(),
  recipient: z.string().min(3).default('customer@example.com'),
  items: z
    .array(
      z.object({
        product: z.string(),
        licenseKey: z.string(),
        orderNumber: z.string(),
        customerName: z.string(),
      }),
    )
    .min(1, 'needs at least one item'),
});

export type SampleData = z.infer<typeof sampleSchema>;

/** Reads `sample-data.json` of a templates folder; a broken file is a TemplateError naming it. */
export function loadSampleData(templatesDir: string): SampleData {
  const file = path.join(templatesDir, SAMPLE_DATA_FILE);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new TemplateError(`${file}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const parsed = sampleSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new TemplateError(`${file}: ${issue?.path.join('.') || 'file'} ${issue?.message ?? 'is invalid'}`);
  }
  return parsed.data;
}

export interface SampleOptions {
  kind: ReminderKind;
  offset: number;
  expired?: boolean;
  locale?: string;
  /** Days left to show; defaults to the offset (or a few days past expiry when expired). */
  daysLeft?: number;
  /** Business date the items are counted from; defaults to the file's `today`, else the real today. */
  today?: IsoDate;
  /** Only the first n items (1 shows the single-license wording). */
  itemCount?: number;
  recipient?: string;
}

type LinkConfig = Pick<Config, 'portalUrl' | 'publicUrl' | 'unsubscribeSecret' | 'salesEmail' | 'supportEmail' | 'timezone'>;

/** A complete email input from sample data, with links built exactly as the send worker builds them. */
export function sampleInput(config: LinkConfig, sample: SampleData, options: SampleOptions): ReminderEmailInput {
  const expired = options.expired ?? false;
  const daysLeft = options.daysLeft ?? (expired ? SAMPLE_DAYS_EXPIRED : options.offset);
  const today = options.today ?? (sample.today || businessDate(new Date(), config.timezone));
  const expiresOn = addDays(today, daysLeft);
  const picked = sample.items.slice(0, Math.max(1, options.itemCount ?? sample.items.length));
  const items = picked.map((item) => ({ ...item, expiresOn, daysLeft }));
  const recipient = options.recipient ?? sample.recipient;
  return {
    kind: options.kind,
    offset: expired ? 0 : options.offset,
    expired,
    daysLeft,
    locale: options.locale ?? 'en',
    contactName: sample.contactName ?? null,
    recipient,
    items,
    links: {
      ...portalLinks(config.portalUrl, options.kind, items.map((i) => i.licenseKey)),
      unsubscribe: unsubscribeUrl(config.publicUrl, recipient, config.unsubscribeSecret),
    },
    salesEmail: config.salesEmail,
    supportEmail: config.supportEmail,
  };
}
