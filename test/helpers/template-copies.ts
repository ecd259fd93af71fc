import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** The shipped templates folder. */
export const TEMPLATES = path.resolve(__dirname, '../../templates');

/**
 * Returns a function that copies the shipped templates into a fresh `…/templates` folder that a
 * test may break at will; every copy is removed after the file's tests.
 */
export function useTemplateCopies(): () => string {
  const parents: string[] = [];
  afterAll(() => {
    for (const parent of parents) rmSync(parent, { recursive: true, force: true });
  });
  return () => {
    const parent = mkdtempSync(path.join(os.tmpdir(), 'templates-copy-'));
    parents.push(parent);
    const dir = path.join(parent, 'templates');
    cpSync(TEMPLATES, dir, { recursive: true });
    return dir;
  };
}

/** Rewrites a file; an edit that changes nothing is a broken test, so it throws. */
export function editFile(file: string, change: (text: string) => string): void {
  const before = readFileSync(file, 'utf8');
  const after = change(before);
  if (after === before) throw new Error(`edit of ${file} changed nothing`);
  writeFileSync(file, after);
}
