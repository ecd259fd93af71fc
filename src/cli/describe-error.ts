import { inspect } from 'node:util';
import { maskUrlCredentials } from '../redact';

/**
 * The errors that are the user's to fix, by class name (ConfigError, UserError,
 * ServiceUnavailableError): matched by name so that every command's start does not load zod and
 * kysely just to be able to report them.
 */
const USER_FIXABLE = new Set(['ConfigError', 'UserError', 'ServiceUnavailableError']);

/**
 * Turns a failure into the one line a user reads; null for anything unexpected, which the
 * caller prints with its stack.
 */
export function describeError(error: unknown): string | null {
  if (!(error instanceof Error)) return null;
  if (USER_FIXABLE.has(error.name)) return maskUrlCredentials(error.message);
  // On the command line a broken template is the user's to fix (the worker records it as failed).
  if (error.name === 'TemplateError') return `template error: ${error.message}`;
  const code = (error as { code?: string }).code;
  if (code === '42P01') return `The database has no reminder tables yet: run \`reminders migrate\` first (${maskUrlCredentials(error.message)}).`;
  return null;
}

/** An unexpected failure with its stack, for a bug report, with the passwords of URLs in it hidden. */
export function describeUnexpectedError(error: unknown): string {
  return `unexpected error: ${maskUrlCredentials(inspect(error, { depth: 4 }))}`;
}
