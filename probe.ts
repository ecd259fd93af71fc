import { createRenderer } from './src/render/renderer';
import { createLogger } from './src/logger';
import { loadConfig } from './src/config';
import { loadSampleData, sampleInput } from './src/render/sample-data';
const a: string[] = require('cldr-core/availableLocales.json').availableLocales.full;
(async () => {
  const config = loadConfig();
  const r = createRenderer(config, createLogger('silent'), { guard: { config } });
  const sample = loadSampleData(config.templatesDir);
  const locales = Intl.DateTimeFormat.supportedLocalesOf(a).slice(0, 100);
  const t0 = Date.now(); let fails = 0;
  const cpu0 = process.cpuUsage();
  for (const locale of locales) for (const kind of ['license','maintenance'] as const) for (const v of [90,60,30,14,7,0,'expired'] as const) {
    try { await r.render(sampleInput(config, sample, { kind, offset: v === 'expired' ? 0 : v, expired: v === 'expired', locale })); } catch (e) { fails++; }
  }
  console.log(locales.length, 'fails', fails, 'ms', Date.now() - t0, 'cpu', process.cpuUsage(cpu0), r.stats());
})();
