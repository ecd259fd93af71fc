/** Medians with their spread, and the table the benchmark prints. */

export interface Figure {
  median: number;
  min: number;
  max: number;
  runs: number[];
}

export function figure(runs: number[]): Figure {
  const sorted = [...runs].sort((a, b) => a - b);
  const middle = sorted.length / 2;
  const median = sorted.length % 2 ? (sorted[Math.floor(middle)] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
  return { median, min: sorted[0] ?? NaN, max: sorted[sorted.length - 1] ?? NaN, runs };
}

/** A ratio of two medians, with the range the extreme runs allow (worst over best, best over worst). */
export function ratio(top: Figure, bottom: Figure): Figure {
  return { median: top.median / bottom.median, min: top.min / bottom.max, max: top.max / bottom.min, runs: [] };
}

const format = (value: number, digits: number) =>
  Number.isFinite(value) ? value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : 'n/a';

/** "123 (110–130)": the median, then min–max. */
export function show(f: Figure | undefined, digits = 0): string {
  if (!f) return 'not measured';
  return `${format(f.median, digits)} (${format(f.min, digits)}–${format(f.max, digits)})`;
}

export function printTable(rows: Array<[string, string, string?]>): void {
  const width = Math.max(...rows.map(([label]) => label.length));
  const valueWidth = Math.max(...rows.map(([, value]) => value.length));
  for (const [label, value, note] of rows) console.log(`  ${label.padEnd(width)}  ${value.padStart(valueWidth)}${note ? `  ${note}` : ''}`);
}
