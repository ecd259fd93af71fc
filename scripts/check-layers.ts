/**
 * Import cycles between folders: `madge --circular` finds them between files; this finds them
 * between the folders of src/ (and jobs/), where a file cycle can hide as two one-way imports.
 * Each top-level file of src/ counts as a folder of its own. Exits 1 naming each cycle.
 */
import madge from 'madge';

const unitOf = (file: string): string => {
  const parts = file.split('/');
  if (parts[0] === 'jobs') return 'jobs';
  return parts.length > 2 ? `src/${parts[1]}/` : file;
};

async function main(): Promise<void> {
  const result = await madge(['src', 'jobs'], { fileExtensions: ['ts'], tsConfig: 'tsconfig.json' });
  const edges = new Map<string, Set<string>>();
  for (const [file, deps] of Object.entries(result.obj())) {
    for (const dep of deps) {
      const from = unitOf(file);
      const to = unitOf(dep);
      if (from === to) continue;
      if (!edges.has(from)) edges.set(from, new Set());
      edges.get(from)!.add(to);
    }
  }
  const cycles = findCycles(edges);
  if (cycles.length > 0) {
    for (const cycle of cycles) console.error(`folder import cycle: ${cycle.join(' → ')}`);
    process.exit(1);
  }
  console.log(`no import cycles between ${new Set([...edges.keys(), ...[...edges.values()].flatMap((s) => [...s])]).size} folders and top-level files`);
}

/** Every elementary cycle found by a depth-first search from each node (reported once each). */
function findCycles(edges: Map<string, Set<string>>): string[][] {
  const found = new Map<string, string[]>();
  const visit = (node: string, path: string[]) => {
    for (const next of edges.get(node) ?? []) {
      const at = path.indexOf(next);
      if (at >= 0) {
        const cycle = path.slice(at);
        const key = [...cycle].sort().join('|');
        if (!found.has(key)) found.set(key, [...cycle, next]);
      } else if (path.length < 12) {
        visit(next, [...path, next]);
      }
    }
  };
  for (const node of edges.keys()) visit(node, [node]);
  return [...found.values()];
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(2);
});
