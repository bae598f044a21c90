import type { FastifyBaseLogger } from 'fastify';
import type { Database, Queryable } from '../db/port.js';
import type { TaskRecord, TaskStatus } from '../domain.js';
import { appendEvent, type EventRecord, type TaskEventType } from '../events/event-log.js';
import type { JobQueue } from '../jobs/port.js';
import {
  advanceProgress, claimTask, endTask, handOverLease, insertTaskWithHold, renewLease, type NewTask, type TaskEnding,
} from './task-lifecycle-sql.js';
import type { TaskStore } from './task-store.js';
import type { EndContext, TaskTransitions } from './task-transitions.js';

/** The pg-boss queue of the jobs that move tasks. */
export const TASK_QUEUE = 'task.run';

/** A job of `TASK_QUEUE`: run (claim, then submit or poll) one task. */
export interface TaskJob {
  taskId: string;
  /** The hand-over this job was made for; a job for an older one finds the task not claimable. */
  seq?: number;
  /** Polls of the upstream job so far (the backoff grows with it). */
  polls?: number;
  /** Consecutive rounds that ended in a retryable upstream error. */
  retries?: number;
}

/** A task's `task.progress` events are at least this far apart. */
export const PROGRESS_EVENT_INTERVAL_MS = 500;

export interface TaskLifecycleDeps {
  db: Database;
  tasks: TaskStore;
  queue: JobQueue;
  /** Counts, times and logs each creation, start and end (after commit). */
  transitions: TaskTransitions;
  /** Runs in each event's transaction, right after the event is appended: what must commit with it (webhook deliveries). */
  onEvent: (tx: Queryable, event: EventRecord) => Promise<void>;
  /** Told of each event once its transaction has committed. */
  onCommitted?: (event: EventRecord) => void;
  /** How long a queued (or handed-over) task may sit untouched before the sweeper checks that its job still exists. */
  strandedAfterSeconds: number;
}

/** A change made inside the caller's transaction: `announce` it once that transaction has committed. */
export interface Uncommitted<Announce extends unknown[]> {
  task: TaskRecord;
  /** The position of the change in its account's log (its event's seq). */
  position: number;
  announce(...args: Announce): void;
}

/** Where a task may end from: the statuses it may have, and the lease of the attempt ending it (a worker's). */
export interface EndGuard {
  from: readonly TaskStatus[];
  lease?: string | undefined;
}

/** What a heartbeat found: whether the attempt still holds the task, and the progress now stored. */
export interface Heartbeat {
  held: boolean;
  progress: number | null;
}

const ENDING_EVENTS: Record<TaskEnding['status'], TaskEventType> = {
  succeeded: 'task.succeeded',
  failed: 'task.failed',
  canceled: 'task.canceled',
};

/**
 * The life of a task, in one place: its queue and job shape, and every transaction that changes
 * its status, its hold or its events — create (task, hold, `task.queued`, first job), claim
 * (`task.running` on the first start only), progress (`task.progress`, at most every 500 ms),
 * end (succeeded | failed | canceled, with capture or release), and the jobs that carry it on
 * (hand-over to a later poll, a callback's wake, the sweeper's resumes).
 *
 * Keeps: each status change is written with its event and its credit movement in one
 * transaction — no transition without its event, no event without its transition — and each
 * event is passed to `onEvent` inside that transaction. Metrics, logs and `onCommitted` follow
 * the commit; waiters (long-polls, event streams, a running attempt's cancel watch) are woken by
 * the event itself, announced to every process when it commits.
 */
