import path from 'node:path';

/** One thing wrong with a template, located in a file under the templates folder. */
export interface TemplateProblem {
  /** Path relative to the templates folder, with forward slashes, e.g. `annual/en.mjml`. */
  file: string;
  /** 1-based line in that file (0 when the problem concerns the whole file). */
  line: number;
  message: string;
  /** Set when a slot found no block: `validate` reports every such slot once, at the copy file. */
  missingBlock?: { name: string; searched: readonly string[] };
}

/** `templates/annual/en.mjml:12: message`, the file shown relative to the working directory. */
export function formatProblem(problem: TemplateProblem, templatesDir: string): string {
  const absolute = path.join(templatesDir, problem.file);
  const shown = path.relative(process.cwd(), absolute);
  const display = shown && !shown.startsWith('..') ? shown : absolute;
  return `${display.split(path.sep).join('/')}:${problem.line}: ${problem.message}`;
}

/** Each problem once: the same line can be reached through several variants. */
export function dedupe(problems: TemplateProblem[]): TemplateProblem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const key = `${p.file}:${p.line}:${p.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
