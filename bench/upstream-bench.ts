// What provider callbacks buy: the same load of tasks through a Kie.ai mock (jobs take 3 s),
// once with callbacks and once polling only, side by side in one run. Reports how long a task
// takes beyond its upstream job, and how many status fetches each task cost the upstream.
//   npm run bench:upstream [-- tasks=60 job_ms=8000 poll_min=2 poll_max=30]   (polls: the product's defaults)
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { loadConfig } from '../src/config.js';
import { createRuntime } from '../src/runtime.js';
import { startMockKie } from '../test/helpers/mock-kie.js';
import { freePort } from '../test/helpers/serve-process.js';

const args = Object.fromEntries(process.argv.slice(2).map((arg) => arg.split('=') as [string, string]));
const TASKS = Number(args['tasks'] ?? 60);
const JOB_MS = Number(args['job_ms'] ?? 8000);
const POLL = { min_seconds: Number(args['poll_min'] ?? 2), max_seconds: Number(args['poll_max'] ?? 30) };

interface Outcome {
  mode: string;
  seconds: number;
  overheadP50: number;
  overheadP95: number;
  statusPerTask: number;
  jobs: number;
  succeeded: number;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function run(callbacks: boolean): Promise<Outcome> {
  const kie = await startMockKie({ defaultScenario: { outcome: 'success', durationMs: JOB_MS, result: 'mp4' } });
  const dataDir = await mkdtemp(join(tmpdir(), 'rivya-bench-upstream-'));
  const configPath = join(dataDir, 'providers.json');
  await writeFile(configPath, JSON.stringify({
    accounts: { kie: { kind: 'kie', api_key_env: 'BENCH_KIE_KEY', base_url: kie.url } },
    routes: { 'sora-2': ['kie'], 'sora-2-pro': ['kie'] },
    poll: POLL,
    callbacks,
  }));
  const port = await freePort();
  const config = loadConfig({
    RIVYA_DATA_DIR: dataDir, RIVYA_CONFIG: configPath, BENCH_KIE_KEY: 'kie-test-key', HOST: '127.0.0.1', PORT: String(port),
    RIVYA_PUBLIC_URL: `http://127.0.0.1:${port}`, RIVYA_WORKER_CONCURRENCY: '16', RIVYA_SECRET: 'bench-secret-bench-secret-bench-secret-0',
  });
  const runtime = await createRuntime(config, { inMemoryDatabase: true, logger: pino({ level: 'silent' }) });
  try {
    await runtime.start();
    const account = await runtime.accounts.createAccount('bench', TASKS * 10, { creates_per_minute: 100_000, active_tasks: TASKS });
    const { key } = await runtime.accounts.createApiKey(account.id, 'bench');
    const started = Date.now();
    const ids: string[] = [];
    for (let i = 0; i < TASKS; i++) {
      const response = await fetch(`${config.publicUrl}/api/v1/tasks`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'sora-2', prompt: `bench ${i}` }),
      });
      ids.push(((await response.json()) as { id: string }).id);
    }
    for (;;) {
      const { rows } = await runtime.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM tasks WHERE status IN ('queued', 'running')`);
      if (rows[0]?.n === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const seconds = (Date.now() - started) / 1000;
    const { rows } = await runtime.db.query<{ ms: number; status: string }>(
      `SELECT extract(epoch FROM completed_at - started_at) * 1000 AS ms, status FROM tasks`,
    );
    // Time beyond the upstream job itself: submission, polling or callback delay, download, storage.
    const overheads = rows.map((row) => Number(row.ms) - JOB_MS);
    return {
      mode: callbacks ? 'callbacks' : 'polling only',
      seconds,
      overheadP50: percentile(overheads, 50),
      overheadP95: percentile(overheads, 95),
      statusPerTask: kie.requests.filter((request) => request.route === 'status').length / TASKS,
      jobs: kie.createCount(),
      succeeded: rows.filter((row) => row.status === 'succeeded').length,
    };
  } finally {
    await runtime.stop();
    await kie.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

const results = [await run(true), await run(false)];
console.log(`${TASKS} tasks, upstream jobs of ${JOB_MS} ms, polls backing off from ${POLL.min_seconds} s to ${POLL.max_seconds} s, 16 worker slots:\n`);
console.log('mode           wall s   beyond-job p50 ms   p95 ms   status fetches/task   upstream jobs   succeeded');
for (const r of results) {
  console.log(
    `${r.mode.padEnd(14)} ${r.seconds.toFixed(1).padStart(6)}   ${r.overheadP50.toFixed(0).padStart(17)}   ${r.overheadP95.toFixed(0).padStart(6)}   ${r.statusPerTask.toFixed(2).padStart(19)}   ${String(r.jobs).padStart(13)}   ${String(r.succeeded).padStart(9)}`,
  );
}
const [withCallbacks, pollingOnly] = results as [Outcome, Outcome];
console.log(`\ncallbacks vs polling only: p50 time beyond the job ${(withCallbacks.overheadP50 / pollingOnly.overheadP50).toFixed(2)}×, status fetches ${(withCallbacks.statusPerTask / pollingOnly.statusPerTask).toFixed(2)}×`);
