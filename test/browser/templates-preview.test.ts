import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { loadConfig } from '../../src/config';
import { type PreviewServer, startPreviewServer } from '../../src/render/preview-server';
import { launchBrowser, saveScreenshot } from '../helpers/browser';

const TEMPLATES = path.resolve(__dirname, '../../templates');

let dir: string;
let server: PreviewServer;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'templates-preview-'));
  cpSync(TEMPLATES, dir, { recursive: true });
  const config = loadConfig({ TEMPLATES_DIR: dir, UNSUBSCRIBE_SECRET: 'test-unsubscribe-secret' });
  server = await startPreviewServer({ config, port: 0, host: '127.0.0.1' });
  browser = await launchBrowser();
  page = await browser.newPage();
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

it('lists every variant and shows the selected one at desktop and mobile width with its text', async () => {
  await page.goto(`${server.url}?v=maintenance/de/30`);
  const variants = await page.locator('nav a[data-variant]').evaluateAll((links) => links.map((a) => a.getAttribute('data-variant')));
  const expected = ['annual', 'maintenance'].flatMap((family) => ['en', 'de', 'es', 'fr', 'ja'].flatMap((locale) => ['90', '60', '30', '14', '7', '0', 'expired'].map((v) => `${family}/${locale}/${v}`)));
  expect([...variants].sort()).toEqual([...expected].sort());

  expect(await page.locator('#subject').textContent()).toBe('Ihr Support- und Wartungsvertrag endet in 30 Tagen');
  for (const [id, width] of [['desktop', 700], ['mobile', 375]] as const) {
    const frame = page.frameLocator(`#${id}`);
    await frame.locator('text=Renew Support and Maintenance').first().waitFor();
    expect(await frame.locator('title').textContent()).toBe('Ihr Support- und Wartungsvertrag endet in 30 Tagen');
    expect(await frame.locator('body').innerText()).toContain('Noch 30 Tage Support & Wartung');
    expect(await page.locator(`#${id}`).getAttribute('width')).toBe(String(width));
  }
  expect(await page.locator('#text').textContent()).toContain('Guten Tag Anna Schmidt,');
  await saveScreenshot(page, 'templates-preview');

  await page.locator('nav a[data-variant="annual/en/expired"]').click();
  await page.waitForURL(/annual%2Fen%2Fexpired/);
  expect(await page.locator('#subject').textContent()).toBe('Your 2 annual licenses have expired');
});

it('reloads when a template is saved and shows its errors instead of the email', async () => {
  await page.goto(`${server.url}?v=annual/en/30`);
  expect(await page.locator('#subject').textContent()).toBe('Your 2 annual licenses expire in 30 days');

  const file = path.join(dir, 'annual/en.mjml');
  const good = readFileSync(file, 'utf8');
  writeFileSync(file, good.replace('## intro 30\n', '## intro 30\n<mj-text>{{renewLink}}\n'));
  const problems = page.locator('#problems');
  await problems.waitFor({ timeout: 15_000 });
  const text = await problems.innerText();
  expect(text).toMatch(/annual\/en\.mjml:\d+: unknown variable "renewLink"/);
  expect(text).toMatch(/annual\/en\.mjml:\d+: <mj-text> is not closed/);

  writeFileSync(file, good.replace('## subject\n', '## subject\nFixed: '));
  await page.locator('#subject', { hasText: 'Fixed: Your 2 annual licenses expire in 30 days' }).waitFor({ timeout: 15_000 });
});

it('marks the broken variants in the list', async () => {
  await page.goto(`${server.url}?v=annual/en/30`);
  await page.locator('#status[data-broken="0"]').waitFor({ timeout: 60_000 });
  expect(await page.locator('nav a.broken').count()).toBe(0);

  const file = path.join(dir, 'maintenance/de.mjml');
  const good = readFileSync(file, 'utf8');
  writeFileSync(file, good.replace('## intro 7\n', '## intro 7\n<mj-text>{{renewLink}}</mj-text>\n'));
  try {
    await page.reload();
    await page.locator('#status[data-broken="1"]').waitFor({ timeout: 60_000 });
    const broken = page.locator('nav a.broken');
    expect(await broken.getAttribute('data-variant')).toBe('maintenance/de/7');
    expect(await broken.textContent()).toMatch(/7 days ⚠ broken/);
    expect(await broken.getAttribute('title')).toMatch(/maintenance\/de\.mjml:\d+: unknown variable "renewLink"/);
  } finally {
    writeFileSync(file, good);
  }
});
