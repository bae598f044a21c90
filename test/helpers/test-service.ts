import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { afterAll, beforeAll } from 'vitest';
import { loadConfig, type Config } from '../../src/config.js';
import type { Provider } from '../../src/providers/port.js';
import { createRuntime, type Runtime, type RuntimeOptions } from '../../src/runtime.js';
import { createServerDatabase, type TestBackend } from './backends.js';
import { createGatedProvider } from './gated-provider.js';
import { freePort } from './serve-process.js';

export const ADMIN_TOKEN = 'test-admin-token';

export interface TestService {
  runtime: Runtime;
  /** The log lines written so far (JSON text), when started with `captureLogs`; else empty. */
  logs: string[];
  /** Creates an account with `credits` and a key for it. */
  newAccount(credits: number, limits?: Record<string, number>): Promise<{ accountId: string; key: string; auth: Record<string, string> }>;
  close(): Promise<void>;
}

/**
 * A fully wired service on `backend`, with a temporary data dir, the instant provider (unless
 * another is given), silent logs and an admin token. Workers run unless `worker: false`.
 */
export async function startTestService(
  backend: TestBackend,
  options: {
    env?: Record<string, string>;
    provider?: Provider;
    worker?: boolean;
    /** Join this PostgreSQL database (another service's) instead of making one: several processes on one store. */
    databaseUrl?: string;
    /** Listen on a free loopback port (its URL is the public URL): for upstreams that call back or fetch. */
    listen?: boolean;
    /** Told of every route the app registers. */
    onRoute?: RuntimeOptions['onRoute'];
    /** Keep every log line from this level up in `logs` (otherwise logs are silent). */
    captureLogs?: pino.Level;
    /** Test doubles of the webhook machinery: a resolver playing DNS, a shorter retry schedule, a clock. */
    webhooks?: Pick<RuntimeOptions, 'webhookResolver' | 'webhookRetryDelaysMs' | 'clock'>;
  } = {},
): Promise<TestService> {
  const dataDir = await mkdtemp(join(tmpdir(), 'rivya-test-'));
  const server = backend.name === 'postgres' && !options.databaseUrl ? await createServerDatabase() : null;
  const port = options.listen ? await freePort() : null;
  const config: Config = loadConfig({
    RIVYA_DATA_DIR: dataDir,
    RIVYA_ADMIN_TOKEN: ADMIN_TOKEN,
    RIVYA_PROVIDER: 'instant',
    RIVYA_SECRET: 'test-secret-test-secret-test-secret-0123',
    RIVYA_PUBLIC_URL: 'http://localhost:8080',
    RIVYA_SWEEP_INTERVAL_MS: '200',
    RIVYA_WORKER_CONCURRENCY: process.env['TEST_WORKER_CONCURRENCY'] ?? '4',
    ...(server ? { DATABASE_URL: server.url } : {}),
    ...(options.databaseUrl ? { DATABASE_URL: options.databaseUrl } : {}),
    ...(port ? { HOST: '127.0.0.1', PORT: String(port), RIVYA_PUBLIC_URL: `http://127.0.0.1:${port}` } : {}),
    ...options.env,
  });
  const logs: string[] = [];
  const logger = options.captureLogs
    ? pino({ level: options.captureLogs }, { write: (line: string) => void logs.push(line) })
    : pino({ level: process.env['RIVYA_TEST_LOG_LEVEL'] ?? 'silent' });
  const runtime = await createRuntime(config, {
    inMemoryDatabase: true,
    logger,
    ...(options.provider ? { provider: options.provider } : {}),
    ...(options.onRoute ? { onRoute: options.onRoute } : {}),
    ...options.webhooks,
  });
  if (options.worker !== false) await runtime.start({ listen: options.listen === true });
  else if (options.listen) await runtime.app?.listen({ host: config.host, port: config.port });
  else await runtime.app?.ready();
  return {
    runtime,
    logs,
    async newAccount(credits, limits = {}) {
      const account = await runtime.accounts.createAccount('test', credits, limits);
      const { key } = await runtime.accounts.createApiKey(account.id, 'test');
      return { accountId: account.id, key, auth: { authorization: `Bearer ${key}` } };
    },
    async close() {
      await runtime.stop();
      await server?.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Registers a service on `backend` with a gated provider for the enclosing `describe`: started
 * before its tests, closed after. Read `service` and `app` inside tests, not at collection time.
 */
export function useGatedService(backend: TestBackend, env: Record<string, string> = {}) {
  const gated = createGatedProvider();
  const context = {
    gated,
    service: undefined as unknown as TestService,
    app: undefined as unknown as FastifyInstance,
    /** POST /api/v1/tasks as the given key. */
    create: (auth: Record<string, string>, body: unknown, headers: Record<string, string> = {}) =>
      context.app.inject({ method: 'POST', url: '/api/v1/tasks', headers: { ...auth, ...headers }, payload: body as object }),
  };
  beforeAll(async () => {
    context.service = await startTestService(backend, { provider: gated.provider, env });
    context.app = context.service.runtime.app as FastifyInstance;
  });
  afterAll(async () => {
    gated.releaseAll();
    await context.service?.close();
  });
  return context;
}
