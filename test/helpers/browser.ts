import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { type Browser, chromium, type Page } from 'playwright-core';

/**
 * The browser the browser tests drive. `CHROMIUM_PATH` (e.g. the path of Debian's chromium package) wins;
 * otherwise the headless Chromium that the npm package @sparticuz/chromium ships in its tarball,
 * so `npm ci && npm test` needs no system package and downloads nothing but npm packages.
 *
 * The package unpacks to fixed paths under /tmp (/tmp/chromium, /tmp/fonts, /tmp/libEGL.so…),
 * where two versions on one machine, or two test files unpacking at once, break each other. So
 * it is unpacked here by a child process whose TMPDIR is a staging folder, and the finished
 * folder is renamed into a place named after the package's version: the rename is atomic, so
 * parallel test files either win it or use the winner's copy, and never see half a browser.
 */
export async function launchBrowser(): Promise<Browser> {
  const configured = process.env.CHROMIUM_PATH;
  if (configured) {
    if (!existsSync(configured)) throw new Error(`CHROMIUM_PATH is ${configured}, which does not exist`);
    return chromium.launch({
      executablePath: configured,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
  }
  const { executablePath, fontConfig, args } = await unpackedChromium();
  return chromium.launch({
    executablePath,
    args,
    env: { ...process.env, FONTCONFIG_FILE: fontConfig, HOME: path.dirname(executablePath) },
  });
}

let unpacking: Promise<{ executablePath: string; fontConfig: string; args: string[] }> | undefined;

function unpackedChromium() {
  unpacking ??= unpack();
  return unpacking;
}

async function unpack(): Promise<{ executablePath: string; fontConfig: string; args: string[] }> {
  const sparticuz = require('@sparticuz/chromium') as { args: string[] };
  // The package's exports hide its package.json: read it beside the entry point.
  const packageDir = path.resolve(path.dirname(require.resolve('@sparticuz/chromium')), '../..');
  const { version } = JSON.parse(readFileSync(path.join(packageDir, 'package.json'), 'utf8')) as { version: string };
  const home = path.join(tmpdir(), `reminders-chromium-${version}`);
  const executablePath = path.join(home, 'chromium');
  const fontConfig = path.join(home, 'fonts.conf');
  // The package's own args, less `--headless='shell'` (playwright passes its own headless flag) and
  // `--single-process` (for serverless hosts; here closing one browser context would end them all).
  const args = sparticuz.args.filter((arg) => !arg.startsWith('--headless') && arg !== '--single-process');
  if (existsSync(fontConfig)) return { executablePath, fontConfig, args };

  mkdirSync(path.dirname(home), { recursive: true });
  const staging = mkdtempSync(`${home}.unpacking-`);
  try {
    await promisify(execFile)(process.execPath, ['-e', "require('@sparticuz/chromium').executablePath().then(() => undefined)"], {
      env: { ...process.env, TMPDIR: staging },
      cwd: path.resolve(__dirname, '../..'),
    });
    // The shipped fonts.conf names /tmp/fonts; this one names the fonts where they will be.
    writeFileSync(
      path.join(staging, 'fonts.conf'),
      `<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n<fontconfig>\n  <dir>${home}/fonts</dir>\n  <cachedir>${home}/fonts-cache</cachedir>\n</fontconfig>\n`,
    );
    try {
      renameSync(staging, home);
    } catch (error) {
      // Another test file finished first: its copy is complete (the rename is atomic), use it.
      if (!existsSync(fontConfig)) throw error;
    }
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  return { executablePath, fontConfig, args };
}

/** Where the browser tests leave their screenshots (gitignored), for a person to look at. */
export const SCREENSHOTS_DIR = path.resolve(__dirname, '../../test-artifacts/screenshots');

/** Saves a full-page screenshot as test-artifacts/screenshots/NAME.png and returns its path. */
export async function saveScreenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOTS_DIR, { recursive: true });
  const file = path.join(SCREENSHOTS_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
