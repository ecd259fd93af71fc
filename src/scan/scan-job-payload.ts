import { z } from 'zod';

/** Job name of the daily scan, on the scan queue. */
export const DAILY_SCAN_JOB = 'daily-scan';

/** `date` is set for an explicit scan; the scheduler's jobs leave it out and scan the day they fired. */
export const dailyScanPayload = z.object({
  date: z
    .string()
    .regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date like 2027-05-03')
    .optional(),
});

export type DailyScanData = z.infer<typeof dailyScanPayload>;
