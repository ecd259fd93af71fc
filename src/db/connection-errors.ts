/** Socket-level failures: the server is down, restarting, or unreachable for now. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'EAI_AGAIN']);

/**
 * SQLSTATEs of a server that is going away or not yet back: class 08 (connection exception),
 * 57P01 admin shutdown (restart, pg_terminate_backend), 57P02 crash shutdown, 57P03 "the database
 * system is starting up / shutting down", 53300 too many connections (a failover's reconnect storm).
 */
const SQLSTATES = /^(08...|57P0[123]|53300)$/;

/** Messages node-postgres gives a connection that died or never came up, with no code. */
const MESSAGES = /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|server closed the connection/i;

/**
 * Whether an error says the database connection was lost or could not be made, rather than that
 * a statement was wrong: the first is worth retrying once the server is back, the second never.
 */
export function isConnectionLoss(error: unknown): boolean {
  const e = (error ?? {}) as { code?: unknown; message?: unknown; errors?: unknown[] };
  if (typeof e.code === 'string' && (NETWORK_CODES.has(e.code) || SQLSTATES.test(e.code))) return true;
  // An AggregateError from a host name that resolves to several addresses.
  if (Array.isArray(e.errors) && e.errors.some(isConnectionLoss)) return true;
  return typeof e.message === 'string' && MESSAGES.test(e.message);
}
