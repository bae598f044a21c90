import type { FastifyBaseLogger } from 'fastify';
import PgBoss from 'pg-boss';
import type { Database, Queryable } from '../db/port.js';
import type { Job, JobQueue, JobSpec, QueueDepth } from './port.js';

export interface PgBossQueueConfig {
  db: Database;
  /** Queue names this process sends to or works on; created at start. */
  queues: readonly string[];
  logger: FastifyBaseLogger;
  /** How long one job may run before it is considered lost and retried; default 900 s. */
  expireInSeconds?: number | undefined;
  /** Seconds between polls when idle; pg-boss's minimum is 0.5. */
  pollingIntervalSeconds?: number | undefined;
}

function adapter(runner: Queryable & Partial<Pick<Database, 'exec'>>): PgBoss.Db {
  return {
    // pg-boss sends its multi-statement migrations without parameters: those go through `exec`.
    executeSql: (text, values) =>
      values === undefined || values.length === 0
        ? runner.exec ? runner.exec(text) : runner.query(text)
        : runner.query(text, values),
  };
}

const SET_UP_LOCK = 4_801_337_2026;

/**
 * Inserts the row pg-boss 10's send() writes for a job without options of its own, taking the
 * queue's settings. send() plans a 40-line statement on every call (1.2 ms on PGlite); as a
 * function its plan is reused (0.3 ms). The contract suite checks that pg-boss runs these jobs.
 */
const ENQUEUE_FUNCTION = `
CREATE OR REPLACE FUNCTION rivya_enqueue_job(p_name text, p_data jsonb, p_delay_seconds double precision)
RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO pgboss.job (name, data, start_after, expire_in, keep_until, retry_limit, retry_delay, retry_backoff, policy)
  SELECT q.name, p_data, now() + make_interval(secs => p_delay_seconds),
         coalesce(q.expire_seconds * interval '1 second', interval '15 minutes'),
         now() + make_interval(secs => p_delay_seconds) + coalesce(q.retention_minutes * interval '1 minute', interval '14 days'),
         coalesce(q.retry_limit, 2),
         CASE WHEN coalesce(q.retry_backoff, false) THEN greatest(coalesce(q.retry_delay, 0), 1) ELSE coalesce(q.retry_delay, 0) END,
         coalesce(q.retry_backoff, false), q.policy
    FROM pgboss.queue q WHERE q.name = p_name;
  RETURN FOUND;
END $$;`;

/**
 * Fetches jobs in batches of free slots and runs up to `concurrency` at once, fetching again
 * as soon as a slot frees. (pg-boss 10's own `work()` waits its polling interval after every
 * batch, which caps a worker at two batches a second.) Completions are written in batches.
 */
class BatchWorker<Data> {
  private readonly running = new Set<Promise<void>>();
  private readonly completed: string[] = [];
  private stopping = false;
  private wakeUp: (() => void) | null = null;
  private loop: Promise<void> | null = null;

  constructor(
    private readonly boss: PgBoss,
    readonly name: string,
    private readonly concurrency: number,
    private readonly handler: (job: Job<Data>) => Promise<void>,
    private readonly pollMs: number,
  ) {}

  start(): void {
    this.loop = this.run();
  }

  wake(): void {
    this.wakeUp?.();
  }

  /** Waits `ms`, or less if woken or if one of `running` settles first; never leaves a timer behind. */
  private async sleep(ms: number, running: Promise<void>[] = []): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const woken = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
      this.wakeUp = resolve;
    });
    await Promise.race([woken, ...running]);
    clearTimeout(timer);
    this.wakeUp = null;
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      // Fetch once half the slots are free, so busy workers fetch and complete in batches.
      const free = this.concurrency - this.running.size;
      if (free <= 0 || (this.running.size > 0 && free < this.concurrency / 2)) {
        await this.sleep(this.pollMs, [...this.running]);
        continue;
      }
      let jobs: PgBoss.Job<Data>[] = [];
      try {
        jobs = await this.boss.fetch<Data>(this.name, { batchSize: free });
      } catch {
        // The store is unreachable: try again after the polling interval.
      }
      for (const job of jobs) this.launch(job);
      await this.flushCompleted();
      if (jobs.length === 0) await this.sleep(this.pollMs);
    }
  }

  private launch(job: PgBoss.Job<Data>): void {
    const task: Promise<void> = this.handler({ id: job.id, name: job.name, data: job.data })
      .then(
        () => {
          this.completed.push(job.id);
        },
        async (error: unknown) => {
          await this.boss.fail(this.name, job.id, { message: String((error as Error)?.message ?? error) }).catch(() => {});
        },
      )
      .finally(() => {
        this.running.delete(task);
        this.wake();
      });
    this.running.add(task);
  }

  private async flushCompleted(): Promise<void> {
    if (this.completed.length === 0) return;
    const ids = this.completed.splice(0);
    // A completion lost here only means pg-boss retries the job later; handlers are idempotent.
    await this.boss.complete(this.name, ids).catch(() => {});
  }

  async stop(timeoutMs: number): Promise<void> {
    this.stopping = true;
    this.wake();
    await this.loop;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs)));
    await Promise.race([Promise.all(this.running), timedOut]);
    clearTimeout(timer);
    await this.flushCompleted();
  }
}

