import { Writable } from 'node:stream';
import pino from 'pino';
import { loadConfig, secretsOf } from '../../src/config';
import { serializeError } from '../../src/logger';
import { maskCredentials, maskUrlCredentials } from '../../src/redact';
import { displayName, NAME_DISPLAY_MAX } from '../../src/render/template-data';

describe('masking credentials', () => {
  it.each([
    ['smtp://user:secret@127.0.0.1:99999', 'smtp://user:***@127.0.0.1:99999'],
    ["input: 'smtp://user:secret@127.0.0.1:99999'", "input: 'smtp://user:***@127.0.0.1:99999'"],
    ['postgres://app:s3cr/et@db/x', 'postgres://app:***@db/x'],
    ['postgres://a:p@ss@db', 'postgres://a:***@db'],
    ['redis://:pw@h:6379/0 then more', 'redis://:***@h:6379/0 then more'],
    ['{"url":"postgres://u:p%40x@h/db"}', '{"url":"postgres://u:***@h/db"}'],
  ])('hides the password in %s', (text, masked) => {
    expect(maskUrlCredentials(text)).toBe(masked);
  });

  it.each(['postgres://postgres@127.0.0.1:5432/x', 'mailto:a@b.com', 'https://portal.example.com/renew?x=1', 'no url here'])('leaves %s alone', (text) => {
    expect(maskUrlCredentials(text)).toBe(text);
  });

  it('masks known secret values wherever they appear, also URL-encoded', () => {
    expect(maskCredentials('token=abc/def+1 and abc%2Fdef%2B1', ['abc/def+1'])).toBe('token=*** and ***');
  });

  it('collects the secrets of a configuration: tokens and URL passwords', () => {
    const config = loadConfig({
      DATABASE_URL: 'postgres://app:db-pass-1@127.0.0.1/x',
      REDIS_URL: 'redis://:redis-pass-2@127.0.0.1:6379',
      SMTP_URL: 'smtp://mailer:smtp%40pass@127.0.0.1:25',
      ADMIN_TOKEN: 'admin-token-3',
      UNSUBSCRIBE_SECRET: 'unsubscribe-secret-4-long',
    });
    expect(secretsOf(config)).toEqual(expect.arrayContaining(['db-pass-1', 'redis-pass-2', 'smtp@pass', 'admin-token-3', 'unsubscribe-secret-4-long']));
  });

  it('the error serializer hides URL passwords in message, stack and fields', () => {
    let error: unknown;
    try {
      new URL('smtp://user:secret@127.0.0.1:99999');
    } catch (e) {
      error = e;
    }
    const serialized = JSON.stringify(serializeError(error));
    expect(serialized).toContain('Invalid URL');
    expect(serialized).not.toContain('secret');
  });

  it('a logger built with secrets never writes them, in any field', () => {
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(chunk.toString()), done()) });
    // The masking options of createLogger, written to memory instead of a file descriptor.
    const logger = pino(
      { redact: { paths: ['*.password'], censor: '[redacted]' }, serializers: { err: serializeError }, hooks: { streamWrite: (s) => maskCredentials(s, ['admin-token-3']) } },
      sink,
    );
    logger.info({ header: 'Bearer admin-token-3', url: 'smtp://u:pw1234@h:25', err: new Error('connect smtp://u:pw1234@h:25') }, 'token admin-token-3');
    const out = lines.join('');
    expect(out).not.toMatch(/admin-token-3|pw1234/);
    expect(out).toContain('smtp://u:***@h:25');
  });
});

describe('names shown in an email', () => {
  it(`cuts a name longer than ${NAME_DISPLAY_MAX} characters and keeps it on one line`, () => {
    const shown = displayName(`Acme\r\nBcc: x@example.com ${'x'.repeat(10_000)}`);
    expect(Array.from(shown).length).toBeLessThanOrEqual(NAME_DISPLAY_MAX);
    expect(shown).toMatch(/^Acme Bcc: x@example.com x+…$/);
    expect(displayName('Anna Schmidt')).toBe('Anna Schmidt');
    // Never half a surrogate pair.
    expect(displayName('😀'.repeat(200))).toBe(`${'😀'.repeat(NAME_DISPLAY_MAX - 1)}…`);
  });
});
