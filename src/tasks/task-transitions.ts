import type { FastifyBaseLogger } from 'fastify';
import type { TaskRecord } from '../domain.js';
import type { Metrics } from '../metrics.js';

/** Milliseconds from `from` to `to`, never negative (the two may come from different clocks). */
function elapsedMs(from: Date, to: Date): number {
  return Math.max(0, to.getTime() - from.getTime());
}

/** Why a task ended, for its log line: a short reason (`no_route`, `http_400`…) and the upstream's masked words. */
export interface EndContext {
  /** The caller's logger (a request's, so the line carries its `request_id`). */
  log?: FastifyBaseLogger | undefined;
  reason?: string | undefined;
  detail?: string | undefined;
}

/**
 * Tells each change of a task's status once, wherever it happens (API, worker, sweeper): the
 * transition counter, the queue-wait and run-time histograms, and one log line — `task created`,
 * `task started` (with its queue wait) or `task ended` (status, error code, queue wait, run
 * time, the provider account that ran it). `log` is the caller's logger when it has one (a
 * request's, so the line carries its `request_id`).
 */
export function createTaskTransitions(deps: { metrics: Metrics; logger: FastifyBaseLogger }) {
  return {
    created(task: TaskRecord, log: FastifyBaseLogger = deps.logger): void {
      deps.metrics.taskTransition(task.model, task.status);
      log.info(
        { task_id: task.id, account_id: task.accountId, model: task.model, reserved_credits: task.reservedCredits },
        'task created',
      );
    },

    started(task: TaskRecord, log: FastifyBaseLogger = deps.logger): void {
      deps.metrics.taskTransition(task.model, task.status);
      const startedAt = task.startedAt ?? task.updatedAt;
      log.info(
        { task_id: task.id, account_id: task.accountId, model: task.model, queue_wait_ms: elapsedMs(task.createdAt, startedAt) },
        'task started',
      );
    },

    ended(task: TaskRecord, { log = deps.logger, reason, detail }: EndContext = {}): void {
      deps.metrics.taskTransition(task.model, task.status);
      const endedAt = task.completedAt ?? task.updatedAt;
      const queueWaitMs = elapsedMs(task.createdAt, task.startedAt ?? endedAt);
      const runMs = task.startedAt ? elapsedMs(task.startedAt, endedAt) : null;
      const errorCode = task.error?.code ?? null;
      deps.metrics.taskEnded(task.model, errorCode ?? task.status, queueWaitMs / 1000, runMs === null ? null : runMs / 1000);
      log.info(
        {
          task_id: task.id, account_id: task.accountId, model: task.model, status: task.status, error_code: errorCode,
          queue_wait_ms: queueWaitMs, run_ms: runMs, provider: task.provider, upstream_id: task.upstreamId, attempts: task.attempts,
          ...(reason === undefined ? {} : { reason }), ...(detail ? { detail } : {}),
        },
        'task ended',
      );
    },
  };
}

export type TaskTransitions = ReturnType<typeof createTaskTransitions>;
