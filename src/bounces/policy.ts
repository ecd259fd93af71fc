import type { BounceType } from '../db/types';

export interface PolicyInput {
  type: BounceType;
  /** Whether the event names a reminder we sent (VERP, Message-ID, or a trusted provider's recipient). */
  matched: boolean;
  /** The address's current suppression reason, if any. */
  suppressed: string | null;
  /** Soft bounces of the address within the window, this one included, since its last unsuppression. */
  softCount: number;
  softLimit: number;
  softWindowDays: number;
  status: string | null;
  diagnostic: string | null;
  channel: string;
  messageId: string | null;
  /** Business date of the event, for the reason text. */
  day: string;
}

export interface PolicyDecision {
  /** Move the message's `sent` rows to `bounced`. */
  bounceRows: boolean;
  /** Suppress the address with this reason (null: leave it). */
  suppress: string | null;
  /** What was done, for the event's record and the log. */
  action: string;
}

const cut = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

/**
 * What a bounce or complaint changes. Only an event that names a reminder we sent acts (a forged
 * or stray report is recorded and changes nothing). A hard bounce marks the message bounced and
 * suppresses the address; soft bounces suppress once SOFT_BOUNCE_LIMIT of them fall within
 * SOFT_BOUNCE_WINDOW_DAYS; a complaint suppresses at once. An address already suppressed keeps
 * its first reason (an operator's, or the first bounce's).
 */
export function decide(input: PolicyInput): PolicyDecision {
  if (!input.matched) return { bounceRows: false, suppress: null, action: 'none: names no reminder we sent' };
  const via = `${input.channel}, ${input.day}${input.messageId ? `, reminder <${input.messageId}>` : ''}`;
  const said = [input.status, input.diagnostic].filter(Boolean).join(' ');
  const suppress = (reason: string) => (input.suppressed === null ? cut(reason, 400) : null);
  const suppressed = (done: string) => (input.suppressed === null ? `${done}; address suppressed` : `${done}; address already suppressed (${input.suppressed})`);
  switch (input.type) {
    case 'hard':
      return { bounceRows: true, suppress: suppress(`hard bounce: ${cut(said || 'permanent failure', 250)} (${via})`), action: suppressed('rows bounced') };
    case 'complaint':
      return { bounceRows: false, suppress: suppress(`complaint: marked as spam (${via})`), action: suppressed('complaint recorded') };
    case 'soft': {
      const counted = `soft bounce ${input.softCount} of ${input.softLimit} within ${input.softWindowDays} days`;
      if (input.softCount < input.softLimit) return { bounceRows: false, suppress: null, action: counted };
      return {
        bounceRows: false,
        suppress: suppress(`${input.softCount} soft bounces within ${input.softWindowDays} days, the last: ${cut(said || 'temporary failure', 200)} (${via})`),
        action: suppressed(counted),
      };
    }
    case 'delay':
      return { bounceRows: false, suppress: null, action: 'none: delivery delayed, the sending server still tries' };
    default:
      return { bounceRows: false, suppress: null, action: 'none: not a bounce or complaint' };
  }
}
