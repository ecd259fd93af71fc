import { InvalidArgumentError, Option } from 'commander';
import { REMINDER_KINDS, type ReminderKind } from '../db/types';
import { parseIsoDate } from '../dates';

/** commander option parsers: a bad value becomes one line naming the option. */
export function dateOption(value: string): string {
  try {
    return parseIsoDate(value);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

export function positiveIntOption(max: number) {
  return (value: string): number => {
    if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > max) {
      throw new InvalidArgumentError(`expected a whole number from 1 to ${max}, got "${value}"`);
    }
    return Number(value);
  };
}

export function nonNegativeIntOption(max: number) {
  return (value: string): number => {
    if (!/^\d+$/.test(value) || Number(value) > max) {
      throw new InvalidArgumentError(`expected a whole number from 0 to ${max}, got "${value}"`);
    }
    return Number(value);
  };
}

/**
 * The reminder kind, under either of its names: the ledger says `license` and `maintenance`, the
 * template folders, the docs and marketing say `annual` (and `lifetime` for the maintenance of a
 * lifetime license). Both are accepted, so nobody has to know the mapping.
 */
const KIND_NAMES: Record<string, ReminderKind> = { license: 'license', annual: 'license', maintenance: 'maintenance', lifetime: 'maintenance' };

export function kindArg(value: string): ReminderKind {
  const kind = KIND_NAMES[value.trim().toLowerCase()];
  if (!kind) throw new InvalidArgumentError(`expected annual (or license) or maintenance (or lifetime), got "${value}"`);
  return kind;
}

/** `--kind`, the same option everywhere it appears. */
export function kindOption(description = `annual (alias license): annual licenses; maintenance (alias lifetime): the support & maintenance of lifetime licenses`): Option {
  return new Option('--kind <kind>', description).argParser(kindArg);
}

export const KIND_NAMES_HELP = `${REMINDER_KINDS.join(', ')} (or the template families annual, maintenance)`;

/**
 * An address to look up in the ledger: lenient (trimmed, case-insensitive), since the ledger also
 * records the addresses that could not be delivered, such as "accounts payable at globex".
 */
export function lookupAddressArg(value: string): string {
  const address = value.trim().toLowerCase();
  if (address === '') throw new InvalidArgumentError('the address must not be empty');
  return address;
}