export function createTaskLifecycle(deps: TaskLifecycleDeps) {
  const enqueue = (tx: Queryable, job: TaskJob, afterSeconds = 0) =>
    deps.queue.enqueue(tx, TASK_QUEUE, job, { startAfterSeconds: afterSeconds });

  async function record(tx: Queryable, type: TaskEventType, task: TaskRecord): Promise<EventRecord> {
    const event = await appendEvent(tx, { accountId: task.accountId, type, task });
    await deps.onEvent(tx, event);
    return event;
  }

  const committed = (event: EventRecord): void => deps.onCommitted?.(event);

  /** Ends a task inside `tx`; null if its guard refused (it ended already, or the lease is not the attempt's). */
  async function endIn(tx: Queryable, taskId: string, ending: TaskEnding, guard: EndGuard): Promise<Uncommitted<[EndContext?]> | null> {
    const task = await endTask(tx, taskId, ending, guard.from, guard.lease ?? null);
    if (!task) return null;
    const event = await record(tx, ENDING_EVENTS[ending.status], task);
    return {
      task,
      position: event.seq,
      announce(why: EndContext = {}) {
        deps.transitions.ended(task, why);
        committed(event);
      },
    };
  }

  return {
    /**
     * Creates a queued task inside `tx` (the create request's transaction): its hold, its
     * `task.queued` event and its first job commit with it. Throws `insufficient_credits` or
     * `rate_limited` (active tasks) when the account cannot take it.
     */
    async create(tx: Queryable, spec: NewTask): Promise<Uncommitted<[FastifyBaseLogger?]>> {
      const task = await insertTaskWithHold(tx, spec);
      const event = await record(tx, 'task.queued', task);
      await enqueue(tx, { taskId: task.id, seq: 0 });
      return {
        task,
        position: event.seq,
        announce(log?: FastifyBaseLogger) {
          deps.transitions.created(task, log);
          deps.queue.wake(TASK_QUEUE);
          committed(event);
        },
      };
    },

    /**
     * Claims the task of `job` under `lease` for `leaseSeconds` (see `claimTask`). `started` is
     * true when this claim took the task out of the queue (queued → running, with its
     * `task.running` event); a claim that resumes a running task changes no status and writes no
     * event. Null when the task is not this job's to run.
     */
    async claim(job: TaskJob, lease: string, leaseSeconds: number): Promise<{ task: TaskRecord; started: boolean } | null> {
      const claimed = await deps.db.transaction(async (tx) => {
        const claim = await claimTask(tx, job.taskId, lease, leaseSeconds, job.seq ?? null);
        if (!claim) return null;
        return { task: claim.task, event: claim.started ? await record(tx, 'task.running', claim.task) : null };
      });
      if (!claimed) return null;
      if (claimed.event) {
        deps.transitions.started(claimed.task);
        committed(claimed.event);
      }
      return { task: claimed.task, started: claimed.event !== null };
    },

    /**
     * Renews the attempt's lease and, when `progress` is above the stored value and the task's
     * last `task.progress` event is at least `PROGRESS_EVENT_INTERVAL_MS` old, stores it with a
     * `task.progress` event. `held` false: the task is no longer the attempt's (it must stop).
     */
    async heartbeat(taskId: string, lease: string, leaseSeconds: number, progress: number | null): Promise<Heartbeat> {
      if (progress === null) {
        const stored = await renewLease(deps.db, taskId, lease, leaseSeconds);
        return { held: stored !== null, progress: stored };
      }
      const beat = await deps.db.transaction(async (tx) => {
        const stored = await renewLease(tx, taskId, lease, leaseSeconds);
        if (stored === null || progress <= stored) return { held: stored !== null, progress: stored, event: null };
        const task = await advanceProgress(tx, taskId, progress, PROGRESS_EVENT_INTERVAL_MS);
        if (!task) return { held: true, progress: stored, event: null };
        return { held: true, progress: task.progress, event: await record(tx, 'task.progress', task) };
      });
      if (beat.event) committed(beat.event);
      return { held: beat.held, progress: beat.progress };
    },

    /**
     * Ends a task from `guard.from` (under `guard.lease` for a worker's attempt): status, capture
     * or release, and the ending's event in one transaction. Returns the ended task, or null if
     * the guard refused and nothing changed. `why` goes to its `task ended` line.
     */
    async end(taskId: string, ending: TaskEnding, guard: EndGuard, why: EndContext = {}): Promise<TaskRecord | null> {
      const ended = await deps.db.transaction((tx) => endIn(tx, taskId, ending, guard));
      ended?.announce(why);
      return ended?.task ?? null;
    },

    /** `end` inside the caller's transaction (a cancel request's): `announce` after it commits. */
    endIn,

    /**
     * Lets the attempt's lease go and enqueues the task's next job (`job`, after `afterSeconds`)
     * in one transaction, so the task always has either a live lease or a job. A callback during
     * the attempt makes the next job run at once.
     */
    async handOver(job: TaskJob, lease: string, afterSeconds: number): Promise<void> {
      await deps.db.transaction(async (tx) => {
        const handedOver = await handOverLease(tx, job.taskId, lease);
        if (handedOver) await enqueue(tx, { ...job, seq: handedOver.seq }, handedOver.wake ? 0 : afterSeconds);
      });
    },

    /**
     * An upstream's callback for `taskId`: the task's next status fetch happens now (a new job,
     * in the transaction that records the wake). The job the callback names (`upstreamHint`,
     * unverified) is kept for a task whose submission's answer was lost. False when there is
     * nothing to wake now.
     */
    async wake(taskId: string, upstreamHint: string | null): Promise<boolean> {
      return deps.db.transaction(async (tx) => {
        const seq = await deps.tasks.wake(tx, taskId, upstreamHint);
        if (seq === null) return false;
        await enqueue(tx, { taskId, seq });
        return true;
      });
    },

    /** Gives running tasks whose attempt stopped renewing its lease a new job (at most `limit`); returns their ids. */
    resumeOrphans: (limit: number): Promise<string[]> => deps.tasks.resumeOrphans(limit, (tx, taskId, seq) => enqueue(tx, { taskId, seq })),

    /**
     * Gives a new job to tasks waiting for one whose job is lost (a worker took it and died
     * before claiming the task); returns their ids.
     */
    resumeStranded: (): Promise<string[]> =>
      deps.tasks.resumeStranded(
        deps.strandedAfterSeconds,
        (jobs) => deps.queue.withoutLiveJob(TASK_QUEUE, jobs, deps.strandedAfterSeconds),
        (tx, taskId, seq) => enqueue(tx, { taskId, seq }),
      ),
  };
}

export type TaskLifecycle = ReturnType<typeof createTaskLifecycle>;