/**
 * Runs the queue's set-up (schema, pg-boss install, queues) in one process at a time: processes
 * starting together otherwise race on CREATE SCHEMA and deadlock creating the same queue. On a
 * server, a transaction on its own connection holds an advisory lock while the set-up runs on
 * others; the embedded database is one process, and one connection, so it needs none.
 */
async function setUpOnce(db: Database, setUp: () => Promise<void>): Promise<void> {
  if (db.kind !== 'postgres') return setUp();
  await db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [SET_UP_LOCK]);
    await setUp();
  });
}

/** The job queue on pg-boss 10, in the `pgboss` schema of the same database. */
export function createPgBossQueue(config: PgBossQueueConfig): JobQueue {
  const boss = new PgBoss({
    db: adapter(config.db),
    schema: 'pgboss',
    migrate: true,
    supervise: true,
    schedule: false,
    maintenanceIntervalSeconds: 60,
  });
  boss.on('error', (error) => config.logger.warn({ err: error }, 'job queue maintenance failed'));
  const workers: BatchWorker<never>[] = [];
  const expireInSeconds = config.expireInSeconds ?? 900;

  return {
    async start() {
      await setUpOnce(config.db, async () => {
        await config.db.exec('CREATE SCHEMA IF NOT EXISTS pgboss');
        await boss.start();
        await config.db.exec(ENQUEUE_FUNCTION);
        const existing = new Set((await boss.getQueues()).map((queue) => queue.name));
        for (const name of config.queues) {
          const settings = { name, retryLimit: 20, retryDelay: 2, retryBackoff: true, expireInSeconds };
          if (existing.has(name)) await boss.updateQueue(name, settings);
          else await boss.createQueue(name, settings);
        }
      });
    },
    async enqueue(tx, name, data, spec: JobSpec = {}) {
      const { rows } = await tx.query<{ ok: boolean }>('SELECT rivya_enqueue_job($1, $2::jsonb, $3) AS ok', [
        name,
        JSON.stringify(data),
        spec.startAfterSeconds ?? 0,
      ]);
      if (!rows[0]?.ok) throw new Error(`Queue ${name} does not exist; the job was not created.`);
    },
    async work<Data>(name: string, concurrency: number, handler: (job: Job<Data>) => Promise<void>) {
      const worker = new BatchWorker<Data>(boss, name, concurrency, handler, (config.pollingIntervalSeconds ?? 0.5) * 1000);
      workers.push(worker);
      worker.start();
    },
    wake(name) {
      for (const worker of workers) if (worker.name === name) worker.wake();
    },
    async depth(): Promise<QueueDepth[]> {
      const { rows } = await config.db.query<{ name: string; queued: number; active: number }>(
        `SELECT name,
                count(*) FILTER (WHERE state IN ('created', 'retry'))::int AS queued,
                count(*) FILTER (WHERE state = 'active')::int AS active
           FROM pgboss.job WHERE state < 'completed' GROUP BY name`,
      );
      return config.queues.map((name) => rows.find((row) => row.name === name) ?? { name, queued: 0, active: 0 });
    },
    async withoutLiveJob<M extends Record<string, string | number>>(name: string, matches: readonly M[], staleSeconds: number) {
      if (matches.length === 0) return [];
      const { rows } = await config.db.query<{ match: M }>(
        `SELECT m.value AS match FROM jsonb_array_elements($2::jsonb) AS m(value)
          WHERE NOT EXISTS (
            SELECT 1 FROM pgboss.job j
             WHERE j.name = $1 AND j.data @> m.value
               AND (j.state IN ('created', 'retry') OR (j.state = 'active' AND j.started_on > now() - make_interval(secs => $3))))`,
        [name, JSON.stringify(matches), staleSeconds],
      );
      return rows.map((row) => row.match);
    },
    async stop(timeoutMs) {
      await Promise.all(workers.map((worker) => worker.stop(timeoutMs)));
      await boss.stop({ graceful: true, wait: true, close: false, timeout: Math.max(1000, timeoutMs) });
    },
  };
}
