import pg from 'pg';
import { randomBytes } from 'node:crypto';
import { createPgliteDatabase } from '../../src/db/pglite-database.js';
import { createPostgresDatabase } from '../../src/db/postgres-database.js';
import type { Database } from '../../src/db/port.js';

/**
 * The database backends every contract and API suite runs against. PGlite always; a PostgreSQL
 * server when one answers at RIVYA_TEST_DATABASE_URL (default: the local server). Under CI the
 * server is required: a missing one fails the run instead of skipping.
 */
export interface TestBackend {
  name: 'pglite' | 'postgres';
  /** A fresh, empty database, and how to drop it. */
  create(): Promise<{ db: Database; url: string | null; drop(): Promise<void> }>;
}

const SERVER_URL = process.env['RIVYA_TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';

async function serverAvailable(): Promise<boolean> {
  const client = new pg.Client({ connectionString: SERVER_URL, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

/** Creates a throwaway database on the server and returns its URL. */
export async function createServerDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `rivya_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: SERVER_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(SERVER_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const client = new pg.Client({ connectionString: SERVER_URL });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  };
}

const pglite: TestBackend = {
  name: 'pglite',
  async create() {
    const db = await createPgliteDatabase({});
    return { db, url: null, drop: async () => {} };
  },
};

const postgres: TestBackend = {
  name: 'postgres',
  async create() {
    const server = await createServerDatabase();
    const db = await createPostgresDatabase({ connectionString: server.url, maxConnections: 20 });
    return {
      db,
      url: server.url,
      async drop() {
        await db.close();
        await server.drop();
      },
    };
  },
};

const hasServer = await serverAvailable();
if (!hasServer) {
  if (process.env['CI']) {
    throw new Error(`CI requires PostgreSQL at ${SERVER_URL} (set RIVYA_TEST_DATABASE_URL); it did not answer.`);
  }
  console.warn(`[rivya tests] PostgreSQL at ${SERVER_URL} did not answer: the postgres backend suites are SKIPPED.`);
}

/** Backends to run suites on; PostgreSQL is listed only when it answers. */
export const BACKENDS: TestBackend[] = hasServer ? [pglite, postgres] : [pglite];
export const POSTGRES_AVAILABLE = hasServer;
export const POSTGRES_URL = SERVER_URL;

const REDIS_URL = process.env['RIVYA_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';

async function redisAvailable(): Promise<boolean> {
  const { Redis } = await import('ioredis');
  const client = new Redis(REDIS_URL, { lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => {});
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

const hasRedis = await redisAvailable();
if (!hasRedis) {
  if (process.env['CI']) throw new Error(`CI requires Redis at ${REDIS_URL} (set RIVYA_TEST_REDIS_URL); it did not answer.`);
  console.warn(`[rivya tests] Redis at ${REDIS_URL} did not answer: the redis backend suites are SKIPPED.`);
}
export const REDIS_AVAILABLE = hasRedis;
export const TEST_REDIS_URL = REDIS_URL;
