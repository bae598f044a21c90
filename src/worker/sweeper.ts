import type { FastifyBaseLogger } from 'fastify';
import type { TaskRecord } from '../domain.js';
import type { EventLog } from '../events/event-log.js';
import type { IdempotencyStore } from '../idempotency/idempotency-store.js';
import type { TaskLifecycle } from '../tasks/task-lifecycle.js';
import type { TaskStore } from '../tasks/task-store.js';
import { periodicSweep } from './periodic-sweep.js';

export interface SweeperDeps {
  tasks: TaskStore;
  /** Ends timed-out tasks and gives tasks whose worker or job was lost a new job. */
  lifecycle: TaskLifecycle;
  idempotency: IdempotencyStore;
  eventLog: EventLog;
  /** Events older than this are deleted. */
  eventRetentionSeconds: number;
  /** Events deleted per statement, and statements per sweep (defaults: `EVENT_PURGE`). */
  eventPurge?: { batch: number; batchesPerSweep: number };
  logger: FastifyBaseLogger;
  /** Deletes expired uploaded files (bytes and rows); returns how many. */
  purgeExpiredFiles: () => Promise<number>;
  /** Called for each task the sweeper ended (after its end committed). */
  onEnded(task: TaskRecord): void;
  intervalMs: number;
}

/** Events deleted per statement, and statements per sweep: a large backlog goes in short steps, 20,000 a sweep. */
export const EVENT_PURGE = { batch: 1000, batchesPerSweep: 20 };

/**
 * Periodic housekeeping of a worker process: fails tasks past their deadline (`timeout`, hold
 * released), resumes tasks whose worker died (lease expired), drops expired idempotency keys,
 * deletes expired uploaded files, and deletes events past their retention (in bounded batches).
 * Every action is a guarded, idempotent statement, so several sweepers may run at once.
 */
export function createSweeper(deps: SweeperDeps) {

  async function sweep(): Promise<void> {
    for (const id of await deps.tasks.pastDeadline(100)) {
      const ended = await deps.lifecycle.end(
        id,
        { status: 'failed', error: { code: 'timeout', message: 'The task did not finish before its deadline; its credits were released.' } },
        { from: ['queued', 'running'] },
      );
      if (ended) deps.onEnded(ended);
    }
    for (const id of await deps.lifecycle.resumeOrphans(100)) {
      deps.logger.warn({ task_id: id }, 'resumed a task whose worker stopped');
    }
    for (const id of await deps.lifecycle.resumeStranded()) {
      deps.logger.warn({ task_id: id }, 'requeued a task whose job was taken by a worker that stopped');
    }
    await deps.idempotency.purgeExpired();
    await deps.purgeExpiredFiles();
    await purgeOldEvents();
  }

  async function purgeOldEvents(): Promise<void> {
    const { batch, batchesPerSweep } = deps.eventPurge ?? EVENT_PURGE;
    for (let done = 0; done < batchesPerSweep; done++) {
      if ((await deps.eventLog.purgeOlderThan(deps.eventRetentionSeconds, batch)) < batch) return;
    }
  }

  return periodicSweep(sweep, { intervalMs: deps.intervalMs, logger: deps.logger, failure: 'sweep failed' });
}
