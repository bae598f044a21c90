// What a /metrics scrape costs on the embedded database as the task table grows, and what the
// trigger that keeps the per-status totals (migration 0006) adds to ending a task.
// node bin/run-ts.js bench/metrics-bench.ts [tasks=100000]
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { loadConfig } from '../src/config.js';
import { newId } from '../src/ids.js';
import { createRuntime } from '../src/runtime.js';
import { endTask } from '../src/tasks/task-lifecycle-sql.js';

const args = Object.fromEntries(process.argv.slice(2).map((arg) => arg.split('=') as [string, string]));
const TASKS = Number(args['tasks'] ?? 100_000);
const ENDS = 2000;

/** Median and 95th percentile of `runs` timed calls, in ms. */
async function time(runs: number, call: () => Promise<unknown>): Promise<{ median: number; p95: number }> {
  for (let i = 0; i < 3; i++) await call();
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    await call();
    samples.push(performance.now() - started);
  }
  samples.sort((a, b) => a - b);
  return { median: samples[Math.floor(runs / 2)]!, p95: samples[Math.floor(runs * 0.95)]! };
}
const ms = ({ median, p95 }: { median: number; p95: number }) => `median ${median.toFixed(2)} ms, p95 ${p95.toFixed(2)} ms`;

const dataDir = await mkdtemp(join(tmpdir(), 'rivya-metrics-bench-'));
const runtime = await createRuntime(
  loadConfig({ RIVYA_DATA_DIR: dataDir, RIVYA_PROVIDER: 'instant', RIVYA_SECRET: 'bench-secret-bench-secret-bench-secret-0' }),
  { logger: pino({ level: 'silent' }) },
);
await runtime.app!.ready();
const { db } = runtime;
try {
  await db.query(`INSERT INTO accounts (id, name, balance) VALUES ('acct_bench', 'bench', 0)`);
  // Tasks are created queued and ended by an UPDATE, as the service does: the triggers count them.
  // 1 in 1000 stays queued, 1 in 1000 running; of the rest 80% succeed, 10% fail, 10% are canceled.
  let started = performance.now();
  await db.query(
    `INSERT INTO tasks (id, account_id, model, prompt, params, status, reserved_credits, deadline_at, started_at)
     SELECT 'task_bench' || g, 'acct_bench', CASE WHEN g % 2 = 0 THEN 'sora-2' ELSE 'sora-2-pro' END,
            repeat('A red fox running through fresh snow. ', 5), '{"n_frames":"10","size":"standard"}'::jsonb,
            'queued', 6, now() + interval '1 hour', now()
       FROM generate_series(1, $1::int) g`,
    [TASKS],
  );
  await db.query(
    `UPDATE tasks SET status = CASE WHEN substr(id, 11)::int % 1000 = 1 THEN 'running' WHEN substr(id, 11)::int % 10 = 0 THEN 'failed'
                                    WHEN substr(id, 11)::int % 10 = 1 THEN 'canceled' ELSE 'succeeded' END,
            completed_at = now()
      WHERE substr(id, 11)::int % 1000 <> 0`,
  );
  console.log(`${TASKS} tasks written in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  console.log('tasks per status:', await runtime.tasks.countByStatus());

  const scrape = () => runtime.app!.inject({ url: '/metrics' });
  const measure = async (when: string) => {
    console.log(`${when}:`);
    console.log(`  GET /metrics (every series): ${ms(await time(30, scrape))}`);
    console.log(`  tasks per status (rivya_tasks): ${ms(await time(30, () => runtime.tasks.countByStatus()))}`);
    console.log(`    active ones: ${ms(await time(30, () => db.query(`SELECT status, count(*) FROM tasks WHERE status IN ('queued', 'running') GROUP BY status`)))}`);
    console.log(`    ended ones (totals): ${ms(await time(30, () => db.query('SELECT status, sum(n) FROM task_status_totals GROUP BY status')))}`);
    console.log(`  counting every status instead: ${ms(await time(10, () => db.query('SELECT status, count(*) FROM tasks GROUP BY status')))}`);
  };
  // The embedded database has no autovacuum: the rows the UPDATE above left behind stay until a VACUUM.
  await measure('right after the writes (dead row versions not vacuumed)');
  await db.query('VACUUM ANALYZE tasks');
  await measure('after VACUUM ANALYZE tasks');

  // Ending tasks, with the counting trigger and without it.
  const endSome = async (label: string) => {
    const ids: string[] = [];
    for (let i = 0; i < ENDS; i++) ids.push(newId('task'));
    await db.query(
      `INSERT INTO tasks (id, account_id, model, prompt, params, status, reserved_credits, deadline_at)
       SELECT unnest($1::text[]), 'acct_bench', 'sora-2', 'p', '{}'::jsonb, 'running', 6, now() + interval '1 hour'`,
      [ids],
    );
    started = performance.now();
    for (const id of ids) await endTask(db, id, { status: 'failed', error: { code: 'timeout', message: 'bench' } }, ['running']);
    console.log(`ending a task (rivya_end_task), ${label}: ${((performance.now() - started) / ENDS).toFixed(3)} ms each over ${ENDS}`);
  };
  // Alternated, twice each, so that neither gets the warmer cache.
  for (let round = 0; round < 2; round++) {
    await endSome('with the counting trigger');
    await db.query('ALTER TABLE tasks DISABLE TRIGGER tasks_count_ended');
    await endSome('without it');
    await db.query('ALTER TABLE tasks ENABLE TRIGGER tasks_count_ended');
  }
} finally {
  await runtime.stop();
  await rm(dataDir, { recursive: true, force: true });
}
