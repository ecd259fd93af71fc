import { createHash, randomBytes } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import type { ConsoleRole, Database } from '../db/types';
import { decoyHash, verifyPassword } from './passwords';

export const SESSION_COOKIE = 'reminders_console';

export interface Session {
  id: string;
  userName: string;
  role: ConsoleRole;
  csrfToken: string;
  expiresAt: Date;
}

/** Failed sign-ins that lock an account name, or an address, for the rest of the window. */
export const SIGN_IN_LIMITS = { perUser: 5, perAddress: 20, windowMinutes: 15 } as const;

const sessionId = (token: string) => createHash('sha256').update(token).digest('base64url');

/** Starts a session; the returned token goes in the cookie, only its hash is stored. */
export async function createSession(db: Kysely<Database>, userName: string, hours: number): Promise<{ token: string; expiresAt: Date }> {
  const token = randomBytes(32).toString('base64url');
  const expiresAt = new Date(Date.now() + hours * 3600_000);
  await db
    .insertInto('console_sessions')
    .values({ id: sessionId(token), user_name: userName, csrf_token: randomBytes(24).toString('base64url'), expires_at: expiresAt })
    .execute();
  // Expired sessions of anyone go when someone signs in: the table stays small without a job.
  await db.deleteFrom('console_sessions').where('expires_at', '<', sql<Date>`now()`).execute();
  return { token, expiresAt };
}

/** The live session a cookie names, with the account's current role; null when expired or unknown. */
export async function readSession(db: Kysely<Database>, token: string | undefined): Promise<Session | null> {
  if (!token || token.length > 100) return null;
  const row = await db
    .selectFrom('console_sessions')
    .innerJoin('console_users', 'console_users.name', 'console_sessions.user_name')
    .select(['console_sessions.id', 'console_sessions.user_name', 'console_sessions.csrf_token', 'console_sessions.expires_at', 'console_users.role'])
    .where('console_sessions.id', '=', sessionId(token))
    .where('console_sessions.expires_at', '>', sql<Date>`now()`)
    .executeTakeFirst();
  if (!row) return null;
  return { id: row.id, userName: row.user_name, role: row.role, csrfToken: row.csrf_token, expiresAt: row.expires_at };
}

export async function endSession(db: Kysely<Database>, token: string | undefined): Promise<void> {
  if (token) await db.deleteFrom('console_sessions').where('id', '=', sessionId(token)).execute();
}

export type SignInResult = { ok: true; userName: string } | { ok: false; reason: 'wrong' | 'locked' };

/**
 * Checks a name and password. Too many failures for the name or from the address within the
 * window refuse further tries (even right ones) until the window has passed; an unknown name
 * costs the same scrypt as a known one, so timing does not tell which names exist.
 */
export async function signIn(db: Kysely<Database>, name: string, password: string, address: string): Promise<SignInResult> {
  const userName = name.trim().slice(0, 64);
  const since = sql<Date>`now() - ${`${SIGN_IN_LIMITS.windowMinutes} minutes`}::interval`;
  const [byUser, byAddress] = await Promise.all([
    db.selectFrom('console_sign_in_failures').select((eb) => eb.fn.countAll<string>().as('n')).where('user_name', '=', userName).where('at', '>', since).executeTakeFirstOrThrow(),
    db.selectFrom('console_sign_in_failures').select((eb) => eb.fn.countAll<string>().as('n')).where('address', '=', address).where('at', '>', since).executeTakeFirstOrThrow(),
  ]);
  if (Number(byUser.n) >= SIGN_IN_LIMITS.perUser || Number(byAddress.n) >= SIGN_IN_LIMITS.perAddress) return { ok: false, reason: 'locked' };
  const user = await db.selectFrom('console_users').select(['name', 'password_hash']).where('name', '=', userName).executeTakeFirst();
  const matches = await verifyPassword(password, user?.password_hash ?? (await decoyHash()));
  if (user && matches) return { ok: true, userName: user.name };
  await db.insertInto('console_sign_in_failures').values({ user_name: userName, address }).execute();
  await db.deleteFrom('console_sign_in_failures').where('at', '<', sql<Date>`now() - interval '1 day'`).execute();
  return { ok: false, reason: 'wrong' };
}

/** The role of an account named by a trusted proxy, or null when no such account exists. */
export async function roleOf(db: Kysely<Database>, userName: string): Promise<ConsoleRole | null> {
  const row = await db.selectFrom('console_users').select('role').where('name', '=', userName).executeTakeFirst();
  return row?.role ?? null;
}
