/**
 * Checks the deployment files against each other and against the code:
 *   Dockerfile, .dockerignore, docker-compose.yml, .env.example, package.json, src/cli, src/config.ts.
 *
 *   npx tsx scripts/check-deploy.ts [root]
 *
 * Prints one line per problem and exits 1, or one OK line. When the Docker Compose plugin is
 * available (`docker compose version` succeeds) `docker compose config -q` runs as well; it
 * needs no Docker engine. The checks are exported for test/unit/deploy-files.test.ts.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { type Document, parseDocument, visit } from 'yaml';
import { z } from 'zod';

export const REQUIRED_SERVICES = ['postgres', 'redis', 'mailpit', 'migrate', 'reminders', 'demo-data'] as const;

const COMPOSE_FILE = 'docker-compose.yml';
const DOCKERFILE = 'Dockerfile';
const ENV_EXAMPLE = '.env.example';

// ------------------------------------------------------------------------------------------------
// Reading the project
// ------------------------------------------------------------------------------------------------

function readText(root: string, file: string): string | undefined {
  const full = path.join(root, file);
  return existsSync(full) && statSync(full).isFile() ? readFileSync(full, 'utf8') : undefined;
}

interface PackageJson {
  scripts: Record<string, string>;
  bin: Record<string, string>;
  engines: Record<string, string>;
}

export function readPackageJson(root: string): PackageJson | undefined {
  const text = readText(root, 'package.json');
  if (text === undefined) return undefined;
  const raw = JSON.parse(text) as { name?: string; scripts?: Record<string, string>; bin?: string | Record<string, string>; engines?: Record<string, string> };
  const bin = typeof raw.bin === 'string' ? { [raw.name ?? 'bin']: raw.bin } : (raw.bin ?? {});
  return { scripts: raw.scripts ?? {}, bin, engines: raw.engines ?? {} };
}

function walkTs(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return walkTs(full);
    return /\.[cm]?[tj]s$/.test(entry.name) && !entry.name.endsWith('.d.ts') ? [full] : [];
  });
}

/** Subcommands the commander CLI registers: `.command('name …')` or `addCommand(new Command('name'))` in src/cli. */
export function cliCommands(root: string): Set<string> {
  const names = new Set<string>();
  const pattern = /(?:\.command|addCommand\(\s*new\s+Command)\(\s*['"`]([A-Za-z0-9][\w:-]*)/g;
  for (const file of walkTs(path.join(root, 'src', 'cli'))) {
    for (const match of readFileSync(file, 'utf8').matchAll(pattern)) names.add(match[1] as string);
  }
  return names;
}

/** The variables `.env.example` documents, commented out or not, with their line numbers. */
export function envExampleVariables(root: string): Map<string, number> {
  const vars = new Map<string, number>();
  const text = readText(root, ENV_EXAMPLE) ?? '';
  text.split('\n').forEach((line, index) => {
    const match = /^\s*(?:#\s*)?(?:export\s+)?([A-Z][A-Z0-9_]*)=/.exec(line);
    if (match && !vars.has(match[1] as string)) vars.set(match[1] as string, index + 1);
  });
  return vars;
}

/** Keys of the `schema = z.object({ … })` in src/config.ts: every variable the service reads. */
export function configVariables(root: string): string[] | undefined {
  const text = readText(root, path.join('src', 'config.ts'));
  const block = text && /const schema = z\.object\(\{([\s\S]*?)\n\}\);/.exec(text);
  if (!block) return undefined;
  return [...(block[1] as string).matchAll(/^\s{2}([A-Z][A-Z0-9_]*):/gm)].map((m) => m[1] as string);
}

// ------------------------------------------------------------------------------------------------
// .dockerignore
// ------------------------------------------------------------------------------------------------

function globToRegExp(pattern: string): RegExp {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === '*' && pattern[i + 1] === '*') {
      source += '.*';
      i++;
      if (pattern[i + 1] === '/') i++;
    } else if (c === '*') source += '[^/]*';
    else if (c === '?') source += '[^/]';
    else source += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${source}(/.*)?$`);
}

/** Whether .dockerignore keeps `file` (a path relative to the context) out of the build context. */
export function isDockerignored(root: string, file: string): boolean {
  const normal = path.posix.normalize(file.replace(/\\/g, '/')).replace(/^\.\/|\/$/g, '');
  if (normal === '.' || normal === '') return false;
  let ignored = false;
  for (const raw of (readText(root, '.dockerignore') ?? '').split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const negated = line.startsWith('!');
    const pattern = path.posix.normalize((negated ? line.slice(1) : line).trim()).replace(/^\/|\/$/g, '');
    if (globToRegExp(pattern).test(normal)) ignored = !negated;
  }
  return ignored;
}

/** .dockerignore keeps the host's node_modules, build output, secrets and history out of the context. */
export function checkDockerignore(root: string): string[] {
  if (readText(root, '.dockerignore') === undefined) return ['.dockerignore: missing'];
  return ['node_modules', 'dist', '.env', '.git']
    .filter((file) => !isDockerignored(root, file))
    .map((file) => `.dockerignore: does not exclude ${file}`);
}

// ------------------------------------------------------------------------------------------------
// Dockerfile
// ------------------------------------------------------------------------------------------------

export interface Instruction {
  line: number;
  keyword: string;
  args: string;
}

export interface Stage {
  name: string | undefined;
  from: string;
  line: number;
  instructions: Instruction[];
}

export function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    let current = (lines[i] as string).trim();
    if (!current || current.startsWith('#')) continue;
    while (current.endsWith('\\') && i + 1 < lines.length) {
      i++;
      const next = (lines[i] as string).trim();
      current = current.slice(0, -1).trimEnd() + (next.startsWith('#') ? '' : ` ${next}`);
    }
    const match = /^(\w+)\s*(.*)$/s.exec(current);
    if (!match) continue;
    const instruction = { line: start + 1, keyword: (match[1] as string).toUpperCase(), args: (match[2] as string).trim() };
    if (instruction.keyword === 'FROM') {
      const from = /^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?/i.exec(instruction.args);
      stages.push({ name: from?.[2], from: from?.[1] ?? '', line: instruction.line, instructions: [] });
    } else if (stages.length > 0) {
      (stages[stages.length - 1] as Stage).instructions.push(instruction);
    }
  }
  return stages;
}

/** `["a", "b"]` (exec form) → ['a', 'b']; shell form → ['/bin/sh', '-c', text]; broken JSON → undefined. */
export function execForm(args: string): string[] | undefined {
  if (!args.startsWith('[')) return ['/bin/sh', '-c', args];
  try {
    const parsed: unknown = JSON.parse(args);
    return Array.isArray(parsed) && parsed.every((part) => typeof part === 'string') ? (parsed as string[]) : undefined;
  } catch {
    return undefined;
  }
}

/** `npm run X` / `npm run-script X` in a shell command. */
export function npmScriptsRun(command: string): string[] {
  return [...command.matchAll(/\bnpm\s+(?:run|run-script)\s+(?:-{1,2}[\w-]+(?:=\S+)?\s+)*([^\s&;|'"`)]+)/g)].map((m) => m[1] as string);
}

