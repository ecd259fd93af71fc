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
    ['DATABASE_URL', 'mysql://x', /DATABASE_URL must be a URL of the form postgres:/],
    ['SMTP_URL', 'http://mail', /SMTP_URL must be a URL of the form smtp:\/\/host:port/],
    ['SMTP_URL', 'smtp://user:secret@127.0.0.1:99999', /SMTP_URL has a port that is not a number from 1 to 65535/],
    ['SMTP_URL', 'smtp://127.0.0.1:0', /SMTP_URL has a port/],
    ['SMTP_URL', 'smtp://:25', /SMTP_URL must/],
    ['REDIS_URL', 'redis://127.0.0.1:65536', /REDIS_URL has a port/],
    ['REDIS_URL', 'redis//127.0.0.1', /REDIS_URL must be a URL/],
    ['REDIS_URL', 'redis://', /REDIS_URL must/],
    ['DATABASE_URL', 'postgres://u:pw@:5432/x', /DATABASE_URL must/],
    ['DATABASE_URL', 'postgres://u:p%zz@host/x', /DATABASE_URL/],
    ['SALES_EMAIL', 'sales', /SALES_EMAIL must be an email address/],
    ['QUEUE_PREFIX', 'a:b', /QUEUE_PREFIX may hold/],
    ['SCAN_CRON', 'daily', /SCAN_CRON must be a cron pattern/],
  ])('names the bad variable %s=%s in one line', (name, value, message) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(message);
  });

  it('accepts the connection URLs operators write, a PostgreSQL socket path included', () => {
    const config = loadConfig({
      DATABASE_URL: 'postgresql:///reminders?host=/var/run/postgresql',
      REDIS_URL: 'rediss://:p%40ss@redis.internal:6380/2',
      SMTP_URL: 'smtps://user:p%2Fw@smtp.example.com:465',
    });
    expect(config.smtpUrl).toBe('smtps://user:p%2Fw@smtp.example.com:465');
    expect(loadConfig({ SMTP_URL: 'smtp://127.0.0.1:2525?ignoreTLS=true' }).smtpUrl).toContain('2525');
  });

  it.each(['smtp://user:secret@127.0.0.1:99999', 'smtp://user:secret@:25', 'postgres://user:secret@host:port/db', 'redis://:secret@127.0.0.1:0'])(
    'never shows the password of a bad URL (%s)',
    (value) => {
      for (const name of ['SMTP_URL', 'DATABASE_URL', 'REDIS_URL']) {
        let message = '';
        try {
          loadConfig({ [name]: value });
        } catch (error) {
          message = (error as Error).message;
        }
        if (message) {
          expect(message).not.toContain('secret');
          expect(message.split('\n')).toHaveLength(1);
          expect(message).toContain(name);
        }
      }
    },
  );

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
