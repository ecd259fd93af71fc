import { existsSync } from 'node:fs';
import path from 'node:path';

/** The editor's browser code, beside this file in src/ (also when running the built dist/). */
function entryPoint(): string {
  const name = path.join('client', 'editor.client.js');
  const candidates = [path.join(__dirname, name), path.resolve(__dirname, '../../../src/console', name)];
  const found = candidates.find((candidate) => existsSync(candidate));
  if (!found) throw new Error(`the template editor's browser code is missing (looked for ${candidates.join(', ')})`);
  return found;
}

let bundled: Promise<string> | undefined;

/**
 * The template editor's script: CodeMirror 6 and the editor's own code, bundled by esbuild from
 * node_modules the first time the console serves it (about a second), then kept in memory. No CDN
 * and no network: what the browser runs is what `npm ci` installed.
 */
export function editorBundle(): Promise<string> {
  bundled ??= import('esbuild')
    .then((esbuild) =>
      esbuild.build({ entryPoints: [entryPoint()], bundle: true, write: false, format: 'iife', minify: true, target: 'es2020', legalComments: 'none', logLevel: 'silent' }),
    )
    .then((result) => result.outputFiles[0]!.text);
  // A failed build is not kept: the next request tries again.
  bundled.catch(() => {
    bundled = undefined;
  });
  return bundled;
}