/** Dockerfile: stages, base image vs engines.node, npm scripts, COPY sources, runtime hardening, entrypoint and CMD. */
export function checkDockerfile(root: string, pkg = readPackageJson(root), commands = cliCommands(root)): string[] {
  const problems: string[] = [];
  const text = readText(root, DOCKERFILE);
  if (text === undefined) return [`${DOCKERFILE}: missing`];
  const at = (line: number, message: string) => problems.push(`${DOCKERFILE}:${line}: ${message}`);
  const stages = parseDockerfile(text);
  const final = stages[stages.length - 1];
  if (!final) return [`${DOCKERFILE}: no FROM instruction`];
  if (stages.length < 2) at(final.line, 'expected a multi-stage build (a build stage and a runtime stage)');

  const stageNames = new Set(stages.map((s) => s.name?.toLowerCase()).filter(Boolean));
  const minNode = Number(/(\d+)/.exec(pkg?.engines.node ?? '')?.[1] ?? 0);
  for (const stage of stages) {
    if (stageNames.has(stage.from.toLowerCase())) continue;
    const node = /^(?:docker\.io\/)?(?:library\/)?node:(\d+)/.exec(stage.from);
    if (!node) at(stage.line, `FROM ${stage.from}: expected an official node image (node:<major>-bookworm-slim)`);
    else if (Number(node[1]) < minNode) at(stage.line, `FROM ${stage.from}: package.json engines.node asks for ${pkg?.engines.node}`);
  }

  for (const stage of stages) {
    for (const ins of stage.instructions) {
      if (ins.keyword === 'RUN') {
        for (const script of npmScriptsRun(ins.args)) {
          if (pkg && !(script in pkg.scripts)) at(ins.line, `npm run ${script}: no such script in package.json`);
        }
      }
      if ((ins.keyword === 'COPY' || ins.keyword === 'ADD') && !/--from[= ]/.test(ins.args)) {
        const form = ins.args.replace(/^(?:--\S+\s+)*/, '');
        const parts = form.startsWith('[') ? (execForm(form) ?? []) : form.split(/\s+/);
        for (const source of parts.slice(0, -1)) {
          if (/[*?]|^https?:/.test(source)) continue;
          if (!existsSync(path.join(root, source))) at(ins.line, `${ins.keyword} ${source}: not found in the build context`);
          else if (isDockerignored(root, source)) at(ins.line, `${ins.keyword} ${source}: excluded by .dockerignore`);
        }
      }
    }
  }

  const finalOf = (keyword: string) => final.instructions.filter((ins) => ins.keyword === keyword);
  const last = (keyword: string) => finalOf(keyword).at(-1);

  for (const ins of finalOf('RUN')) {
    if (/\bnpm\s+(?:ci|install|i)\b/.test(ins.args)) {
      if (!/--omit[= ]dev|--production\b|--only[= ]prod/.test(ins.args)) at(ins.line, 'runtime stage installs devDependencies (use npm ci --omit=dev)');
      if (!/--ignore-scripts\b/.test(ins.args)) at(ins.line, 'runtime stage npm ci runs install scripts: `prepare` would compile there (use --ignore-scripts)');
    }
  }
  if (!finalOf('ENV').some((ins) => /\bNODE_ENV[= ]"?production"?/.test(ins.args))) at(final.line, 'runtime stage does not set ENV NODE_ENV=production');
  const user = last('USER');
  if (!user) at(final.line, 'runtime stage runs as root (add USER node)');
  else if (/^(root|0)(:|$)/.test(user.args)) at(user.line, `USER ${user.args}: runs as root`);
  if (finalOf('EXPOSE').length === 0) at(final.line, 'runtime stage EXPOSEs no port');

  const health = last('HEALTHCHECK');
  if (!health) at(final.line, 'runtime stage has no HEALTHCHECK');
  else {
    const cmd = /^(?:--\S+\s+)*CMD\s+(.+)$/is.exec(health.args);
    if (!cmd) at(health.line, 'HEALTHCHECK has no CMD');
    else if (!execForm((cmd[1] as string).trim())) at(health.line, 'HEALTHCHECK CMD is not valid JSON exec form');
    else if (!/\/healthz\b/.test(cmd[1] as string)) at(health.line, 'HEALTHCHECK does not ask /healthz');
  }

  const entry = last('ENTRYPOINT');
  const entryArgs = entry ? execForm(entry.args) : undefined;
  let entryIsCli = false;
  if (!entry) at(final.line, 'runtime stage has no ENTRYPOINT');
  else if (!entryArgs || !entry.args.startsWith('[')) at(entry.line, 'ENTRYPOINT must be in JSON exec form so signals reach node');
  else if (entryArgs[0] === 'node' && entryArgs[1]) {
    const script = path.posix.normalize(entryArgs[1]);
    const bins = Object.values(pkg?.bin ?? {}).map((b) => path.posix.normalize(b));
    entryIsCli = bins.includes(script);
    if (!entryIsCli) at(entry.line, `ENTRYPOINT runs ${script}, which is not the package's bin (${bins.join(', ') || 'none'})`);
    const source = script.replace(/^dist\//, '').replace(/\.js$/, '.ts');
    if (!existsSync(path.join(root, source))) at(entry.line, `ENTRYPOINT runs ${script}, but its source ${source} does not exist`);
  }

  const cmd = last('CMD');
  if (cmd) {
    const args = execForm(cmd.args);
    if (!args || !cmd.args.startsWith('[')) at(cmd.line, 'CMD must be in JSON exec form');
    else if (entryIsCli && args[0] && !commands.has(args[0])) at(cmd.line, `CMD ${args[0]}: no such CLI command in src/cli (${[...commands].sort().join(', ') || 'none found'})`);
  }
  return problems;
}

/** Whether the image built from the Dockerfile declares a HEALTHCHECK (for depends_on: service_healthy). */
function dockerfileHasHealthcheck(root: string): boolean {
  const text = readText(root, DOCKERFILE);
  const final = text ? parseDockerfile(text).at(-1) : undefined;
  const health = final?.instructions.filter((ins) => ins.keyword === 'HEALTHCHECK').at(-1);
  return health !== undefined && !/^NONE\b/i.test(health.args);
}

// ------------------------------------------------------------------------------------------------
// docker-compose.yml
// ------------------------------------------------------------------------------------------------

const DURATION = /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/;
const duration = z.string({ error: 'must be a duration such as 5s or 1m30s' }).regex(DURATION, 'must be a duration such as 5s or 1m30s');
const PORT = /^(?:(?:\[[0-9A-Fa-f:.]+\]|[0-9.]+):)?(?:\d{1,5}(?:-\d{1,5})?:)?\d{1,5}(?:-\d{1,5})?(?:\/(?:tcp|udp|sctp))?$/;
const stringOrList = z.union([z.string(), z.array(z.string())], { error: 'must be a string or a list of strings' });
export const DEPENDS_ON_CONDITIONS = ['service_started', 'service_healthy', 'service_completed_successfully'] as const;

const healthcheckSchema = z
  .object({
    test: z.union([z.string().min(1), z.array(z.string()).min(1)], { error: 'must be a command string or a list' }).optional(),
    interval: duration.optional(),
    timeout: duration.optional(),
    start_period: duration.optional(),
    start_interval: duration.optional(),
    retries: z.number().int().min(1).optional(),
    disable: z.boolean().optional(),
  })
  .strict()
  .superRefine((hc, ctx) => {
    if (hc.disable) return;
    const issue = (message: string) => ctx.addIssue({ code: 'custom', path: ['test'], message });
    if (hc.test === undefined) return issue('is required (or set disable: true)');
    if (typeof hc.test === 'string') return;
    const [kind, ...rest] = hc.test;
    if (kind === 'NONE') return;
    if (kind === 'CMD') {
      if (rest.length === 0 || !rest[0]) issue('["CMD", ...] needs a command after CMD');
    } else if (kind === 'CMD-SHELL') {
      if (rest.length !== 1 || !rest[0]) issue('["CMD-SHELL", "..."] takes exactly one shell command');
    } else issue(`list form must start with CMD, CMD-SHELL or NONE (got ${JSON.stringify(kind)})`);
  });

// The list form `[a, b]` means `{ a: { condition: service_started }, … }`: normalised first so that
// a bad condition is reported by name rather than as "matches no alternative".
const dependsOnSchema = z.preprocess(
  (value) => (Array.isArray(value) ? Object.fromEntries(value.map((name) => [String(name), {}])) : value),
  z.record(
    z.string(),
    z
      .object({
        condition: z.enum(DEPENDS_ON_CONDITIONS, { error: `must be one of ${DEPENDS_ON_CONDITIONS.join(', ')}` }).optional(),
        restart: z.boolean().optional(),
        required: z.boolean().optional(),
      })
      .strict(),
    { error: 'must be a list of services or a map of service: { condition }' },
  ),
);

const serviceSchema = z
  .object({
    image: z.string().min(1).optional(),
    build: z.union([z.string().min(1), z.looseObject({ context: z.string().optional(), dockerfile: z.string().optional() })]).optional(),
    command: stringOrList.optional(),
    entrypoint: stringOrList.optional(),
    environment: z
      .union([z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])), z.array(z.string())], {
        error: 'must be a map of NAME: value or a list of NAME=value',
      })
      .optional(),
    env_file: stringOrList.optional(),
    ports: z
      .array(
        z
          .string({ error: 'must be a quoted string such as "127.0.0.1:8080:8080" (YAML reads some unquoted ports as numbers)' })
          .refine((value) => PORT.test(value.replace(/\$\{[^}]*\}/g, '1')), 'must look like [HOST_IP:]HOST_PORT:CONTAINER_PORT[/proto]'),
      )
      .optional(),
    volumes: z.array(z.union([z.string(), z.looseObject({})])).optional(),
    depends_on: dependsOnSchema.optional(),
    healthcheck: healthcheckSchema.optional(),
    restart: z
      .string({ error: 'must be a string: "no", always, on-failure[:N] or unless-stopped' })
      .regex(/^(no|always|unless-stopped|on-failure(:\d+)?)$/, 'must be "no", always, on-failure[:N] or unless-stopped')
      .optional(),
    profiles: z.array(z.string().min(1)).optional(),
    init: z.boolean().optional(),
    stop_grace_period: duration.optional(),
  })
  .loose();

