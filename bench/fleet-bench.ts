// Benchmark of the service at scale, one run: POST and GET with 1 and 2 API processes on PostgreSQL
// + Redis (one worker, instant provider for sora-2), next to a bare node:http server and next to
// the same create transaction issued directly over SQL, all at the same client concurrency.
// Meanwhile BENCH_UNFINISHED sora-2-pro tasks are held running upstream (bench/held-tasks.ts),
// polled by the worker as in real use and, in one run, by the clients at random.
//   npm run bench:fleet   (BENCH_SECONDS=10 BENCH_CONNECTIONS=64 BENCH_UNFINISHED=1000; BENCH_DATABASE_URL, BENCH_REDIS_URL)
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { newId } from '../src/ids.js';
import { freePort } from '../test/helpers/serve-process.js';
import { load, startBareServer, startProcess, type Result } from './bench-kit.js';
import { countHeldTasks, holdTasks, randomTaskRequests, startHoldUpstream } from './held-tasks.js';

const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 10);
const CONNECTIONS = Number(process.env['BENCH_CONNECTIONS'] ?? 64);
const SERVER_URL = process.env['BENCH_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
const REDIS_URL = process.env['BENCH_REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const ADMIN = 'bench-admin-token';

/** Loads several base URLs at once, splitting the connections, and merges the results. */
async function loadAll(bases: string[], path: string, options: Record<string, unknown>): Promise<Result> {
  const results = await Promise.all(
    bases.map((base) => load({ url: `${base}${path}`, connections: Math.max(1, Math.round(CONNECTIONS / bases.length)), duration: SECONDS, ...options })),
  );
  return {
    rps: results.reduce((sum, r) => sum + r.rps, 0),
    p50: Math.max(...results.map((r) => r.p50)),
    p99: Math.max(...results.map((r) => r.p99)),
    errors: results.reduce((sum, r) => sum + r.errors, 0),
    non2xx: results.reduce((sum, r) => sum + r.non2xx, 0),
  };
}

/** The create transaction the API runs (hold + task + ledger entry + job), issued directly over SQL by `CONNECTIONS` clients. */
async function rawSqlCreates(databaseUrl: string, accountId: string): Promise<Result> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: CONNECTIONS });
  const latencies: number[] = [];
  const deadline = Date.now() + SECONDS * 1000;
  let errors = 0;
  const client = async () => {
    while (Date.now() < deadline) {
      const started = performance.now();
      const connection = await pool.connect();
      try {
        await connection.query('BEGIN');
        const { rows } = await connection.query<{ id: string }>(
          'SELECT id FROM rivya_create_task($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7, $8, $9, $10, $11)',
          [newId('task'), accountId, 'sora-2', 'A benchmark of a red fox in the snow', '{"n_frames":"10","aspect_ratio":"landscape","remove_watermark":"false","upload_method":"s3"}', '[]', null, 6, 1800, newId('led'), 1_000_000],
        );
        await connection.query('SELECT rivya_enqueue_job($1, $2::jsonb, 0)', ['task.run', JSON.stringify({ taskId: rows[0]?.id })]);
        await connection.query('COMMIT');
        latencies.push(performance.now() - started);
      } catch {
        errors++;
        await connection.query('ROLLBACK').catch(() => {});
      } finally {
        connection.release();
      }
    }
  };
  await Promise.all(Array.from({ length: CONNECTIONS }, client));
  await pool.end();
  latencies.sort((a, b) => a - b);
  const at = (q: number) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0);
  return { rps: latencies.length / SECONDS, p50: at(0.5), p99: at(0.99), errors, non2xx: 0 };
}

