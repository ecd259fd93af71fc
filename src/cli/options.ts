import { InvalidArgumentError } from 'commander';
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
