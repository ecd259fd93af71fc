/** The shared PostgreSQL server's admin URL; runs create and drop a database of their own there. */
export const ADMIN_URL = process.env.TEST_ADMIN_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
/** The shared Redis, for topologies that vary only the database side (each run has its own queue prefix). */
export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