const composeSchema = z
  .object({
    name: z.string().optional(),
    version: z.string().optional(),
    services: z.record(z.string(), serviceSchema),
    volumes: z.record(z.string(), z.union([z.null(), z.looseObject({})])).optional(),
    networks: z.record(z.string(), z.union([z.null(), z.looseObject({})])).optional(),
    configs: z.record(z.string(), z.looseObject({})).optional(),
    secrets: z.record(z.string(), z.looseObject({})).optional(),
    include: z.array(z.unknown()).optional(),
  })
  .strict();

export type ComposeFile = z.infer<typeof composeSchema>;
type Service = ComposeFile['services'][string];

function formatPath(parts: readonly PropertyKey[]): string {
  return parts.map((part) => String(part)).join('.') || '(top level)';
}

/** `${VAR}`, `${VAR:-default}`, `${VAR:?message}` and `$VAR` references in a compose value; `$$` is a literal dollar. */
export function interpolations(value: string): { names: string[]; invalid: string[] } {
  const names: string[] = [];
  const invalid: string[] = [];
  for (const match of value.matchAll(/\$(?:\$|\{([^}]*)\}|([A-Za-z_][A-Za-z0-9_]*))/g)) {
    if (match[0] === '$$') continue;
    if (match[2] !== undefined) names.push(match[2]);
    else {
      const inner = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+]).*)?$/s.exec(match[1] ?? '');
      if (inner) names.push(inner[1] as string);
      else invalid.push(match[0]);
    }
  }
  return { names, invalid };
}