async function main(): Promise<void> {
  const admin = new pg.Client({ connectionString: SERVER_URL });
  await admin.connect();
  const dbName = `rivya_bench_${randomBytes(4).toString('hex')}`;
  await admin.query(`CREATE DATABASE ${dbName}`);
  const databaseUrl = Object.assign(new URL(SERVER_URL), { pathname: `/${dbName}` }).toString();
  const dataDir = await mkdtemp(join(tmpdir(), 'rivya-fleet-bench-'));
  const children: ChildProcess[] = [];
  try {
    const holdUpstream = await startHoldUpstream(dataDir);
    children.push(holdUpstream.child);
    const env = {
      DATABASE_URL: databaseUrl, REDIS_URL, RIVYA_SECRET: randomBytes(32).toString('hex'), RIVYA_ADMIN_TOKEN: ADMIN,
      RIVYA_LOG_LEVEL: 'warn', RIVYA_WORKER_CONCURRENCY: '16', HOST: '127.0.0.1', ...holdUpstream.env,
    };
    const serve = async (role: 'api' | 'worker') => {
      const port = await freePort();
      children.push(await startProcess(['bin/rivya.js', 'serve', '--role', role], { ...env, PORT: String(port), RIVYA_DATA_DIR: join(dataDir, String(port)) }, 'rivya is running'));
      return `http://127.0.0.1:${port}`;
    };
    const api1 = await serve('api');
    const api2 = await serve('api');
    await serve('worker');

    const adminHeaders = { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' };
    const account = await (await fetch(`${api1}/admin/v1/accounts`, {
      method: 'POST', headers: adminHeaders,
      body: JSON.stringify({ name: 'bench', credits: 1_000_000_000, limits: { creates_per_minute: 1_000_000, requests_per_minute: 1_000_000, active_tasks: 1_000_000 } }),
    })).json() as { id: string };
    const { key } = await (await fetch(`${api1}/admin/v1/accounts/${account.id}/keys`, { method: 'POST', headers: adminHeaders, body: '{}' })).json() as { key: string };
    const auth = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
    const createBody = JSON.stringify({ model: 'sora-2', prompt: 'A benchmark of a red fox in the snow', params: { n_frames: '10' } });
    const task = await (await fetch(`${api1}/api/v1/tasks`, { method: 'POST', headers: auth, body: createBody })).json() as { id: string };
    const finished = await (await fetch(`${api2}/api/v1/tasks/${task.id}?wait=30`, { headers: auth })).text();

    const heldIds = await holdTasks(api1, auth);

    // The bare server answers with the API's own bodies: the ended task (also to POST), the account,
    // and a running task for any other task id.
    const getText = async (path: string) => (await fetch(`${api1}${path}`, { headers: auth })).text();
    const barePort = await freePort();
    children.push(await startBareServer(dataDir, barePort, await getText(`/api/v1/tasks/${heldIds[0]}`), {
      [`/api/v1/tasks/${task.id}`]: finished, '/api/v1/tasks': finished, '/api/v1/account': await getText('/api/v1/account'),
    }));
    const bare = `http://127.0.0.1:${barePort}`;

    process.stdout.write(`${SECONDS} s per run, ${CONNECTIONS} connections in all, PostgreSQL + Redis, one worker (instant provider)\n`);
    await load({ url: `${api1}/api/v1/tasks/${task.id}`, headers: auth, duration: 2, connections: CONNECTIONS });
    const get = `/api/v1/tasks/${task.id}`;
    const randomIds = { requests: randomTaskRequests(heldIds) };
    const rows: [string, Result][] = [
      ['GET  bare node:http', await loadAll([bare], get, {})],
      ['GET  1 API process', await loadAll([api1], get, { headers: auth })],
      ['GET  2 API processes', await loadAll([api1, api2], get, { headers: auth })],
      ['GET  bare, random ids', await loadAll([bare], '', randomIds)],
    ];
    const atStart = await countHeldTasks(api1, auth);
    process.stdout.write(`Held tasks as the unfinished polls start: ${atStart.running} running, ${atStart.queued} queued\n`);
    rows.push(
      ['GET  unfinished, 2 APIs', await loadAll([api1, api2], '', { headers: auth, ...randomIds })],
      ['GET  bare, account body', await loadAll([bare], '/api/v1/account', {})],
      ['GET  account, 2 APIs', await loadAll([api1, api2], '/api/v1/account', { headers: auth })],
      ['POST bare node:http', await loadAll([bare], '/api/v1/tasks', { method: 'POST', headers: auth, body: createBody })],
      ['POST raw SQL transaction', await rawSqlCreates(databaseUrl, account.id)],
      ['POST 1 API process', await loadAll([api1], '/api/v1/tasks', { method: 'POST', headers: auth, body: createBody })],
      ['POST 2 API processes', await loadAll([api1, api2], '/api/v1/tasks', { method: 'POST', headers: auth, body: createBody })],
    );
    process.stdout.write(`\n${'run'.padEnd(26)} ${'req/s'.padStart(9)} ${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(7)} ${'errors'.padStart(7)} ${'non-2xx'.padStart(8)}\n`);
    for (const [name, r] of rows) {
      process.stdout.write(`${name.padEnd(26)} ${r.rps.toFixed(0).padStart(9)} ${String(r.p50).padStart(7)} ${String(r.p99).padStart(7)} ${String(r.errors).padStart(7)} ${String(r.non2xx).padStart(8)}\n`);
    }
    const [getBare, get1, get2, randomBare, unfinished, accountBare, accountGet, postBare, postSql, post1, post2] = rows.map(([, r]) => r) as [
      Result, Result, Result, Result, Result, Result, Result, Result, Result, Result, Result,
    ];
    const pct = (a: Result, b: Result) => `${((100 * a.rps) / b.rps).toFixed(1)}%`;
    const perProcess = (a: Result, b: Result) => `${((100 * a.rps) / 2 / b.rps).toFixed(1)}%`;
    process.stdout.write(`\nGET:  1 API = ${pct(get1, getBare)} of bare; 2 APIs = ${pct(get2, getBare)} of bare (${(get2.rps / get1.rps).toFixed(2)}× one API)\n`);
    process.stdout.write(
      `polls of unfinished tasks: per API process ${perProcess(unfinished, randomBare)} of bare (target ≥ 25%), p99 ${unfinished.p99} ms (target < 10 ms)\n`,
    );
    process.stdout.write(`GET /api/v1/account: per API process ${perProcess(accountGet, accountBare)} of bare (target ≥ 25%)\n`);
    process.stdout.write(`POST: 1 API = ${pct(post1, postSql)} of the raw SQL transaction, ${pct(post1, postBare)} of bare; 2 APIs = ${pct(post2, postSql)} of raw SQL (${(post2.rps / post1.rps).toFixed(2)}× one API)\n`);
  } finally {
    for (const child of children) child.kill('SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, 500));
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch(() => {});
    await admin.end();
    await rm(dataDir, { recursive: true, force: true });
  }
}

await main();
