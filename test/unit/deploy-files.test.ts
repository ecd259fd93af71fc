import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseDocument } from 'yaml';
import {
  checkCompose,
  checkDeployFiles,
  checkDockerfile,
  checkDockerignore,
  checkEnvExample,
  cliCommands,
  interpolations,
  isDockerignored,
  npmScriptsRun,
} from '../../scripts/check-deploy';

const ROOT = path.resolve(__dirname, '../..');
/** What the checks read, plus what the Dockerfile COPYs from the build context. */
const INPUTS = ['Dockerfile', '.dockerignore', 'docker-compose.yml', '.env.example', 'package.json', 'package-lock.json', 'src/cli', 'src/config.ts', 'templates'];

const temps: string[] = [];

/** A copy of the deployment inputs in a temp dir, with `edit` applied to it. */
function brokenCopy(edit: (dir: string) => void): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'deploy-files-'));
  temps.push(dir);
  for (const input of INPUTS) {
    const from = path.join(ROOT, input);
    if (existsSync(from)) cpSync(from, path.join(dir, input), { recursive: true });
  }
  edit(dir);
  return dir;
}

function editCompose(dir: string, change: (doc: ReturnType<typeof parseDocument>) => void): void {
  const file = path.join(dir, 'docker-compose.yml');
  const doc = parseDocument(readFileSync(file, 'utf8'), { merge: true });
  change(doc);
  writeFileSync(file, String(doc));
}

function editText(dir: string, file: string, from: string | RegExp, to: string): void {
  const full = path.join(dir, file);
  const before = readFileSync(full, 'utf8');
  const after = before.replace(from, to);
  if (after === before) throw new Error(`the test's edit of ${file} matched nothing: ${String(from)}`);
  writeFileSync(full, after);
}

/** Problems the broken copy has that an untouched copy has not: exactly what the edit broke. */
function newProblems(dir: string): string[] {
  const baseline = new Set(checkDeployFiles(brokenCopy(() => undefined)));
  return checkDeployFiles(dir).filter((problem) => !baseline.has(problem));
}

