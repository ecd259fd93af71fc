import type { Kysely } from 'kysely';
import { CONSOLE_ROLES, type ConsoleRole, type Database } from '../db/types';
import { UserError } from '../user-error';
import { isDeliverableAddress } from '../send/address';
import { hashPassword, passwordProblem } from './passwords';

export interface ConsoleUser {
  name: string;
  role: ConsoleRole;
  email: string | null;
  createdAt: Date;
  passwordChangedAt: Date;
}

/** Who may do what: viewers read; operators act on reminders; marketing edits templates; admins do all. */
export const CAN = {
  act: (role: ConsoleRole) => role === 'operator' || role === 'admin',
  editTemplates: (role: ConsoleRole) => role === 'marketing' || role === 'admin',
  queueDashboard: (role: ConsoleRole) => role === 'operator' || role === 'admin',
};

export function parseRole(value: string): ConsoleRole {
  const role = value.trim().toLowerCase();
  if (!(CONSOLE_ROLES as readonly string[]).includes(role)) throw new UserError(`--role must be one of ${CONSOLE_ROLES.join(', ')}, got "${value}"`);
  return role as ConsoleRole;
}

/** Account names: what people type on the sign-in page and what the audit trail shows. */
export function checkUserName(value: string): string {
  const name = value.trim();
  if (!/^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/.test(name)) {
    throw new UserError(`"${value}" is not a usable account name: 1 to 64 letters, digits, '.', '_', '-' or '@', starting with a letter or digit`);
  }
  return name;
}

function checkPassword(password: string): string {
  const problem = passwordProblem(password);
  if (problem) throw new UserError(problem);
  return password;
}

/** An account's email address, checked; the account name itself when it is one and none is given. */
function checkEmail(value: string | undefined): string | null {
  if (value === undefined) return null;
  const email = value.trim();
  if (!isDeliverableAddress(email)) throw new UserError(`"${value}" is not an email address`);
  return email;
}

export async function addUser(db: Kysely<Database>, name: string, role: ConsoleRole, password: string, options: { email?: string } = {}): Promise<void> {
  const user = checkUserName(name);
  const email = checkEmail(options.email);
  const hash = await hashPassword(checkPassword(password));
  const inserted = await db
    .insertInto('console_users')
    .values({ name: user, role, password_hash: hash, email })
    .onConflict((oc) => oc.column('name').doNothing())
    .returning('name')
    .executeTakeFirst();
  if (!inserted) throw new UserError(`account ${user} already exists: \`reminders users passwd ${user}\` changes its password`);
}

/** A new password ends every session of the account. */
export async function setPassword(db: Kysely<Database>, name: string, password: string): Promise<void> {
  const hash = await hashPassword(checkPassword(password));
  await db.transaction().execute(async (trx) => {
    const updated = await trx
      .updateTable('console_users')
      .set({ password_hash: hash, password_changed_at: new Date() })
      .where('name', '=', name)
      .returning('name')
      .executeTakeFirst();
    if (!updated) throw new UserError(`no account named ${name} (see \`reminders users list\`)`);
    await trx.deleteFrom('console_sessions').where('user_name', '=', name).execute();
  });
}

/** Sets (or, with null, clears) the address the template editor sends this person's tests to. */
export async function setEmail(db: Kysely<Database>, name: string, email: string | null): Promise<void> {
  const checked = email === null ? null : checkEmail(email);
  const updated = await db.updateTable('console_users').set({ email: checked }).where('name', '=', name).returning('name').executeTakeFirst();
  if (!updated) throw new UserError(`no account named ${name} (see \`reminders users list\`)`);
}

/** Where "send a test to myself" goes: the account's address, else its name when that is an address. */
export async function emailOf(db: Kysely<Database>, name: string): Promise<string | null> {
  const row = await db.selectFrom('console_users').select(['name', 'email']).where('name', '=', name).executeTakeFirst();
  if (!row) return null;
  if (row.email) return row.email;
  return isDeliverableAddress(row.name) ? row.name : null;
}

/** Removes the account and its sessions (the audit trail keeps its name). */
export async function removeUser(db: Kysely<Database>, name: string): Promise<void> {
  const removed = await db.deleteFrom('console_users').where('name', '=', name).returning('name').executeTakeFirst();
  if (!removed) throw new UserError(`no account named ${name} (see \`reminders users list\`)`);
}

export async function listUsers(db: Kysely<Database>): Promise<ConsoleUser[]> {
  const rows = await db.selectFrom('console_users').select(['name', 'role', 'email', 'created_at', 'password_changed_at']).orderBy('name').execute();
  return rows.map((r) => ({ name: r.name, role: r.role, email: r.email, createdAt: r.created_at, passwordChangedAt: r.password_changed_at }));
}

export async function countUsers(db: Kysely<Database>): Promise<number> {
  const { n } = await db.selectFrom('console_users').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
  return Number(n);
}
