import { ConfigError, loadConfig } from '../../src/config';

describe('configuration', () => {
  it('has a working local default for every variable', () => {
    const config = loadConfig({});
    expect(config.offsets).toEqual([90, 60, 30, 14, 7, 0]);
    expect(config).toMatchObject({ timezone: 'UTC', catchupDays: 3, queuePrefix: 'reminders', smtpUrl: '', httpHost: '127.0.0.1' });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('treats empty values as unset and sorts offsets', () => {
    const config = loadConfig({ REMINDER_OFFSETS: '7, 90,0 ,30', CATCHUP_DAYS: '', SMTP_URL: '' });
    expect(config.offsets).toEqual([90, 30, 7, 0]);
    expect(config.catchupDays).toBe(3);
  });

  it.each([
    ['REMINDER_TIMEZONE', 'Mars/Olympus', /REMINDER_TIMEZONE must be an IANA time zone/],
    ['REMINDER_OFFSETS', '90,sixty', /REMINDER_OFFSETS must be a comma-separated list/],
    ['REMINDER_OFFSETS', '30,30', /REMINDER_OFFSETS must not repeat/],
    ['CATCHUP_DAYS', '-1', /CATCHUP_DAYS/],
    ['SEND_ATTEMPTS', 'three', /SEND_ATTEMPTS must be a whole number/],
    ['DATABASE_URL', 'mysql://x', /DATABASE_URL must be a URL starting with postgres:/],
    ['SMTP_URL', 'http://mail', /SMTP_URL must be empty/],
    ['SALES_EMAIL', 'sales', /SALES_EMAIL must be an email address/],
    ['QUEUE_PREFIX', 'a:b', /QUEUE_PREFIX may hold/],
    ['SCAN_CRON', 'daily', /SCAN_CRON must be a cron pattern/],
  ])('names the bad variable %s=%s in one line', (name, value, message) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(message);
  });

  it('requires UNSUBSCRIBE_SECRET once unsubscribe links leave this machine', () => {
    expect(() => loadConfig({ PUBLIC_URL: 'https://reminders.example.com' })).toThrow(/UNSUBSCRIBE_SECRET must be set/);
    expect(loadConfig({ PUBLIC_URL: 'https://reminders.example.com', UNSUBSCRIBE_SECRET: 'a'.repeat(32) }).unsubscribeSecret).toBe('a'.repeat(32));
    expect(() => loadConfig({ UNSUBSCRIBE_SECRET: 'short' })).toThrow(/at least 16 characters/);
    expect(() => loadConfig({ UNSUBSCRIBE_SECRET: 'short' })).not.toThrow(/short/);
    expect(() => loadConfig({ HTTP_HOST: '0.0.0.0' })).toThrow(/UNSUBSCRIBE_SECRET must be set/);
    for (const url of ['mysql://u:hunter2@db/x', 'mysql://app:s3cr/et@db', 'mysql://a:p@ss@db', 'smtp:/user:pw@mail']) {
      expect(() => loadConfig({ DATABASE_URL: url, SMTP_URL: url })).not.toThrow(/hunter2|s3cr|et@|p@ss|pw/);
    }
  });
});
