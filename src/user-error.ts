/** A mistake the user can fix (bad argument, unknown id or key): the command line prints it as one line, exit code 2. */
export class UserError extends Error {
  override name = 'UserError';
}
