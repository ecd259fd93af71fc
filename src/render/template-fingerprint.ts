import { createHash } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';

/**
 * A short hash of every file's name, size and modification time under the templates folder:
 * changes whenever any template is saved. The preview polls it to reload its page.
 */
export function templatesFingerprint(dir: string): string {
  const hash = createHash('sha256');
  const walk = (folder: string, depth: number) => {
    let names: string[];
    try {
      names = readdirSync(folder).sort();
    } catch {
      hash.update(`missing:${folder}`);
      return;
    }
    for (const name of names) {
      if (name.startsWith('.')) continue;
      const absolute = path.join(folder, name);
      const stat = statSync(absolute, { throwIfNoEntry: false });
      if (!stat) continue;
      if (stat.isDirectory()) {
        if (depth < 8) walk(absolute, depth + 1);
      } else {
        hash.update(`${path.relative(dir, absolute)}\0${stat.size}\0${stat.mtimeMs}\0`);
      }
    }
  };
  walk(dir, 0);
  return hash.digest('hex').slice(0, 12);
}