/** Every string scalar written in the file, once each (aliases are not followed), with its line. */
function scalarsWithLines(doc: Document, text: string): Array<{ line: number; value: string }> {
  const found: Array<{ line: number; value: string }> = [];
  visit(doc, {
    Scalar(_key, node) {
      if (typeof node.value !== 'string' || !node.range) return;
      found.push({ line: text.slice(0, node.range[0]).split('\n').length, value: node.value });
    },
  });
  return found;
}

function dependencies(service: Service): Map<string, string> {
  const deps = new Map<string, string>();
  for (const [name, spec] of Object.entries(service.depends_on ?? {})) deps.set(name, spec.condition ?? 'service_started');
  return deps;
}

function environmentKeys(service: Service): string[] {
  const env = service.environment;
  if (!env) return [];
  return Array.isArray(env) ? env.map((entry) => entry.split('=')[0] as string) : Object.keys(env);
}

function firstWord(command: string | string[] | undefined): string | undefined {
  if (command === undefined) return undefined;
  return Array.isArray(command) ? command[0] : command.trim().split(/\s+/)[0];
}

function hostPort(mapping: string): string | undefined {
  const parts = mapping.replace(/\/\w+$/, '').split(':');
  if (parts.length < 2) return undefined;
  const ip = parts.length === 3 ? parts[0] : '0.0.0.0';
  return `${ip}:${parts[parts.length - 2]}`;
}

