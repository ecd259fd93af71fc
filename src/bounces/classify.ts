import type { BounceType } from '../db/types';

/** One bounce, complaint or delay, as any channel reports it, before it is matched to a reminder. */
export interface BounceReport {
  type: BounceType;
  /** The address that bounced or complained, when the report says (ARF reports often redact it). */
  recipient: string | null;
  /** Enhanced status code (RFC 3463), e.g. `5.1.1`. */
  status: string | null;
  diagnostic: string | null;
  /** Message-ID of the reminder it is about, without angle brackets. */
  messageId: string | null;
  /** Ledger ids named by verified VERP tokens (first = the message's first row). */
  verpLedgerIds: string[];
  /** ARF Feedback-Type (`abuse`, `fraud`, …) of a complaint. */
  feedbackType?: string | null;
  /** The provider's own id of the event, when it has one. */
  providerEventId?: string | null;
  occurredAt?: Date | null;
}

const ENHANCED = /\b([245])\.(\d{1,3})\.(\d{1,3})\b/;
const BASIC = /(?:^|[^\d.])([245])(\d\d)(?=[\s:-]|$)/m;

/** The enhanced status code in a text (`5.1.1`), or one made from a basic SMTP code (`550` → `5.0.0`). */
export function statusIn(text: string | null | undefined): string | null {
  if (!text) return null;
  const enhanced = ENHANCED.exec(text);
  if (enhanced) return `${enhanced[1]}.${enhanced[2]}.${enhanced[3]}`;
  const basic = BASIC.exec(text);
  if (basic && basic[1] !== '2') return `${basic[1]}.0.0`;
  return null;
}

/** A refusal that says the message or the sender was blocked, not that the address is dead. */
const BLOCK_WORDS = /\b(spam|spamhaus|blocked|blocklist|blacklist|block list|reputation|policy|rbl|dnsbl|dmarc|spf|dkim|rate limit|too many)\b/i;

/**
 * Hard or soft, from the status code and the diagnostic. 5.x.x is hard, 4.x.x soft, with two
 * exceptions a postmaster makes: a full mailbox or an oversized message (5.2.2, 5.2.3) and a block of
 * the sender for spam, policy or reputation (5.7.x saying so) do not mean the address is dead
 * (5.2.1, a disabled mailbox, does),
 * so they count as soft.
 */
export function classifyStatus(status: string | null, diagnostic: string | null, action?: string | null): BounceType {
  const act = action?.trim().toLowerCase();
  if (act === 'delayed') return 'delay';
  if (act === 'delivered' || act === 'relayed' || act === 'expanded') return 'unknown';
  const code = status ?? statusIn(diagnostic);
  if (!code) {
    if (act === 'failed') return looksTemporary(diagnostic) ? 'soft' : 'hard';
    return 'unknown';
  }
  if (code.startsWith('4.')) return 'soft';
  if (code.startsWith('5.')) {
    if (code === '5.2.2' || code === '5.2.3') return 'soft';
    if (code.startsWith('5.7.') && diagnostic && BLOCK_WORDS.test(diagnostic) && !/\b(user|mailbox|recipient|address)\b[^.]*\b(unknown|not exist|invalid|disabled|not found)/i.test(diagnostic)) return 'soft';
    return 'hard';
  }
  return 'unknown';
}

function looksTemporary(text: string | null): boolean {
  return !!text && /\b(temporar|try again|over quota|quota exceeded|mailbox (is )?full|deferred|timed? out)/i.test(text);
}

/** Lower-cased address without angle brackets or an `rfc822;` type, or null when it is not one. */
export function cleanAddress(value: string | null | undefined): string | null {
  if (!value) return null;
  const text = value.replace(/^\s*(rfc822|utf-8)\s*;\s*/i, '').trim();
  const match = /<?([^\s<>@";]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,})>?/.exec(text);
  return match ? (match[1] as string).toLowerCase() : null;
}

/** The receiving domain of an address (`ann@Mail.Example.com` → `mail.example.com`). */
export function domainOf(address: string | null): string | null {
  if (!address) return null;
  const at = address.lastIndexOf('@');
  return at < 0 ? null : address.slice(at + 1).toLowerCase();
}
