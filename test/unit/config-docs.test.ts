import { readFileSync } from 'node:fs';
import path from 'node:path';
import { CONFIGURATION_DOC, configurationReference, DEMO_VARIABLES } from '../../scripts/config-docs';
import { configVariables } from '../../src/config';

const ENV_EXAMPLE = readFileSync(path.resolve(__dirname, '../../.env.example'), 'utf8');
/** `# NAME=value` (or `NAME=value`) lines of .env.example: the example value of each variable. */
const examples = new Map([...ENV_EXAMPLE.matchAll(/^#? ?([A-Z][A-Z0-9_]*)=(.*)$/gm)].map((match) => [match[1] as string, (match[2] as string).trim()]));

describe('the configuration reference', () => {
  it('documents every variable of the schema', () => {
    expect(configVariables().filter((variable) => !variable.doc).map((variable) => variable.name)).toEqual([]);
  });

  it('docs/configuration.md is what `npm run docs:config` writes from the schema (run it after changing a variable)', () => {
    expect(readFileSync(CONFIGURATION_DOC, 'utf8')).toBe(configurationReference());
  });
});

describe('.env.example', () => {
  it('shows every variable of the schema', () => {
    expect(configVariables().filter((variable) => !examples.has(variable.name)).map((variable) => variable.name)).toEqual([]);
  });

  it("shows each variable's default as its example value (or leaves it empty)", () => {
    const disagreeing = configVariables()
      .filter((variable) => variable.doc?.default === undefined)
      .filter((variable) => ![variable.default, ''].includes(examples.get(variable.name) ?? ''))
      .map((variable) => `${variable.name}: ${examples.get(variable.name)} in .env.example, ${variable.default} in the schema`);
    expect(disagreeing).toEqual([]);
  });

  it('shows no variable that nothing reads', () => {
    const known = new Set([...configVariables().map((variable) => variable.name), ...Object.keys(DEMO_VARIABLES)]);
    expect([...examples.keys()].filter((name) => !known.has(name))).toEqual([]);
  });
});
