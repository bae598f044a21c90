// Benchmark of the API next to a bare node:http server, measured side by side in one run.
//   npm run bench                 (BENCH_SECONDS=10 BENCH_CONNECTIONS=64 BENCH_UNFINISHED=1000 by default)
// The service runs as `rivya serve` on the embedded default with the instant provider for sora-2,
// so the numbers are the API's own: auth, validation, the create transaction (hold + task + job),
// reads. Meanwhile BENCH_UNFINISHED sora-2-pro tasks are held running upstream (bench/held-tasks.ts),
// polled by the worker as in real use and, in one run, by the clients at random.
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../test/helpers/serve-process.js';
import { load as loadWith, startBareServer, startProcess, type Result } from './bench-kit.js';
import { countHeldTasks, holdTasks, randomTaskRequests, startHoldUpstream } from './held-tasks.js';

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
    const holdUpstream = await startHoldUpstream(dataDir);
    children.push(holdUpstream.child);
    children.push(
      await startProcess(['bin/rivya.js', 'serve'], {
        PORT: String(apiPort), HOST: '127.0.0.1', RIVYA_DATA_DIR: dataDir, RIVYA_ADMIN_TOKEN: ADMIN,
        RIVYA_LOG_LEVEL: 'warn', RIVYA_WORKER_CONCURRENCY: '16', ...holdUpstream.env,
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

    const heldIds = await holdTasks(api, auth);

    // The bare server answers with the API's own bodies: the ended task (also to POST), the account,
    // and a running task for any other task id.
    const getText = async (path: string) => (await fetch(`${api}${path}`, { headers: auth })).text();
    children.push(await startBareServer(dataDir, barePort, await getText(`/api/v1/tasks/${heldIds[0]}`), {
      [`/api/v1/tasks/${taskId}`]: finished, '/api/v1/tasks': finished, '/api/v1/account': await getText('/api/v1/account'),
    }));
    const bare = `http://127.0.0.1:${barePort}`;

    process.stdout.write(`${SECONDS} s per run, ${CONNECTIONS} connections, API on the embedded default (PGlite), instant provider\n`);
    await load({ url: `${api}/api/v1/tasks/${taskId}`, headers: auth, duration: 2 }); // warm-up
    const rows: [string, Result][] = [];
    rows.push(['GET  bare node:http', await load({ url: `${bare}/api/v1/tasks/${taskId}` })]);
    rows.push(['GET  /api/v1/tasks/{id}', await load({ url: `${api}/api/v1/tasks/${taskId}`, headers: auth })]);
    rows.push(['GET  bare, random ids', await load({ url: bare, requests: randomTaskRequests(heldIds) })]);
    const atStart = await countHeldTasks(api, auth);
    process.stdout.write(`Held tasks as the unfinished polls start: ${atStart.running} running, ${atStart.queued} queued\n`);
    rows.push(['GET  unfinished tasks', await load({ url: api, headers: auth, requests: randomTaskRequests(heldIds) })]);
    rows.push(['GET  bare, account body', await load({ url: `${bare}/api/v1/account` })]);
    rows.push(['GET  /api/v1/account', await load({ url: `${api}/api/v1/account`, headers: auth })]);
    // Each POST run starts with the worker idle: wait (bounded) for the previous run's tasks to finish.
    const drain = async () => {
      const deadline = Date.now() + 120_000;
      while (Date.now() < deadline) {
        const page = await (await fetch(`${api}/api/v1/tasks?status=queued&model=sora-2&limit=1`, { headers: auth })).json() as { data: unknown[] };
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
    const [getBare, getApi, randomBare, unfinished, accountBare, accountGet, postBare, postApi, postBareFew, postApiFew] = rows.map(([, r]) => r) as [
      Result, Result, Result, Result, Result, Result, Result, Result, Result, Result,
    ];
    process.stdout.write(`\nGET  API / bare throughput: ${(100 * getApi.rps / getBare.rps).toFixed(1)}%  (target ≥ 25%)\n`);
    process.stdout.write(`polls of unfinished tasks: ${(100 * unfinished.rps / randomBare.rps).toFixed(1)}% of bare (target ≥ 25%), p99 ${unfinished.p99} ms (target < 10 ms)\n`);
    process.stdout.write(`GET /api/v1/account: ${(100 * accountGet.rps / accountBare.rps).toFixed(1)}% of bare (target ≥ 25%)\n`);
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
