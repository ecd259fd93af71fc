// Kept apart from prune.ts so that the command line can parse the option without loading kysely.

/** How far back `--older-than` reaches: a number of calendar days, weeks, months or years. */
export interface Age {
  amount: number;
  unit: 'days' | 'weeks' | 'months' | 'years';
}

const UNITS: Record<string, Age['unit']> = { d: 'days', w: 'weeks', m: 'months', y: 'years' };

/** Parses `400d`, `8w`, `18m` or `2y`; throws a user-readable error otherwise. */
export function parseAge(value: string): Age {
  const match = /^(\d{1,5})([dwmy])$/.exec(value.trim());
  const unit = match && UNITS[match[2] as string];
  if (!match || !unit) throw new Error(`"${value}" is not an age: write a number and d, w, m or y (400d, 18m, 2y)`);
  return { amount: Number(match[1]), unit };
}
