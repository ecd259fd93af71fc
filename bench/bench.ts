/**
 * `npm run bench`: the send path and the scan, measured against the real services in one run.
 *
 * - ceiling: pooled nodemailer sending one pre-built reminder over and over (no render, no ledger);
 * - naive: Handlebars into the MJML, `mjml2html` and html-to-text for every email, then pooled nodemailer;
 * - ours: a scan, then `reminders work --drain` in its own process (claim, render, send, record),
 *   with WORKER_PROCESSES=1 and =number of cores; its peak RSS;
 * - start: `reminders start` with everything on (scheduler, scan worker, send workers, HTTP with
 *   health, metrics and the dashboard) draining the same emails; the peak RSS of each of its processes;
 * - render: our cached render per email against `mjml2html` per email, and the Handlebars fill of
 *   the HTML against a string concatenation specialised to the same output;
 * - scan: the same number of due licenses in a small and a large table (recording the due rows,
 *   and the whole scan with the enqueue).
 *
 * Every figure is a median with min–max over `--runs` repetitions. The SMTP server is another
 * process (bench/smtp-sink.ts) counting deliveries per ledger id: a lost or doubled message fails
 * the run. Own database and queue prefix on the configured servers, removed after.
 *
 *   npm run bench                 # the full run (1M-license scan: several minutes)
 *   npm run bench -- --quick      # about a minute; CI runs it
 *   npm run bench -- --only ours --cpu-prof profiles   # profile the worker processes
 */
import { type ChildProcess, execFileSync, fork, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import mjml2html from 'mjml';
import nodemailer, { type SendMailOptions } from 'nodemailer';
import pg from 'pg';
import { createApp, type App } from '../src/app';
import { loadConfig, rawEnvironment } from '../src/config';
import { migrateToLatest } from '../src/db/migrate';
import { publishShippedIfNone } from '../src/templates-store/publish-shipped';
import { createLogger } from '../src/logger';
import { deleteQueueKeys } from '../src/queue/queue-keys';
import { htmlToPlainText } from '../src/render/html-to-plain-text';
import { createRenderer } from '../src/render/renderer';
import { loadSampleData, sampleInput } from '../src/render/sample-data';
import { buildView, createHandlebars } from '../src/render/template-data';
import { composeVariant } from '../src/render/template-source';
import { compileVariant } from '../src/render/compile-variant';
import { addDays } from '../src/dates';
import { runScan } from '../src/scan/run-scan';
import { type Figure, figure, printTable, ratio, show } from './figures';
import type { SinkReport, SinkRequest } from './smtp-sink';

const ROOT = path.resolve(__dirname, '..');
const T = '2030-01-01';
const FIGURES = ['render', 'ceiling', 'naive', 'ours', 'start', 'scan'] as const;
type FigureName = (typeof FIGURES)[number];

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    runs: { type: 'string' },
    emails: { type: 'string' },
    'scan-due': { type: 'string' },
    'scan-sizes': { type: 'string' },
    processes: { type: 'string' },
    only: { type: 'string' },
    'cpu-prof': { type: 'string' },
    'no-build': { type: 'boolean', default: false },
  },
});
const cores = availableParallelism();
const options = {
  runs: Number(args.runs ?? 3),
  emails: Number(args.emails ?? (args.quick ? 300 : 2000)),
  scanDue: Number(args['scan-due'] ?? (args.quick ? 2000 : 20_000)),
  scanSizes: (args['scan-sizes'] ?? (args.quick ? '20000,100000' : '100000,1000000')).split(',').map(Number) as [number, number],
  processes: [...new Set((args.processes ?? (args.quick ? String(cores) : `1,${cores}`)).split(',').map(Number))],
  only: new Set<FigureName>((args.only ?? FIGURES.join(',')).split(',') as FigureName[]),
  cpuProf: args['cpu-prof'] ? path.resolve(args['cpu-prof']) : undefined,
};