afterAll(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

describe('deployment files', () => {
  it('agree with each other and with the code', () => {
    expect(checkDockerignore(ROOT)).toEqual([]);
    expect(checkDockerfile(ROOT)).toEqual([]);
    expect(checkCompose(ROOT)).toEqual([]);
    expect(checkEnvExample(ROOT)).toEqual([]);
  });

  it('an untouched copy is as good as the original', () => {
    expect(checkDeployFiles(brokenCopy(() => undefined))).toEqual(checkDeployFiles(ROOT));
  });

  it('reports a depends_on to a service that does not exist', () => {
    const dir = brokenCopy((d) =>
      editCompose(d, (doc) => doc.setIn(['services', 'reminders', 'depends_on', 'smtp-relay'], doc.createNode({ condition: 'service_started' }))),
    );
    expect(newProblems(dir)).toEqual([expect.stringMatching(/services\.reminders\.depends_on\.smtp-relay: no service named "smtp-relay"/)]);
  });

  it('reports an unknown depends_on condition', () => {
    const dir = brokenCopy((d) => editCompose(d, (doc) => doc.setIn(['services', 'migrate', 'depends_on', 'postgres', 'condition'], 'service_ready')));
    expect(newProblems(dir)).toEqual([expect.stringMatching(/services\.migrate\.depends_on\.postgres\.condition: must be one of service_started/)]);
  });

  it('reports a healthcheck without a test', () => {
    const dir = brokenCopy((d) => editCompose(d, (doc) => doc.deleteIn(['services', 'postgres', 'healthcheck', 'test'])));
    const problems = newProblems(dir);
    expect(problems).toContainEqual(expect.stringMatching(/services\.postgres\.healthcheck\.test: is required/));
  });

  it('reports a malformed healthcheck test and a bad duration', () => {
    const dir = brokenCopy((d) =>
      editCompose(d, (doc) => {
        doc.setIn(['services', 'redis', 'healthcheck', 'test'], doc.createNode(['redis-cli', 'ping']));
        doc.setIn(['services', 'redis', 'healthcheck', 'interval'], 'five seconds');
      }),
    );
    const problems = newProblems(dir);
    expect(problems).toContainEqual(expect.stringMatching(/services\.redis\.healthcheck\.test: list form must start with CMD, CMD-SHELL or NONE/));
    expect(problems).toContainEqual(expect.stringMatching(/services\.redis\.healthcheck\.interval: must be a duration/));
  });

  it('reports service_healthy on a service with its healthcheck disabled', () => {
    const dir = brokenCopy((d) => editCompose(d, (doc) => doc.setIn(['services', 'redis', 'healthcheck'], doc.createNode({ disable: true }))));
    expect(newProblems(dir)).toEqual([expect.stringMatching(/services\.reminders\.depends_on\.redis: service_healthy, but redis has no healthcheck/)]);
  });

  it('reports an npm script the Dockerfile runs that package.json does not have', () => {
    const dir = brokenCopy((d) => editText(d, 'Dockerfile', 'RUN npm run build', 'RUN npm run build:prod'));
    expect(newProblems(dir)).toEqual([expect.stringMatching(/^Dockerfile:\d+: npm run build:prod: no such script in package\.json$/)]);
  });

  it('reports a compose command that is not a CLI command', () => {
    const dir = brokenCopy((d) => editCompose(d, (doc) => doc.setIn(['services', 'migrate', 'command'], doc.createNode(['migrations']))));
    expect(newProblems(dir)).toEqual([expect.stringMatching(/services\.migrate\.command: migrations: no such CLI command in src\/cli/)]);
  });

  it('reports a service without image or build, and an unquoted port', () => {
    const dir = brokenCopy((d) =>
      editCompose(d, (doc) => {
        doc.deleteIn(['services', 'mailpit', 'image']);
        doc.setIn(['services', 'mailpit', 'ports', 0], 8025);
      }),
    );
    expect(newProblems(dir)).toEqual([
      'docker-compose.yml: services.mailpit: needs image or build',
      expect.stringMatching(/services\.mailpit\.ports\.0: must be a quoted string/),
    ]);
  });

  it('reports a required service that is missing', () => {
    const dir = brokenCopy((d) => editCompose(d, (doc) => doc.deleteIn(['services', 'demo-data'])));
    expect(newProblems(dir)).toEqual([expect.stringMatching(/services\.demo-data: missing/)]);
  });

  it('reports a ${VAR} that .env.example does not list, and an environment key the service does not read', () => {
    const dir = brokenCopy((d) =>
      editCompose(d, (doc) => {
        doc.setIn(['services', 'reminders', 'ports', 0], '127.0.0.1:${REMINDERS_PORT:-8080}:8080');
        doc.setIn(['services', 'migrate', 'environment'], doc.createNode({ SMTP_ULR: 'smtp://mailpit:1025' }));
      }),
    );
    const problems = newProblems(dir);
    expect(problems).toEqual([
      expect.stringMatching(/^docker-compose\.yml: line \d+: \$\{REMINDERS_PORT\} is not listed in \.env\.example$/),
      expect.stringMatching(/^docker-compose\.yml: environment SMTP_ULR \(migrate\): not a variable documented in \.env\.example/),
    ]);
  });

  it('reports a one-shot dependency that restarts forever and a default service depending on a profile', () => {
    const dir = brokenCopy((d) =>
      editCompose(d, (doc) => {
        doc.setIn(['services', 'migrate', 'restart'], 'always');
        doc.setIn(['services', 'reminders', 'depends_on', 'demo-data'], doc.createNode({ condition: 'service_completed_successfully' }));
      }),
    );
    const problems = newProblems(dir);
    expect(problems).toContainEqual(expect.stringMatching(/depends_on\.migrate: service_completed_successfully, but migrate has restart: always/));
    expect(problems).toContainEqual(expect.stringMatching(/services\.reminders\.depends_on\.demo-data: demo-data only runs under profiles demo/));
  });

  it('reports a runtime stage whose npm ci would run prepare, and a root user', () => {
    const dir = brokenCopy((d) => {
      editText(d, 'Dockerfile', 'npm ci --omit=dev --ignore-scripts', 'npm ci --omit=dev');
      editText(d, 'Dockerfile', /^USER node$/m, 'USER root');
    });
    const problems = newProblems(dir);
    expect(problems).toContainEqual(expect.stringMatching(/runtime stage npm ci runs install scripts/));
    expect(problems).toContainEqual(expect.stringMatching(/USER root: runs as root/));
  });

  it('reports a .dockerignore that lets node_modules into the context', () => {
    const dir = brokenCopy((d) => editText(d, '.dockerignore', /^node_modules$/m, ''));
    expect(newProblems(dir)).toEqual(['.dockerignore: does not exclude node_modules']);
  });

  it('reports a configuration variable that .env.example does not document', () => {
    const dir = brokenCopy((d) => editText(d, '.env.example', /^# LOG_LEVEL=info$/m, ''));
    expect(newProblems(dir)).toEqual([
      expect.stringMatching(/^docker-compose\.yml: line \d+: \$\{LOG_LEVEL\} is not listed in \.env\.example$/),
      'docker-compose.yml: environment LOG_LEVEL (migrate, console-admin, reminders, demo-data): not a variable documented in .env.example (typo?)',
      '.env.example: LOG_LEVEL (read by src/config.ts) is not documented',
    ]);
  });
});

describe('helpers of the deployment check', () => {
  it('finds npm scripts in shell commands', () => {
    expect(npmScriptsRun('npm ci && npm run build && npm run --silent cli -- migrate')).toEqual(['build', 'cli']);
    expect(npmScriptsRun('npm run-script lint; npm test')).toEqual(['lint']);
  });

  it('reads compose interpolations, skipping $$', () => {
    expect(interpolations('${A} ${B:-x} ${C:?set C} $D $$E')).toEqual({ names: ['A', 'B', 'C', 'D'], invalid: [] });
    expect(interpolations('${1BAD}').invalid).toEqual(['${1BAD}']);
  });

  it('matches .dockerignore patterns, with negation', () => {
    const dir = brokenCopy((d) => writeFileSync(path.join(d, '.dockerignore'), '*.log\n.env*\n!.env.example\nbuild/**\n'));
    expect(isDockerignored(dir, 'debug.log')).toBe(true);
    expect(isDockerignored(dir, '.env')).toBe(true);
    expect(isDockerignored(dir, '.env.example')).toBe(false);
    expect(isDockerignored(dir, 'build/x/y.js')).toBe(true);
    expect(isDockerignored(dir, 'src/index.ts')).toBe(false);
  });

  it('finds the CLI commands registered with commander', () => {
    expect(cliCommands(ROOT)).toEqual(expect.any(Set));
    expect([...cliCommands(ROOT)]).toEqual(expect.arrayContaining(['migrate', 'scan']));
  });
});
