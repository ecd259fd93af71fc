/** A failure that retrying cannot fix: the queue worker hands it to BullMQ as an UnrecoverableError. */
export class PermanentJobError extends Error {
  override name = 'PermanentJobError';
}