const log = (message: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${message}`);
/** Concurrent senders kept busy in the ceiling and naive runs: more than the pool, so it never idles. */
const IN_FLIGHT = 20;

interface Results {
  machine: { cpus: string; cores: number; memoryGb: number; node: string; shared: string; load?: string };
  options: Omit<typeof options, 'only'> & { only: string[] };
  messageBytes?: number;
  render?: { oursMicros: Figure; mjmlMillis: Figure; speedup: Figure; handlebarsMicros: Figure; concatMicros: Figure };
  start?: { mainRssMb: Figure; workerRssMb: Figure; totalRssMb: Figure; rate: Figure };
  ceiling?: Figure;
  naive?: Figure;
  ours: Record<string, { rate: Figure; peakRssMb: Figure; ofCeiling?: Figure; overNaive?: Figure }>;
  scan?: { small: ScanFigures; large: ScanFigures; largeOverSmall: Figure; recordLargeOverSmall: Figure };
  failures: string[];
}

interface ScanFigures {
  licenses: number;
  seconds: Figure;
  duePerSec: Figure;
  /** Recording the due rows alone (the statement), without the outbox pass. */
  recordSeconds: Figure;
  recordDuePerSec: Figure;
}

async function main(): Promise<void> {
  const loadStart = loadavg().map((l) => l.toFixed(1)).join(' ');
  const env = rawEnvironment();
  const base = loadConfig(env);
  const dbName = `reminders_bench_${randomBytes(3).toString('hex')}`;
  const url = new URL(base.databaseUrl);
  const admin = new URL(url);
  admin.pathname = '/postgres';
  url.pathname = `/${dbName}`;
  const results: Results = {
    machine: {
      cpus: cpus()[0]?.model ?? 'unknown',
      cores,
      memoryGb: Math.round(totalmem() / 2 ** 30),
      node: process.version,
      shared: 'other processes may be running: compare ratios from one run, not absolute figures',
    },
    options: { ...options, only: [...options.only] },
    ours: {},
    failures: [],
  };

  if (!args['no-build'] && (options.only.has('ours') || options.only.has('start'))) {
    log('building (tsc) so the worker runs as deployed: plain node on dist/');
    execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
  }
  log(`database ${dbName}, queue prefix bench-${dbName}`);
  await adminQuery(admin, `create database ${dbName}`);
  const sink = await startSink();
  const workerEnv = {
    ...env,
    DATABASE_URL: url.toString(),
    QUEUE_PREFIX: `bench-${dbName}`,
    SMTP_URL: sink.url,
    // Capacity, not the operator's rate limit, is what is measured.
    SEND_RATE_PER_SEC: '10000',
    SEND_BACKOFF_MS: '1000',
    LOG_LEVEL: 'warn',
  };
  const config = loadConfig(workerEnv);
  const app = createApp(config, { logger: createLogger('silent') });
  try {
    await migrateToLatest(app.db);
    // Workers send published versions only: publish the shipped files, as the first `migrate` does.
    const shipped = await publishShippedIfNone(app.db, config.templatesDir, config);
    if (shipped?.status === 'refused') throw new Error(`the shipped templates were refused: ${shipped.problems.map((p) => p.message).join('; ')}`);
    const prebuilt = await buildSample(config);
    results.messageBytes = prebuilt.bytes;
    log(`${cores} cores, ${options.runs} runs per figure; one reminder is ${(prebuilt.bytes / 1024).toFixed(1)} KB on the wire`);
    if (options.only.has('render')) results.render = await benchRender(config);
    if (options.only.has('ceiling')) results.ceiling = await benchCeiling(config, sink, prebuilt, results.failures);
    if (options.only.has('naive')) results.naive = await benchNaive(config, sink, results.failures);
    if (options.only.has('ours')) {
      for (const processes of options.processes) {
        const ours = await benchOurs(app, sink, workerEnv, processes, results.failures);
        results.ours[`${processes}`] = {
          ...ours,
          ofCeiling: results.ceiling && ratio(ours.rate, results.ceiling),
          overNaive: results.naive && ratio(ours.rate, results.naive),
        };
      }
    }
    if (options.only.has('start')) results.start = await benchStart(app, sink, workerEnv, results.failures);
    if (options.only.has('scan')) results.scan = await benchScan(app);
  } finally {
    await app.close();
    await sink.close();
    await deleteQueueKeys(config.redisUrl, config.queuePrefix);
    await adminQuery(admin, `drop database if exists ${dbName} with (force)`);
  }

  results.machine.load = `${loadStart} at the start, ${loadavg().map((l) => l.toFixed(1)).join(' ')} at the end`;
  report(results);
  writeFileSync(path.join(__dirname, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  log('wrote bench/results.json');
  if (results.failures.length > 0) {
    console.error(`\nFAILED: ${results.failures.length} problem(s)\n${results.failures.map((f) => `  - ${f}`).join('\n')}`);
    process.exitCode = 1;
  }
}

function report(r: Results): void {
  const rows: Array<[string, string, string?]> = [];
  if (r.render) {
    rows.push(['render per email, ours (µs)', show(r.render.oursMicros)]);
    rows.push(['render per email, mjml2html (ms)', show(r.render.mjmlMillis, 2)]);
    rows.push(['  mjml2html ÷ ours', show(r.render.speedup), 'target ≥ 100']);
    rows.push(['  of which Handlebars filling the HTML (µs)', show(r.render.handlebarsMicros, 1)]);
    rows.push(['  the same HTML by string concatenation (µs)', show(r.render.concatMicros, 1)]);
  }
  if (r.ceiling) rows.push(['raw ceiling (msgs/s)', show(r.ceiling)]);
  if (r.naive) rows.push(['naive worker (emails/s)', show(r.naive)]);
  for (const [processes, ours] of Object.entries(r.ours)) {
    rows.push([`ours, ${processes} process(es) (emails/s)`, show(ours.rate)]);
    if (ours.ofCeiling) rows.push(['  ours ÷ ceiling', show(ours.ofCeiling, 2), 'target ≥ 0.5']);
    if (ours.overNaive) rows.push(['  ours ÷ naive', show(ours.overNaive, 1), 'target ≥ 3']);
    rows.push(['  peak RSS per worker process (MB)', show(ours.peakRssMb), 'target ≤ 150']);
  }
  if (r.start) {
    rows.push(['`reminders start`, everything on, WORKER_PROCESSES=1 (emails/s)', show(r.start.rate)]);
    rows.push(['  its peak RSS, one process doing everything (MB)', show(r.start.mainRssMb), 'target ≤ 250']);
  }
  if (r.scan) {
    for (const size of [r.scan.small, r.scan.large]) {
      const licenses = size.licenses.toLocaleString('en-US');
      rows.push([`scan, ${licenses} licenses, recording the due rows (due/s)`, show(size.recordDuePerSec)]);
      rows.push([`scan, ${licenses} licenses, with the enqueue (due/s)`, show(size.duePerSec), size === r.scan.large ? 'target ≥ 15,000' : undefined]);
    }
    rows.push(['  scan time large ÷ small (recording; whole scan)', `${show(r.scan.recordLargeOverSmall, 2)}; ${show(r.scan.largeOverSmall, 2)}`, 'target ≤ 1.3']);
  }
  console.log(`\n${r.machine.cores} × ${r.machine.cpus}, node ${r.machine.node}; medians (min–max) of ${r.options.runs} runs; load average ${r.machine.load}\n`);
  printTable(rows);
  console.log('');
}

/** One real reminder, rendered by our renderer: the pre-built message of the ceiling run. */
async function buildSample(config: ReturnType<typeof loadConfig>) {
  const renderer = createRenderer(config, createLogger('silent'));
  const rendered = await renderer.render(sampleInput(config, loadSampleData(config.templatesDir), { kind: 'license', offset: 30, locale: 'en' }));
  await renderer.close();
  const message = { from: config.mailFrom, to: 'ceiling@example.com', subject: rendered.subject, html: rendered.html, text: rendered.text };
  const raw = await new Promise<Buffer>((resolve, reject) =>
    nodemailer.createTransport({ streamTransport: true, buffer: true }).sendMail(message, (error, info) => (error ? reject(error) : resolve(info.message as Buffer))),
  );
  return { message, bytes: raw.length };
}

async function benchRender(config: ReturnType<typeof loadConfig>) {
  log('render: our cached render vs mjml2html, per email; Handlebars vs string concatenation for the HTML');
  const sample = loadSampleData(config.templatesDir);
  const input = sampleInput(config, sample, { kind: 'license', offset: 30, locale: 'en' });
  const mjml = composeVariant(path.resolve(config.templatesDir), 'annual', 'en', 30).mjml;
  const fill = await fillComparison(config, input);
  const ours: number[] = [];
  const mjmlTimes: number[] = [];
  const handlebarsTimes: number[] = [];
  const concatTimes: number[] = [];
  for (let run = 0; run < options.runs; run++) {
    const renderer = createRenderer(config, createLogger('silent'));
    // Steady state: the compiled template's functions are new per renderer and need warming up.
    for (let i = 0; i < 500; i++) await renderer.render({ ...input, contactName: `Warm ${i}` });
    const count = 2000;
    let started = performance.now();
    for (let i = 0; i < count; i++) await renderer.render({ ...input, contactName: `Name ${i}` });
    ours.push(((performance.now() - started) * 1000) / count);
    await renderer.close();
    handlebarsTimes.push(fill.time(fill.handlebars, count));
    concatTimes.push(fill.time(fill.concat, count));
    const mjmlCount = 20;
    started = performance.now();
    for (let i = 0; i < mjmlCount; i++) await mjml2html(mjml, { validationLevel: 'soft', keepComments: false, fonts: {} });
    mjmlTimes.push((performance.now() - started) / mjmlCount);
  }
  const oursMicros = figure(ours);
  const mjmlMillis = figure(mjmlTimes);
  return {
    oursMicros,
    mjmlMillis,
    speedup: ratio({ ...mjmlMillis, median: mjmlMillis.median * 1000, min: mjmlMillis.min * 1000, max: mjmlMillis.max * 1000 }, oursMicros),
    handlebarsMicros: figure(handlebarsTimes),
    concatMicros: figure(concatTimes),
  };
}

/**
 * The HTML fill two ways: the precompiled Handlebars template the renderer uses, and the fastest
 * fill there can be for this email: its static text between the values, concatenated with the
 * escaped values (found by filling once with markers in place of every string of the view). The
 * two must give the same HTML, or the comparison says nothing.
 */
async function fillComparison(config: ReturnType<typeof loadConfig>, input: ReturnType<typeof sampleInput>) {
  const { parts } = await compileVariant(path.resolve(config.templatesDir), 'annual', 'en', 30);
  if (!parts) throw new Error('the sample template does not compile');
  const hb = createHandlebars();
  const template = hb.compile(parts.html, { strict: true, knownHelpersOnly: true, knownHelpers: { plural: true } });
  const strings: string[] = [];
  const leaves = (value: unknown, at: string[], marked: boolean): unknown => {
    if (typeof value === 'string' && at[0] !== 'lang' && at[0] !== 'formatLocale') {
      strings.push(at.join('.'));
      return marked ? `\u0001${strings.length - 1}\u0002` : value;
    }
    if (Array.isArray(value)) return value.map((v, i) => leaves(v, [...at, String(i)], marked));
    if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, leaves(v, [...at, k], marked)]));
    return value;
  };
  const view = (i: number) => ({ ...buildView({ ...input, contactName: `Name ${i}` }, { lang: 'en', format: 'en' }), subject: 'Your annual license expires in 30 days' });
  // eslint-disable-next-line no-control-regex -- the markers are control characters no template text contains
  const pieces = template(leaves(view(0), [], true)).split(/\u0001(\d+)\u0002/);
  const paths = strings.map((p) => p.split('.'));
  const get = (object: unknown, at: string[]) => at.reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], object);
  const handlebars = (i: number) => template(view(i));
  const concat = (i: number) => {
    const v = view(i);
    let out = pieces[0] as string;
    for (let j = 1; j < pieces.length; j += 2) out += hb.escapeExpression(get(v, paths[Number(pieces[j])] as string[]) as string) + (pieces[j + 1] as string);
    return out;
  };
  if (concat(7) !== handlebars(7)) throw new Error('the concatenation does not give the Handlebars HTML');
  const time = (fn: (i: number) => string, count: number) => {
    for (let i = 0; i < 500; i++) fn(i);
    const started = performance.now();
    for (let i = 0; i < count; i++) fn(i);
    return ((performance.now() - started) * 1000) / count;
  };
  return { handlebars, concat, time };
}

type Sink = Awaited<ReturnType<typeof startSink>>;

/** Sends `count` messages from `make` through a pooled transport, IN_FLIGHT at a time; returns msgs/s at the sink. */
async function pooledRun(
  config: ReturnType<typeof loadConfig>,
  sink: Sink,
  count: number,
  make: (i: number) => Promise<SendMailOptions> | SendMailOptions,
  failures: string[],
  label: string,
): Promise<number> {
  await sink.request({ type: 'reset' });
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port: sink.port, secure: false, ignoreTLS: true, pool: true, maxConnections: config.smtpPoolSize, maxMessages: 100 });
  let next = 0;
  const lane = async () => {
    while (next < count) {
      const i = next++;
      await transport.sendMail(await make(i));
    }
  };
  await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, count) }, lane));
  transport.close();
  const report = await sink.report();
  checkDelivery(report, Array.from({ length: count }, (_, i) => `${label}-${i}`), failures, label);
  return rate(report);
}

async function benchCeiling(config: ReturnType<typeof loadConfig>, sink: Sink, prebuilt: Awaited<ReturnType<typeof buildSample>>, failures: string[]) {
  const count = options.emails * 2;
  const rates: number[] = [];
  for (let run = 0; run < options.runs; run++) {
    log(`ceiling: run ${run + 1}/${options.runs}, ${count} pre-built messages, pool of ${config.smtpPoolSize}`);
    const label = `ceiling${run}`;
    rates.push(await pooledRun(config, sink, count, (i) => ({ ...prebuilt.message, headers: { 'X-Bench-Id': `${label}-${i}` } }), failures, label));
  }
  return figure(rates);
}

async function benchNaive(config: ReturnType<typeof loadConfig>, sink: Sink, failures: string[]) {
  const sample = loadSampleData(config.templatesDir);
  // MJML drops comments; their example placeholders would only trip Handlebars.
  const source = composeVariant(path.resolve(config.templatesDir), 'annual', 'en', 30).mjml.replace(/<!--[\s\S]*?-->/g, '');
  const template = createHandlebars().compile(source);
  const input = sampleInput(config, sample, { kind: 'license', offset: 30, locale: 'en' });
  const count = Math.max(100, Math.round(options.emails / 4));
  const rates: number[] = [];
  for (let run = 0; run < options.runs; run++) {
    log(`naive: run ${run + 1}/${options.runs}, ${count} emails, Handlebars + mjml2html + html-to-text each`);
    const label = `naive${run}`;
    rates.push(
      await pooledRun(
        config,
        sink,
        count,
        async (i) => {
          const { html } = await mjml2html(template(buildView({ ...input, contactName: `Name ${i}` }, { lang: 'en', format: 'en' })), { validationLevel: 'soft', keepComments: false, fonts: {} });
          return { from: config.mailFrom, to: `naive${i}@example.com`, subject: 'Your annual license expires in 30 days', html, text: htmlToPlainText(html), headers: { 'X-Bench-Id': `${label}-${i}` } };
        },
        failures,
        label,
      ),
    );
  }
  return figure(rates);
}

/** Licenses, orders and contacts: `count` from `from`, one contact each, expiring on `expiresOn` or far away. */
async function seed(db: App['db'], from: number, to: number, due: number, expiresOn: string, farFrom: string): Promise<void> {
  // One statement per table: row-by-row inserts would measure the seeding, not the scan.
  await sql`insert into orders (id, order_number, customer_name) select g, 'B-' || g, 'Bench customer ' || g from generate_series(${from}::bigint, ${to}::bigint) g`.execute(db);
  await sql`insert into order_contacts (id, order_id, email, name) select g, g, 'c' || g || '@example.com', 'Contact ' || g from generate_series(${from}::bigint, ${to}::bigint) g`.execute(db);
  await sql`insert into licenses (id, order_id, license_key, product, license_type, expires_on, maintenance_expires_on)
    select g, g, 'K-' || g, 'Dynamic Web TWAIN', case when g % 2 = 0 then 'annual' else 'lifetime' end,
      case when g < ${from + due}::bigint then ${expiresOn}::date else ${farFrom}::date + (g % 300)::int end,
      case when g < ${from + due}::bigint then ${expiresOn}::date else ${farFrom}::date + (g % 300)::int end
    from generate_series(${from}::bigint, ${to}::bigint) g`.execute(db);
}

async function clearLedger(app: App): Promise<void> {
  await sql`truncate reminder_events, reminder_ledger, scan_runs cascade`.execute(app.db);
  await app.sendQueue().obliterate({ force: true });
}

async function benchOurs(app: App, sink: Sink, workerEnv: Record<string, string | undefined>, processes: number, failures: string[]) {
  const count = options.emails;
  await sql`truncate reminder_events, reminder_ledger, scan_runs, licenses, order_contacts, orders cascade`.execute(app.db);
  await seed(app.db, 1, count, count, addDays(T, 30), addDays(T, 400));
  await sql`analyze`.execute(app.db);
  const rates: number[] = [];
  const rss: number[] = [];
  for (let run = 0; run < options.runs; run++) {
    await clearLedger(app);
    const summary = await runScan({ db: app.db, sendQueue: app.sendQueue(), config: app.config, logger: app.logger }, T);
    const pending = await app.db.selectFrom('reminder_ledger').select('id').where('status', '=', 'pending').execute();
    log(`ours: run ${run + 1}/${options.runs}, WORKER_PROCESSES=${processes}: scan queued ${summary.queued}; \`reminders work --drain\` sending ${pending.length}`);
    await sink.request({ type: 'reset' });
    const peak = await runWorker({ ...workerEnv, WORKER_PROCESSES: String(processes) }, failures);
    const report = await sink.report();
    checkDelivery(report, pending.map((r) => String(r.id)), failures, `ours run ${run + 1}`);
    const notSent = await app.db.selectFrom('reminder_ledger').select(['status', app.db.fn.countAll<string>().as('n')]).where('status', '!=', 'sent').groupBy('status').execute();
    if (notSent.length > 0) failures.push(`ours run ${run + 1}: ledger rows not sent after the drain: ${notSent.map((s) => `${s.status} ${s.n}`).join(', ')}`);
    rates.push(rate(report));
    rss.push(peak);
  }
  return { rate: figure(rates), peakRssMb: figure(rss) };
}

