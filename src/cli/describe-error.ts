import { inspect } from 'node:util';
import { ConfigError } from '../config';
import { TemplateError } from '../render/types';
import { ServiceUnavailableError } from '../service-checks';
import { maskUrlCredentials } from '../redact';
import { UserError } from '../user-error';

/**
 * Turns a failure into the one line a user reads; null for anything unexpected, which the
 * caller prints with its stack.
 */
export function describeError(error: unknown): string | null {
  if (error instanceof ConfigError || error instanceof UserError || error instanceof ServiceUnavailableError) return maskUrlCredentials(error.message);
  // On the command line a broken template is the user's to fix (the worker records it as failed).
  if (error instanceof TemplateError) return `template error: ${error.message}`;
  const code = (error as { code?: string } | null)?.code;
  if (code === '42P01') return `The database has no reminder tables yet: run \`reminders migrate\` first (${maskUrlCredentials((error as Error).message)}).`;
  return null;
}

/** An unexpected failure with its stack, for a bug report, with the passwords of URLs in it hidden. */
export function describeUnexpectedError(error: unknown): string {
  return `unexpected error: ${maskUrlCredentials(inspect(error, { depth: 4 }))}`;
}
