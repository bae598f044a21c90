import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createRuntime, type Runtime } from '../../src/runtime.js';
import { createServerDatabase, POSTGRES_AVAILABLE, REDIS_AVAILABLE, TEST_REDIS_URL, POSTGRES_URL } from '../helpers/backends.js';
import { startS3Server } from '../helpers/s3-server.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';
import { waitFor } from '../helpers/wait-for.js';

describe.runIf(POSTGRES_AVAILABLE && REDIS_AVAILABLE)('when PostgreSQL, Redis or S3 goes down', () => {
  let runtime: Runtime;
  let app: FastifyInstance;
  let auth: Record<string, string>;
  let dataDir: string;
  let database: Awaited<ReturnType<typeof createServerDatabase>>;
  let s3: Awaited<ReturnType<typeof startS3Server>>;
  const proxies: Record<'postgres' | 'redis' | 's3', Awaited<ReturnType<typeof startTcpProxy>>> = {} as never;

  beforeAll(async () => {
    database = await createServerDatabase();
    s3 = await startS3Server(['down-s3']);
    proxies.postgres = await startTcpProxy(Number(new URL(POSTGRES_URL).port || 5432));
    proxies.redis = await startTcpProxy(Number(new URL(TEST_REDIS_URL).port || 6379));
    proxies.s3 = await startTcpProxy(Number(new URL(s3.endpoint).port));
    const databaseUrl = new URL(database.url);
    databaseUrl.port = String(proxies.postgres.port);
    const redisUrl = new URL(TEST_REDIS_URL);
    redisUrl.port = String(proxies.redis.port);
    dataDir = await mkdtemp(join(tmpdir(), 'rivya-down-'));
    const config = loadConfig({
      DATABASE_URL: databaseUrl.toString(),
      REDIS_URL: redisUrl.toString(),
      RIVYA_SECRET: randomBytes(32).toString('hex'),
      RIVYA_DATA_DIR: dataDir,
      RIVYA_PROVIDER: 'instant',
      ...s3.env('RIVYA_S3', 'down-s3'),
      RIVYA_S3_ENDPOINT: `http://127.0.0.1:${proxies.s3.port}`,
    });
    runtime = await createRuntime(config, { logger: pino({ level: 'silent' }) });
    await runtime.start({ listen: false });
    app = runtime.app!;
    const account = await runtime.accounts.createAccount('down', 100);
    const { key } = await runtime.accounts.createApiKey(account.id, 'down');
    auth = { authorization: `Bearer ${key}` };
  });

  afterAll(async () => {
    for (const proxy of Object.values(proxies)) await proxy.up().catch(() => {});
    await runtime?.stop().catch(() => {});
    for (const proxy of Object.values(proxies)) await proxy.close();
    await s3?.close();
    await database?.drop();
    await rm(dataDir, { recursive: true, force: true });
  });

  const ready = async () => (await app.inject({ url: '/readyz' })).statusCode === 200;

  it.each(['redis', 's3', 'postgres'] as const)('%s: /readyz fails, requests get 503 with Retry-After at once, and it recovers by itself', async (dependency) => {
    expect(await ready()).toBe(true);
    await proxies[dependency].down();
    try {
      await expectUnavailable(dependency);
    } finally {
      await proxies[dependency].up();
    }
    await waitFor(ready, 20_000, `${dependency} to be ready again`);
    expect((await app.inject({ url: '/api/v1/account/ledger', headers: auth })).statusCode).toBe(200);
  });

  const png = Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de', 'hex');
  const upload = () => {
    const body = Buffer.concat([
      Buffer.from('--x\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n'),
      png,
      Buffer.from('\r\n--x--\r\n'),
    ]);
    return app.inject({ method: 'POST', url: '/api/v1/files', headers: { ...auth, 'content-type': 'multipart/form-data; boundary=x' }, payload: body });
  };

  async function expectUnavailable(dependency: 'redis' | 's3' | 'postgres'): Promise<void> {
    const started = Date.now();
    const readyz = await app.inject({ url: '/readyz' });
    expect(readyz.statusCode).toBe(503);
    expect(readyz.headers['retry-after']).toBeDefined();
    const failing = readyz.json().error.details.checks.filter((check: { ok: boolean }) => !check.ok).map((check: { name: string }) => check.name);
    expect(failing).toEqual([{ redis: 'rate_limiter', s3: 'storage_s3', postgres: 'database' }[dependency]]);
    // A request that needs the dependency: an upload needs S3; everything authenticated needs Redis; ledger reads need the database.
    const request = dependency === 's3' ? await upload() : await app.inject({ url: '/api/v1/account/ledger', headers: auth });
    expect(request.statusCode).toBe(503);
    expect(request.json().error.code).toBe('service_unavailable');
    expect(request.headers['retry-after']).toBeDefined();
    expect(Date.now() - started).toBeLessThan(15_000);
  }
});
