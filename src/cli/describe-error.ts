import { ConfigError } from '../config';
import { TemplateError } from '../render/types';
import { ServiceUnavailableError } from '../service-checks';
import { UserError } from '../user-error';

/**
 * Turns a failure into the one line a user reads; null for anything unexpected, which the
 * caller prints with its stack.
 */
export function describeError(error: unknown): string | null {
  if (error instanceof ConfigError || error instanceof UserError || error instanceof ServiceUnavailableError) return error.message;
  // On the command line a broken template is the user's to fix (the worker records it as failed).
  if (error instanceof TemplateError) return `template error: ${error.message}`;
  const code = (error as { code?: string } | null)?.code;
  if (code === '42P01') return `The database has no reminder tables yet: run \`reminders migrate\` first (${(error as Error).message}).`;
  return null;
}
