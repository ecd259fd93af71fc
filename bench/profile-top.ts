/**
 * Reads `.cpuprofile` files (from `node --cpu-prof`) and prints the functions with the most self
 * time, and the same grouped by package: where a process spends its CPU, before changing anything.
 *
 *   npx tsx bench/profile-top.ts profiles/*.cpuprofile [--top 25]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  children?: number[];
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '25' }, callers: { type: 'string' } } });
const top = Number(values.top);

function packageOf(url: string): string {
  if (!url) return '(native / idle / gc)';
  const modules = url.lastIndexOf('node_modules/');
  if (modules >= 0) {
    const rest = url.slice(modules + 'node_modules/'.length).split('/');
    return rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : (rest[0] ?? url);
  }
  if (url.startsWith('node:')) return 'node core';
  const src = /\/(src|jobs|bench|dist)\/(.*)$/.exec(url);
  return src ? `ours: ${src[1]}/${src[2]?.split('/')[0]}` : url;
}

/** `--callers writev`: whose code (first frame outside node core) the time of that function is spent for. */
const callers = new Map<string, number>();
const self = new Map<string, number>();
const byPackage = new Map<string, number>();
let total = 0;
let idle = 0;
for (const file of positionals) {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, ProfileNode>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n);
  profile.samples.forEach((id, i) => {
    const node = byId.get(id);
    const micros = profile.timeDeltas[i] ?? 0;
    if (!node) return;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)' || functionName === '(program)') {
      if (functionName === '(idle)') idle += micros;
      return;
    }
    total += micros;
    const short = url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*?\/(src|jobs|bench|dist)\//, '$1/');
    const key = `${functionName || '(anonymous)'}  ${short}:${lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + micros);
    if (values.callers && functionName === values.callers) {
      let up = parent.get(node.id);
      while (up && ['node core', '(native / idle / gc)'].includes(packageOf(up.callFrame.url))) up = parent.get(up.id);
      const who = up ? `${packageOf(up.callFrame.url)} ${up.callFrame.functionName}` : '(root)';
      callers.set(who, (callers.get(who) ?? 0) + micros);
    }
    const pkg = packageOf(url);
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + micros);
  });
}

const pct = (micros: number) => `${((100 * micros) / total).toFixed(1).padStart(5)} %`;
console.log(`${positionals.length} profile(s): ${(total / 1e6).toFixed(2)} s busy, ${(idle / 1e6).toFixed(2)} s idle (${((100 * total) / (total + idle)).toFixed(0)} % busy)\n`);
console.log('self time by package');
for (const [pkg, micros] of [...byPackage].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`  ${pct(micros)}  ${pkg}`);
console.log(`\ntop ${top} functions by self time`);
for (const [key, micros] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${pct(micros)}  ${key}`);
if (values.callers) {
  console.log(`\nwho calls ${values.callers} (first frame outside node core)`);
  for (const [who, micros] of [...callers].sort((a, b) => b[1] - a[1]).slice(0, 10)) console.log(`  ${pct(micros)}  ${who}`);
}
