// Benchmark of the API next to a bare node:http server, measured side by side in one run.
//   npm run bench                 (BENCH_SECONDS=10 BENCH_CONNECTIONS=64 by default)
// The service runs as `rivya serve` on the embedded default with the instant provider, so the
// numbers are the API's own: auth, validation, the create transaction (hold + task + job), reads.
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../test/helpers/serve-process.js';
import { load as loadWith, startProcess, type Result } from './bench-kit.js';

const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 10);
const CONNECTIONS = Number(process.env['BENCH_CONNECTIONS'] ?? 64);
// A latency target needs a bounded number of requests in flight: by Little's law, 64 connections
// at 500 req/s queue for 128 ms on average whatever the server does. POST is measured at both.
const POST_CONNECTIONS = Number(process.env['BENCH_POST_CONNECTIONS'] ?? 8);
const ADMIN = 'bench-admin-token';

const load = (options: Parameters<typeof loadWith>[0]) => loadWith({ connections: CONNECTIONS, duration: SECONDS, ...options });

async function main(): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), 'rivya-bench-'));
  const apiPort = await freePort();
  const barePort = await freePort();
  const api = `http://127.0.0.1:${apiPort}`;
  const children: ChildProcess[] = [];
  try {
    children.push(
      await startProcess(['bin/rivya.js', 'serve'], {
        PORT: String(apiPort), HOST: '127.0.0.1', RIVYA_DATA_DIR: dataDir, RIVYA_ADMIN_TOKEN: ADMIN,
        RIVYA_PROVIDER: 'instant', RIVYA_LOG_LEVEL: 'warn', RIVYA_WORKER_CONCURRENCY: '16',
      }, 'API key'),
    );
    const admin = { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' };
    const account = await (await fetch(`${api}/admin/v1/accounts`, {
      method: 'POST', headers: admin,
      body: JSON.stringify({ name: 'bench', credits: 1_000_000_000, limits: { creates_per_minute: 1_000_000, requests_per_minute: 1_000_000, active_tasks: 1_000_000 } }),
    })).json() as { id: string };
    const { key } = await (await fetch(`${api}/admin/v1/accounts/${account.id}/keys`, { method: 'POST', headers: admin, body: '{}' })).json() as { key: string };
    const auth = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
    const createBody = JSON.stringify({ model: 'sora-2', prompt: 'A benchmark of a red fox in the snow', params: { n_frames: '10' } });
    const created = await fetch(`${api}/api/v1/tasks`, { method: 'POST', headers: auth, body: createBody });
    const taskJson = await created.text();
    const taskId = (JSON.parse(taskJson) as { id: string }).id;
    // Let the task finish so the GET measures a complete task with a signed result URL.
    const finished = await (await fetch(`${api}/api/v1/tasks/${taskId}?wait=30`, { headers: auth })).text();

    const taskFile = join(dataDir, 'task.json');
    await writeFile(taskFile, finished);
    children.push(await startProcess(['bin/run-ts.js', 'bench/bare-server.ts', String(barePort), taskFile], {}, 'bare server ready'));
    const bare = `http://127.0.0.1:${barePort}`;

    process.stdout.write(`${SECONDS} s per run, ${CONNECTIONS} connections, API on the embedded default (PGlite), instant provider\n`);
    await load({ url: `${api}/api/v1/tasks/${taskId}`, headers: auth, duration: 2 }); // warm-up
    const rows: [string, Result][] = [];
    rows.push(['GET  bare node:http', await load({ url: `${bare}/api/v1/tasks/${taskId}` })]);
    rows.push(['GET  /api/v1/tasks/{id}', await load({ url: `${api}/api/v1/tasks/${taskId}`, headers: auth })]);
    rows.push(['GET  /api/v1/account (db)', await load({ url: `${api}/api/v1/account`, headers: auth })]);
    // Each POST run starts with the worker idle: wait (bounded) for the previous run's tasks to finish.
    const drain = async () => {
      const deadline = Date.now() + 120_000;
      while (Date.now() < deadline) {
        const page = await (await fetch(`${api}/api/v1/tasks?status=queued&limit=1`, { headers: auth })).json() as { data: unknown[] };
        if (page.data.length === 0) return true;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      return false;
    };
    rows.push(['POST bare node:http', await load({ url: `${bare}/api/v1/tasks`, method: 'POST', headers: auth, body: createBody })]);
    await drain();
    rows.push(['POST /api/v1/tasks', await load({ url: `${api}/api/v1/tasks`, method: 'POST', headers: auth, body: createBody })]);
    const drainStarted = Date.now();
    const drainedAll = await drain();
    const drainSeconds = (Date.now() - drainStarted) / 1000;
    rows.push([`POST bare, ${POST_CONNECTIONS} conns`, await load({ url: `${bare}/api/v1/tasks`, method: 'POST', headers: auth, body: createBody, connections: POST_CONNECTIONS })]);
    rows.push([`POST /api/v1/tasks, ${POST_CONNECTIONS} conns`, await load({ url: `${api}/api/v1/tasks`, method: 'POST', headers: auth, body: createBody, connections: POST_CONNECTIONS })]);

    process.stdout.write(`\n${'run'.padEnd(26)} ${'req/s'.padStart(9)} ${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(7)} ${'errors'.padStart(7)} ${'non-2xx'.padStart(8)}\n`);
    for (const [name, r] of rows) {
      process.stdout.write(`${name.padEnd(26)} ${r.rps.toFixed(0).padStart(9)} ${String(r.p50).padStart(7)} ${String(r.p99).padStart(7)} ${String(r.errors).padStart(7)} ${String(r.non2xx).padStart(8)}\n`);
    }
    const [getBare, getApi, , postBare, postApi, postBareFew, postApiFew] = rows.map(([, r]) => r) as [Result, Result, Result, Result, Result, Result, Result];
    process.stdout.write(`\nGET  API / bare throughput: ${(100 * getApi.rps / getBare.rps).toFixed(1)}%  (target ≥ 25%)\n`);
    process.stdout.write(`POST API / bare throughput: ${(100 * postApi.rps / postBare.rps).toFixed(1)}% at ${CONNECTIONS} connections, ${(100 * postApiFew.rps / postBareFew.rps).toFixed(1)}% at ${POST_CONNECTIONS}\n`);
    process.stdout.write(`POST API at ${POST_CONNECTIONS} connections: ${postApiFew.rps.toFixed(0)} tasks/s, p99 ${postApiFew.p99} ms  (target ≥ 500 tasks/s, p99 < 50 ms)\n`);
    process.stdout.write(
      `The worker ran throughout (instant provider); after the ${CONNECTIONS}-connection POST run it needed ${drainSeconds.toFixed(1)} s ` +
        `to finish the ${Math.round(postApi.rps * SECONDS)} tasks created${drainedAll ? '' : ' (and had not finished)'}.\n`,
    );
  } finally {
    for (const child of children) child.kill('SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
  }
}

await main();
