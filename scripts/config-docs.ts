/**
 * Writes docs/configuration.md from the configuration schema of src/config.ts, where each
 * variable is registered with its documentation: `npm run docs:config`. A unit test
 * (test/unit/config-docs.test.ts) fails when the file is not what this would write.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { CONFIG_SECTIONS, type ConfigVariable, configVariables } from '../src/config';

export const CONFIGURATION_DOC = path.resolve(__dirname, '../docs/configuration.md');

/** Variables read by `npm run demo` (scripts/demo.ts) or docker-compose.yml, not by the service: listed at the end. */
export const DEMO_VARIABLES: Record<string, { default: string; description: string }> = {
  CONSOLE_ADMIN_PASSWORD: {
    default: '`local-only-console-password`',
    description: 'read by docker-compose.yml only: the password of the console account `admin` it creates on first start (12 characters or more).',
  },
  DEMO_DATABASE_URL: {
    default: '`DATABASE_URL` with the database `reminders_demo`',
    description: 'Database the demo drops, creates and fills on every run. Never point it at real data.',
  },
  DEMO_QUEUE_PREFIX: {
    default: '`reminders-demo`',
    description: "Queue prefix of the demo, so that its jobs never mix with a running daemon's.",
  },
};

const anchor = (name: string) => name.toLowerCase();
const code = (value: string) => (value === '' ? 'empty' : `\`${value}\``);
const defaultOf = (variable: ConfigVariable) => variable.doc?.default ?? code(variable.default);

function entry(variable: ConfigVariable): string {
  const doc = variable.doc;
  if (!doc) throw new Error(`${variable.name} has no documentation: register it with variableDocs in src/config.ts`);
  const lines = [`### \`${variable.name}\``, '', doc.description, '', `- Default: ${defaultOf(variable)}`];
  if (doc.production) lines.push(`- Production: ${doc.production}`);
  return lines.join('\n');
}

/** docs/configuration.md as the schema says it should read. */
export function configurationReference(): string {
  const variables = configVariables();
  const undocumented = variables.filter((variable) => !variable.doc).map((variable) => variable.name);
  if (undocumented.length > 0) throw new Error(`undocumented variables: ${undocumented.join(', ')}: register each with variableDocs in src/config.ts`);
  const parts = [
    '# Configuration reference',
    '',
    '<!-- Generated from the schema in src/config.ts by `npm run docs:config`: edit the schema, not this file. -->',
    '',
    'Every setting of the service, for whoever deploys or runs it: what each variable is for, its',
    'default, and what to set in production. The service reads them from the environment and from a',
    '`.env` file in the working directory (the environment wins); an empty value means the default.',
    'Every value is checked at start, and a bad one stops the process with one line naming the',
    'variable. [.env.example](../.env.example) is a commented `.env` to copy; [Production](production.md)',
    'says how the settings fit together in a deployment.',
    '',
    '| variable | default |',
    '|---|---|',
    ...variables.map((variable) => `| [\`${variable.name}\`](#${anchor(variable.name)}) | ${defaultOf(variable)} |`),
  ];
  for (const section of CONFIG_SECTIONS) {
    const inSection = variables.filter((variable) => variable.doc?.section === section);
    if (inSection.length === 0) continue;
    parts.push('', `## ${section}`, '', inSection.map(entry).join('\n\n'));
  }
  parts.push('', '## The demo and docker compose', '', '`npm run demo` and docker-compose.yml read the variables above, and these of their own:', '');
  for (const [name, demo] of Object.entries(DEMO_VARIABLES)) parts.push(`- \`${name}\` (default: ${demo.default}): ${demo.description}`);
  return `${parts.join('\n')}\n`;
}

if (require.main === module) {
  writeFileSync(CONFIGURATION_DOC, configurationReference());
  console.log(`wrote ${path.relative(process.cwd(), CONFIGURATION_DOC)} (${configVariables().length} variables)`);
}
