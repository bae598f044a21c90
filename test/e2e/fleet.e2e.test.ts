import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServerDatabase, POSTGRES_AVAILABLE, REDIS_AVAILABLE, TEST_REDIS_URL } from '../helpers/backends.js';
import { openEventStream } from '../helpers/event-stream-reader.js';
import { startS3Server } from '../helpers/s3-server.js';
import { startServe, type ServeProcess } from '../helpers/serve-process.js';
import { waitFor } from '../helpers/wait-for.js';

const BIN = fileURLToPath(new URL('../../bin/rivya.js', import.meta.url));
const ADMIN = 'fleet-admin-token';
const TASKS = 300;

describe.runIf(POSTGRES_AVAILABLE && REDIS_AVAILABLE)('a fleet: 2 API and 2 worker processes on PostgreSQL, Redis and S3', () => {
  const processes: ServeProcess[] = [];
  const dirs: string[] = [];
  let database: Awaited<ReturnType<typeof createServerDatabase>>;
  let s3: Awaited<ReturnType<typeof startS3Server>>;
  let env: Record<string, string>;
  let apis: ServeProcess[];
  let workers: ServeProcess[];

  const start = async (role: 'api' | 'worker') => {
    const dataDir = await mkdtemp(join(tmpdir(), `rivya-fleet-${role}-`));
    dirs.push(dataDir);
    const serve = await startServe({ ...env, RIVYA_DATA_DIR: dataDir }, ['--role', role]);
    processes.push(serve);
    return serve;
  };

  beforeAll(async () => {
    database = await createServerDatabase();
    s3 = await startS3Server(['fleet-s3', 'fleet-oss']);
    env = {
      DATABASE_URL: database.url,
      REDIS_URL: TEST_REDIS_URL,
      RIVYA_SECRET: randomBytes(32).toString('hex'),
      RIVYA_ADMIN_TOKEN: ADMIN,
      RIVYA_PROVIDER: 'instant',
      RIVYA_LOG_LEVEL: 'warn',
      RIVYA_LEASE_SECONDS: '3',
      RIVYA_SWEEP_INTERVAL_MS: '500',
      RIVYA_WORKER_CONCURRENCY: '8',
      ...s3.env('RIVYA_S3', 'fleet-s3'),
      ...s3.env('RIVYA_OSS', 'fleet-oss'),
    };
    // Migrations from several processes at once: one applies them, the others find nothing to do.
    const migrate = () => promisify(execFile)(process.execPath, [BIN, 'migrate'], { env: { ...process.env, ...env } });
    const outputs = await Promise.all([migrate(), migrate(), migrate()]);
    expect(outputs.filter((output) => output.stdout.includes('Applied migrations'))).toHaveLength(1);
    apis = [await start('api'), await start('api')];
    workers = [await start('worker'), await start('worker')];
  });

  afterAll(async () => {
    for (const serve of processes) serve.process.kill('SIGKILL');
    await s3?.close();
    await database?.drop();
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('ends every task exactly once with credits settled once, through a worker crash', async () => {
    const admin = { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' };
    const post = async (base: string, path: string, body: unknown, headers: Record<string, string>) => {
      const response = await fetch(`${base}${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
    const account = (await post(apis[0]!.url, '/admin/v1/accounts', { name: 'fleet', credits: TASKS * 6, limits: { creates_per_minute: 10_000, requests_per_minute: 100_000, active_tasks: 10_000 } }, admin)).body;
    const key = (await post(apis[1]!.url, `/admin/v1/accounts/${account['id'] as string}/keys`, {}, admin)).body['key'] as string;
    const auth = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };

    // A task created on one API process, long-polled on the other: the worker's event wakes it.
    const probe = await post(apis[0]!.url, '/api/v1/tasks', { model: 'sora-2', prompt: 'cross-process wait' }, auth);
    const waited = await (await fetch(`${apis[1]!.url}/api/v1/tasks/${probe.body['id'] as string}?wait=30`, { headers: auth })).json() as { status: string };
    expect(waited.status).toBe('succeeded');

    // 299 more through both APIs, 24 in flight; one worker is killed a third of the way and restarted.
    const created: string[] = [probe.body['id'] as string];
    let next = 1;
    let killed = false;
    const pg2 = new pg.Client({ connectionString: database.url });
    pg2.on('error', () => {});
    await pg2.connect();
    const client = async () => {
      while (next < TASKS) {
        const index = next++;
        const response = await post(apis[index % 2]!.url, '/api/v1/tasks', { model: 'sora-2', prompt: `fleet task ${index}`, params: { upload_method: index % 3 ? 's3' : 'oss' } }, auth);
        expect(response.status).toBe(201);
        created.push(response.body['id'] as string);
        if (!killed && created.length > TASKS / 3) {
          killed = true;
          workers[0]!.process.kill('SIGKILL');
          await workers[0]!.exited;
          workers[0] = await start('worker');
        }
      }
    };
    await Promise.all(Array.from({ length: 24 }, client));
    expect(new Set(created).size).toBe(TASKS);

    const open = async () => (await pg2.query<{ n: number }>(`SELECT count(*)::int AS n FROM tasks WHERE status IN ('queued', 'running')`)).rows[0]!.n;
    await waitFor(async () => (await open()) === 0, 120_000, 'every task to end');

    const tasks = (await pg2.query<{ id: string; status: string; attempts: number; final_credits: number }>('SELECT id, status, attempts, final_credits FROM tasks')).rows;
    expect(tasks).toHaveLength(TASKS);
    expect(tasks.filter((task) => task.status !== 'succeeded')).toEqual([]);
    // Only tasks the killed worker was running may have been started twice.
    const extraAttempts = tasks.reduce((sum, task) => sum + task.attempts - 1, 0);
    expect(extraAttempts).toBeLessThanOrEqual(8);
    const entries = (await pg2.query<{ task_id: string; type: string; n: number }>(
      `SELECT task_id, type, count(*)::int AS n FROM ledger_entries WHERE task_id IS NOT NULL GROUP BY task_id, type`,
    )).rows;
    expect(entries.filter((entry) => entry.type === 'hold')).toHaveLength(TASKS);
    expect(entries.filter((entry) => entry.type === 'capture')).toHaveLength(TASKS);
    expect(entries.every((entry) => entry.n === 1)).toBe(true);
    const balance = (await pg2.query<{ balance: number; held: number; active_tasks: number }>('SELECT balance, held, active_tasks FROM accounts WHERE id = $1', [account['id']])).rows[0]!;
    expect(balance).toEqual({ balance: 0, held: 0, active_tasks: 0 });
    await pg2.end();

    // A finished task's video is on its target's bucket, fetched through a presigned URL.
    const done = await (await fetch(`${apis[1]!.url}/api/v1/tasks/${created[5]!}`, { headers: auth })).json() as { result: { media: { url: string; sizeBytes: number }[] } };
    const video = await fetch(done.result.media[0]!.url);
    expect(video.status).toBe(200);
    expect((await video.arrayBuffer()).byteLength).toBe(done.result.media[0]!.sizeBytes);
  }, 180_000);

  it('streams to API 2 the events of a task created on API 1 and run by a worker', async () => {
    const admin = { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' };
    const account = await (await fetch(`${apis[0]!.url}/admin/v1/accounts`, { method: 'POST', headers: admin, body: JSON.stringify({ name: 'streams', credits: 100 }) })).json() as { id: string };
    const { key } = await (await fetch(`${apis[0]!.url}/admin/v1/accounts/${account.id}/keys`, { method: 'POST', headers: admin, body: '{}' })).json() as { key: string };
    const auth = { authorization: `Bearer ${key}` };
    const stream = await openEventStream(`${apis[1]!.url}/api/v1/events`, auth);
    await stream.next((frame) => frame.id !== undefined);
    const created = await (await fetch(`${apis[0]!.url}/api/v1/tasks`, {
      method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'sora-2', prompt: 'streamed across processes' }),
    })).json() as { id: string };
    const followed = await openEventStream(`${apis[1]!.url}/api/v1/tasks/${created.id}/events`, auth);
    await followed.ended;
    expect(followed.events().at(-1)?.event).toBe('task.succeeded');
    await waitFor(() => stream.events().some((frame) => frame.event === 'task.succeeded'), 10_000, 'the end on the account stream');
    stream.close();
    const types = stream.events().map((frame) => frame.event);
    expect(types.filter((type) => type !== 'task.progress')).toEqual(['task.queued', 'task.running', 'task.succeeded']);
    expect(stream.events().every((frame) => (JSON.parse(frame.data!) as { data: { task: { id: string } } }).data.task.id === created.id)).toBe(true);
  });

  it('holds per-key rate limits across both API processes', async () => {
    const admin = { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' };
    const account = await (await fetch(`${apis[0]!.url}/admin/v1/accounts`, { method: 'POST', headers: admin, body: JSON.stringify({ name: 'limited', credits: 1000, limits: { creates_per_minute: 10, active_tasks: 1000 } }) })).json() as { id: string };
    const { key } = await (await fetch(`${apis[0]!.url}/admin/v1/accounts/${account.id}/keys`, { method: 'POST', headers: admin, body: '{}' })).json() as { key: string };
    const statuses = await Promise.all(
      Array.from({ length: 30 }, async (_, i) =>
        (await fetch(`${apis[i % 2]!.url}/api/v1/tasks`, {
          method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'sora-2', prompt: `limited ${i}` }),
        })).status,
      ),
    );
    expect(statuses.filter((status) => status === 201)).toHaveLength(10);
    expect(statuses.filter((status) => status === 429)).toHaveLength(20);
  });
});
