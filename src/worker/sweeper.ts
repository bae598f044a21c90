import type { FastifyBaseLogger } from 'fastify';
import type { Queryable } from '../db/port.js';
import type { TaskRecord } from '../domain.js';
import type { IdempotencyStore } from '../idempotency/idempotency-store.js';
import type { TaskStore } from '../tasks/task-store.js';

export interface SweeperDeps {
  tasks: TaskStore;
  idempotency: IdempotencyStore;
  logger: FastifyBaseLogger;
  /** Enqueues the job of a task whose worker died, inside the transaction that clears its lease. */
  resume: (tx: Queryable, taskId: string, seq: number) => Promise<void>;
  /** Of these tasks' current jobs (`{taskId, seq}`), those that are lost (see `JobQueue.withoutLiveJob`). */
  strandedTasks: (jobs: { taskId: string; seq: number }[]) => Promise<{ taskId: string; seq: number }[]>;
  /** How long a queued task may sit untouched before its job is checked. */
  strandedAfterSeconds: number;
  /** Deletes expired uploaded files (bytes and rows); returns how many. */
  purgeExpiredFiles: () => Promise<number>;
  /** Called for each task the sweeper ended. */
  onEnded(task: TaskRecord): void;
  intervalMs: number;
}

/**
 * Periodic housekeeping of a worker process: fails tasks past their deadline (`timeout`, hold
 * released), resumes tasks whose worker died (lease expired), drops expired idempotency keys, and
 * deletes expired uploaded files.
 * Every action is a guarded, idempotent statement, so several sweepers may run at once.
 */
export function createSweeper(deps: SweeperDeps) {
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> | null = null;

  async function sweep(): Promise<void> {
    for (const id of await deps.tasks.pastDeadline(100)) {
      const ended = await deps.tasks.end(
        id,
        { status: 'failed', error: { code: 'timeout', message: 'The task did not finish before its deadline; its credits were released.' } },
        ['queued', 'running'],
      );
      // Its `task ended` line is written by onEnded.
      if (ended) deps.onEnded(ended);
    }
    for (const id of await deps.tasks.resumeOrphans(100, deps.resume)) {
      deps.logger.warn({ task_id: id }, 'resumed a task whose worker stopped');
    }
    for (const id of await deps.tasks.resumeStranded(deps.strandedAfterSeconds, deps.strandedTasks, deps.resume)) {
      deps.logger.warn({ task_id: id }, 'requeued a task whose job was taken by a worker that stopped');
    }
    await deps.idempotency.purgeExpired();
    await deps.purgeExpiredFiles();
  }

  return {
    /** Runs one sweep now (tests, and start-up). */
    async sweepOnce(): Promise<void> {
      while (running) await running;
      running = sweep().finally(() => (running = null));
      await running;
    },
    start(): void {
      timer = setInterval(() => {
        if (running) return;
        running = sweep()
          .catch((error: unknown) => deps.logger.error({ err: error }, 'sweep failed'))
          .finally(() => (running = null));
      }, deps.intervalMs);
      timer.unref();
    },
    async stop(): Promise<void> {
      if (timer) clearInterval(timer);
      if (running) await running.catch(() => {});
    },
  };
}