/** Runs `reminders work --drain` from dist/ and returns the highest peak RSS (MB) of its processes. */
async function runWorker(env: Record<string, string | undefined>, failures: string[]): Promise<number> {
  const nodeArgs = options.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${options.cpuProf}`] : [];
  const child = spawn(process.execPath, [...nodeArgs, path.join(ROOT, 'dist/src/cli/main.js'), 'work', '--drain'], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const peaks = new Map<number, number>();
  const poll = setInterval(() => sampleRss(child.pid, peaks), 100);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (exitCode) => resolve(exitCode)));
  clearInterval(poll);
  if (code !== 0) failures.push(`reminders work --drain exited with ${code}`);
  // With several processes the command's own process only supervises: the workers are its children.
  const workers = [...peaks].filter(([pid]) => peaks.size === 1 || pid !== child.pid).map(([, kb]) => kb);
  return Math.max(0, ...workers) / 1024;
}

/**
 * `reminders start` with everything on in one process (scheduler and scan worker, the send worker,
 * the outbox loop, HTTP with health, metrics and the dashboard, polled while it sends) draining a
 * scan's emails; then SIGTERM. Its peak RSS (the send worker processes of WORKER_PROCESSES > 1 are
 * the `ours` figure's).
 */
async function benchStart(app: App, sink: Sink, workerEnv: Record<string, string | undefined>, failures: string[]) {
  const count = options.emails;
  await sql`truncate reminder_events, reminder_ledger, scan_runs, licenses, order_contacts, orders cascade`.execute(app.db);
  await seed(app.db, 1, count, count, addDays(T, 30), addDays(T, 400));
  await sql`analyze`.execute(app.db);
  const main: number[] = [];
  const worker: number[] = [];
  const total: number[] = [];
  const rates: number[] = [];
  for (let run = 0; run < options.runs; run++) {
    await clearLedger(app);
    await runScan({ db: app.db, sendQueue: app.sendQueue(), config: app.config, logger: app.logger }, T);
    const pending = await app.db.selectFrom('reminder_ledger').select('id').where('status', '=', 'pending').execute();
    log(`start: run ${run + 1}/${options.runs}, \`reminders start\` with HTTP and the dashboard, one process, sending ${pending.length}`);
    await sink.request({ type: 'reset' });
    const child = spawn(process.execPath, [path.join(ROOT, 'dist/src/cli/main.js'), 'start'], {
      cwd: ROOT,
      env: { ...workerEnv, LOG_LEVEL: 'info', HTTP_HOST: '127.0.0.1', HTTP_PORT: '0', ADMIN_TOKEN: 'bench-admin-token', WORKER_PROCESSES: '1' },
      // Logs go to stderr; the listening line is one of them.
      stdio: ['ignore', 'inherit', 'pipe'],
    });
    let url: string | undefined;
    child.stderr?.on('data', (chunk: Buffer) => {
      url ??= /"url":"(http:\/\/[^"]+)"/.exec(chunk.toString())?.[1];
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const peaks = new Map<number, number>();
    const poll = setInterval(() => sampleRss(child.pid, peaks), 100);
    const headers = { authorization: 'Bearer bench-admin-token' };
    const deadline = Date.now() + 10 * 60_000;
    let report = await sink.report();
    while (report.messages < pending.length && Date.now() < deadline && child.exitCode === null) {
      if (url) {
        for (const route of ['/healthz', '/metrics', '/admin/queues']) {
          await fetch(`${url}${route}`, { headers }).then((r) => r.arrayBuffer()).catch(() => undefined);
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
      report = await sink.report();
    }
    child.kill('SIGTERM');
    const code = await exited;
    clearInterval(poll);
    if (!url) failures.push(`start run ${run + 1}: the HTTP server never said where it listens`);
    if (code !== 0) failures.push(`start run ${run + 1}: reminders start exited with ${code} after SIGTERM`);
    report = await sink.report();
    checkDelivery(report, pending.map((r) => String(r.id)), failures, `start run ${run + 1}`);
    rates.push(rate(report));
    const childPeaks = [...peaks].filter(([pid]) => pid !== child.pid).map(([, kb]) => kb / 1024);
    main.push((peaks.get(child.pid ?? -1) ?? 0) / 1024);
    worker.push(Math.max(0, ...childPeaks));
    total.push([...peaks.values()].reduce((sum, kb) => sum + kb, 0) / 1024);
  }
  return { mainRssMb: figure(main), workerRssMb: figure(worker), totalRssMb: figure(total), rate: figure(rates) };
}