/** docker-compose.yml: schema, required services, depends_on, healthchecks, ports, volumes, variables, commands. */
export function checkCompose(root: string, pkg = readPackageJson(root), commands = cliCommands(root)): string[] {
  const problems: string[] = [];
  const text = readText(root, COMPOSE_FILE);
  if (text === undefined) return [`${COMPOSE_FILE}: missing`];
  const at = (where: string, message: string) => problems.push(`${COMPOSE_FILE}: ${where}: ${message}`);

  const doc = parseDocument(text, { merge: true, prettyErrors: false });
  if (doc.errors.length > 0) return doc.errors.map((error) => `${COMPOSE_FILE}: YAML: ${error.message.split('\n')[0]}`);
  const raw: unknown = doc.toJS({ maxAliasCount: 1000 });
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return [`${COMPOSE_FILE}: not a mapping`];

  // Extension fields (x-*) are free-form: anchors for the services below.
  const top = Object.fromEntries(Object.entries(raw).filter(([key]) => !key.startsWith('x-')));
  const rawServices: unknown = top.services;
  if (rawServices && typeof rawServices === 'object' && !Array.isArray(rawServices)) {
    for (const [name, service] of Object.entries(rawServices)) {
      const spec = (service ?? {}) as Record<string, unknown>;
      if (spec.image === undefined && spec.build === undefined) at(`services.${name}`, 'needs image or build');
    }
  }
  const parsed = composeSchema.safeParse(top);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const message = issue.code === 'unrecognized_keys' ? `unknown key(s) ${issue.keys.join(', ')}` : issue.message;
      at(formatPath(issue.path), message);
    }
    return problems;
  }
  const compose = parsed.data;
  const services = compose.services;

  for (const name of REQUIRED_SERVICES) if (!(name in services)) at(`services.${name}`, 'missing');
  if (services['demo-data'] && !services['demo-data'].profiles?.length) {
    at('services.demo-data', 'must sit behind a profile (profiles: ["demo"]) so `docker compose up` does not load demo data');
  }

  // Services that run this repository's image: built here, or the image name a built service tags.
  const builtImages = new Set(Object.values(services).filter((s) => s.build !== undefined && s.image).map((s) => s.image as string));
  const ours = (service: Service) => service.build !== undefined || (service.image !== undefined && builtImages.has(service.image));
  const imageHealthcheck = dockerfileHasHealthcheck(root);
  const hasHealthcheck = (service: Service) =>
    service.healthcheck ? !service.healthcheck.disable && service.healthcheck.test !== undefined : ours(service) && imageHealthcheck;
  const isDefault = (service: Service) => !service.profiles || service.profiles.length === 0;

  for (const [name, service] of Object.entries(services)) {
    for (const [target, condition] of dependencies(service)) {
      const where = `services.${name}.depends_on.${target}`;
      const dependency = services[target];
      if (target === name) at(where, 'a service cannot depend on itself');
      else if (!dependency) at(where, `no service named "${target}"`);
      else {
        if (condition === 'service_healthy' && !hasHealthcheck(dependency)) at(where, `service_healthy, but ${target} has no healthcheck`);
        if (condition === 'service_completed_successfully' && dependency.restart && dependency.restart !== 'no' && !dependency.restart.startsWith('on-failure')) {
          at(where, `service_completed_successfully, but ${target} has restart: ${dependency.restart} (a one-shot needs restart: "no")`);
        }
        if (isDefault(service) && !isDefault(dependency)) at(where, `${target} only runs under profiles ${dependency.profiles?.join(', ')}, ${name} always runs`);
      }
    }
  }

  // Cycles in depends_on.
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string, trail: string[]): void => {
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') {
      at(`services.${name}.depends_on`, `cycle ${[...trail.slice(trail.indexOf(name)), name].join(' -> ')}`);
      return;
    }
    state.set(name, 'visiting');
    const service = services[name];
    if (service) for (const target of dependencies(service).keys()) if (services[target] && target !== name) visit(target, [...trail, name]);
    state.set(name, 'done');
  };
  for (const name of Object.keys(services)) visit(name, []);

  // Host ports published twice.
  const published = new Map<string, string>();
  for (const [name, service] of Object.entries(services)) {
    for (const mapping of service.ports ?? []) {
      const key = hostPort(mapping);
      if (!key) continue;
      const other = published.get(key);
      if (other) at(`services.${name}.ports`, `${mapping} is already published by ${other}`);
      else published.set(key, name);
    }
  }

  // Named volumes are declared.
  for (const [name, service] of Object.entries(services)) {
    for (const volume of service.volumes ?? []) {
      if (typeof volume !== 'string') continue;
      const source = volume.split(':')[0] ?? '';
      const named = volume.includes(':') && /^[A-Za-z0-9][\w.-]*$/.test(source);
      if (named && !(source in (compose.volumes ?? {}))) at(`services.${name}.volumes`, `named volume "${source}" is not declared under volumes:`);
    }
  }

  // Every ${VAR} is documented in .env.example; ours services only set variables the service knows.
  const documented = envExampleVariables(root);
  for (const { line, value } of scalarsWithLines(doc, text)) {
    const { names, invalid } = interpolations(value);
    for (const bad of invalid) at(`line ${line}`, `invalid interpolation ${bad}`);
    for (const variable of names) if (!documented.has(variable)) at(`line ${line}`, `\${${variable}} is not listed in ${ENV_EXAMPLE}`);
  }
  // Environment keys the service does not read (a shared anchor is reported once, naming its services).
  const undocumented = new Map<string, string[]>();
  for (const [name, service] of Object.entries(services)) {
    if (!ours(service)) continue;
    for (const key of environmentKeys(service)) if (!documented.has(key)) undocumented.set(key, [...(undocumented.get(key) ?? []), name]);
  }
  for (const [key, names] of undocumented) {
    at(`environment ${key} (${names.join(', ')})`, `not a variable documented in ${ENV_EXAMPLE} (typo?)`);
  }
  for (const [name, service] of Object.entries(services)) {
    if (!ours(service)) continue;
    if (service.entrypoint === undefined) {
      const sub = firstWord(service.command);
      if (sub !== undefined && !commands.has(sub)) {
        at(`services.${name}.command`, `${sub}: no such CLI command in src/cli (${[...commands].sort().join(', ') || 'none found'})`);
      }
    }
  }
  // Shell commands of our services that call npm scripts.
  for (const [name, service] of Object.entries(services)) {
    const command = service.command;
    const shell = Array.isArray(command) ? command.join(' ') : (command ?? '');
    for (const script of npmScriptsRun(shell)) if (pkg && !(script in pkg.scripts)) at(`services.${name}.command`, `npm run ${script}: no such script in package.json`);
  }
  return problems;
}

