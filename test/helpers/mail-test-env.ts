import { type SmtpTestServer, startSmtpServer } from './smtp';
import { createTestEnv, type TestEnv } from './test-env';

/**
 * Registers the hooks of a test file that sends mail: an SMTP server and a test environment
 * pointed at it before all tests, both removed after, and an empty ledger, queue and mailbox
 * before each. `ready` receives them once they exist.
 */
export function useMailTestEnv(
  name: string,
  overrides: Record<string, string>,
  ready: (t: TestEnv, smtp: SmtpTestServer) => void | Promise<void>,
  options: { resetEachTest?: boolean } = {},
): void {
  let t: TestEnv | undefined;
  let smtp: SmtpTestServer | undefined;
  beforeAll(async () => {
    smtp = await startSmtpServer();
    t = await createTestEnv(name, { SMTP_URL: smtp.url, SEND_RATE_PER_SEC: '1000', ...overrides });
    await ready(t, smtp);
  });
  afterAll(async () => {
    await t?.cleanup();
    await smtp?.close();
  });
  afterEach(() => {
    // An assertion that failed inside an SMTP hook fails the test that set the hook.
    const errors = smtp?.hookErrors.splice(0) ?? [];
    if (errors.length > 0) throw errors[0];
  });
  if (options.resetEachTest ?? true) {
    beforeEach(async () => {
      await t?.reset();
      smtp?.clear();
    });
  }
}