/** Peak resident set (VmHWM, kB) of a process and its children, from /proc. */
function sampleRss(pid: number | undefined, peaks: Map<number, number>): void {
  if (!pid) return;
  const read = (p: number) => {
    try {
      const status = readFileSync(`/proc/${p}/status`, 'utf8');
      const hwm = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
      peaks.set(p, Math.max(peaks.get(p) ?? 0, hwm));
      for (const child of readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').split(/\s+/).filter(Boolean)) read(Number(child));
    } catch {
      // The process ended between two samples.
    }
  };
  read(pid);
}

async function benchScan(app: App) {
  const [small, large] = options.scanSizes;
  const due = options.scanDue;
  await sql`truncate reminder_events, reminder_ledger, scan_runs, licenses, order_contacts, orders cascade`.execute(app.db);
  const measure = async (licenses: number): Promise<ScanFigures> => {
    const seconds: number[] = [];
    const recordSeconds: number[] = [];
    for (let run = 0; run < options.runs; run++) {
      await clearLedger(app);
      const started = performance.now();
      const summary = await runScan({ db: app.db, sendQueue: app.sendQueue(), config: app.config, logger: app.logger }, T);
      seconds.push((performance.now() - started) / 1000);
      recordSeconds.push(summary.phasesMs.record / 1000);
      log(
        `scan: ${licenses.toLocaleString('en-US')} licenses, run ${run + 1}/${options.runs}: ${summary.queued} queued in ${seconds.at(-1)?.toFixed(2)} s ` +
          `(recording ${(summary.phasesMs.record / 1000).toFixed(2)} s, outbox ${(summary.phasesMs.outbox / 1000).toFixed(2)} s)`,
      );
      if (summary.queued !== due) throw new Error(`the scan queued ${summary.queued}, expected ${due}`);
    }
    return {
      licenses,
      seconds: figure(seconds),
      duePerSec: figure(seconds.map((s) => due / s)),
      recordSeconds: figure(recordSeconds),
      recordDuePerSec: figure(recordSeconds.map((s) => due / s)),
    };
  };
  log(`scan: seeding ${small.toLocaleString('en-US')} licenses, ${due.toLocaleString('en-US')} due on ${T}`);
  await seed(app.db, 1, small, due, addDays(T, 30), addDays(T, 400));
  await sql`analyze`.execute(app.db);
  const first = await measure(small);
  log(`scan: seeding up to ${large.toLocaleString('en-US')} licenses (none of the new ones due)`);
  await seed(app.db, small + 1, large, 0, addDays(T, 30), addDays(T, 400));
  await sql`analyze`.execute(app.db);
  const second = await measure(large);
  await clearLedger(app);
  return { small: first, large: second, largeOverSmall: ratio(second.seconds, first.seconds), recordLargeOverSmall: ratio(second.recordSeconds, first.recordSeconds) };
}

/** Messages per second over the sink's window, first to last message. */
function rate(report: SinkReport): number {
  if (!report.firstAt || !report.lastAt || report.messages < 2) return NaN;
  return ((report.messages - 1) * 1000) / Math.max(1, report.lastAt - report.firstAt);
}

function checkDelivery(report: SinkReport, expected: string[], failures: string[], label: string): void {
  const seen = new Set(report.seen);
  const lost = expected.filter((id) => !seen.has(id));
  const unexpected = report.seen.filter((id) => !expected.includes(id));
  if (lost.length > 0) failures.push(`${label}: ${lost.length} message(s) lost, e.g. ids ${lost.slice(0, 5).join(', ')}`);
  if (report.duplicates.length > 0) failures.push(`${label}: ${report.duplicates.length} id(s) delivered more than once, e.g. ${report.duplicates.slice(0, 5).map(([id, n]) => `${id}×${n}`).join(', ')}`);
  if (unexpected.length > 0) failures.push(`${label}: ${unexpected.length} unexpected id(s), e.g. ${unexpected.slice(0, 5).join(', ')}`);
}

async function startSink() {
  const child: ChildProcess = fork(path.join(__dirname, 'smtp-sink.ts'), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the SMTP sink exited with ${code}`)));
    child.on('message', (m: { type: string; port?: number }) => m.type === 'listening' && resolve(m.port as number));
  });
  const request = (message: SinkRequest) =>
    new Promise<{ type: string; report?: SinkReport }>((resolve) => {
      const onMessage = (m: { type: string; report?: SinkReport }) => {
        if (m.type === message.type) {
          child.off('message', onMessage);
          resolve(m);
        }
      };
      child.on('message', onMessage);
      child.send(message);
    });
  return {
    port,
    url: `smtp://127.0.0.1:${port}?ignoreTLS=true`,
    request,
    report: async () => (await request({ type: 'report' })).report as SinkReport,
    close: async () => {
      child.removeAllListeners('exit');
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.send({ type: 'close' });
      await exited;
    },
  };
}

async function adminQuery(target: URL, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: target.toString() });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