// ------------------------------------------------------------------------------------------------
// .env.example
// ------------------------------------------------------------------------------------------------

/** .env.example: each variable once, with a comment, and every variable of src/config.ts present. */
export function checkEnvExample(root: string): string[] {
  const problems: string[] = [];
  const text = readText(root, ENV_EXAMPLE);
  if (text === undefined) return [`${ENV_EXAMPLE}: missing`];
  const lines = text.split('\n');
  const seen = new Set<string>();
  lines.forEach((line, index) => {
    const match = /^\s*(?:#\s*)?([A-Z][A-Z0-9_]*)=/.exec(line);
    if (!match) return;
    const name = match[1] as string;
    if (seen.has(name)) problems.push(`${ENV_EXAMPLE}:${index + 1}: ${name} is listed twice`);
    seen.add(name);
    const previous = lines[index - 1]?.trim() ?? '';
    const described = previous.startsWith('#') && !/^#\s*[A-Z][A-Z0-9_]*=/.test(previous);
    if (!described) problems.push(`${ENV_EXAMPLE}:${index + 1}: ${name} has no comment above it saying what it does`);
  });
  const known = configVariables(root);
  if (known) for (const name of known) if (!seen.has(name)) problems.push(`${ENV_EXAMPLE}: ${name} (read by src/config.ts) is not documented`);
  return problems;
}

// ------------------------------------------------------------------------------------------------
// Entry points
// ------------------------------------------------------------------------------------------------

/** All file checks, without Docker: one line per problem, empty when everything agrees. */
export function checkDeployFiles(root: string): string[] {
  const pkg = readPackageJson(root);
  const commands = cliCommands(root);
  const problems: string[] = [];
  if (!pkg) problems.push('package.json: missing');
  problems.push(...checkDockerignore(root), ...checkDockerfile(root, pkg, commands), ...checkCompose(root, pkg, commands), ...checkEnvExample(root));
  return problems;
}

/** Whether `docker compose` (the v2 plugin) is installed; it needs no Docker engine to validate a file. */
export function composeAvailable(): boolean {
  const result = spawnSync('docker', ['compose', 'version'], { encoding: 'utf8', timeout: 15_000 });
  return result.status === 0;
}

/** `docker compose config -q`: Compose's own validation and interpolation of the file. */
export function composeConfig(root: string): string[] {
  const result = spawnSync('docker', ['compose', '-f', COMPOSE_FILE, 'config', '-q'], { cwd: root, encoding: 'utf8', timeout: 60_000 });
  if (result.status === 0) return [];
  const output = `${result.stderr ?? ''}${result.stdout ?? ''}`.trim() || String(result.error ?? `exit ${result.status}`);
  return output.split('\n').map((line) => `docker compose config: ${line}`);
}

function main(): void {
  const root = path.resolve(process.argv[2] ?? path.join(__dirname, '..'));
  const withCompose = composeAvailable();
  const problems = [...checkDeployFiles(root), ...(withCompose ? composeConfig(root) : [])];
  for (const problem of problems) console.log(problem);
  if (problems.length > 0) {
    console.log(`check-deploy: ${problems.length} problem(s)`);
    process.exitCode = 1;
    return;
  }
  const services = Object.keys(((parseDocument(readFileSync(path.join(root, COMPOSE_FILE), 'utf8'), { merge: true }).toJS() ?? {}) as { services?: object }).services ?? {});
  console.log(
    `check-deploy: OK (Dockerfile, .dockerignore, ${COMPOSE_FILE} with ${services.length} services, ${ENV_EXAMPLE}; ` +
      (withCompose ? 'docker compose config passed)' : 'docker compose not installed: checked with the built-in schema)'),
  );
}

if (require.main === module) main();
