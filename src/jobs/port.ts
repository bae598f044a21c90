import type { Queryable } from '../db/port.js';

/**
 * The `JobQueue` port: durable jobs on the same database as the domain's state, so a job joins
 * the transaction that makes it necessary (a task is never without its job, nor a job without
 * its task). Delivery is at least once: handlers must be idempotent.
 */

export interface JobSpec {
  /** Delay before the job may run; default 0. */
  startAfterSeconds?: number | undefined;
}

export interface Job<Data> {
  id: string;
  name: string;
  data: Data;
}

export interface QueueDepth {
  name: string;
  /** Jobs waiting to run (created or waiting to be retried). */
  queued: number;
  /** Jobs a worker is running now. */
  active: number;
}

export interface JobQueue {
  /** Creates the queue's tables and queues; idempotent, safe from several processes. */
  start(): Promise<void>;
  /** Adds a job inside `tx`: it exists if and only if `tx` commits. */
  enqueue(tx: Queryable, name: string, data: object, spec?: JobSpec): Promise<void>;
  /**
   * Runs `handler` for jobs of `name`, up to `concurrency` at once in this process. A handler that
   * throws makes the job be retried later with backoff; one that resolves completes it.
   */
  work<Data>(name: string, concurrency: number, handler: (job: Job<Data>) => Promise<void>): Promise<void>;
  /** Wakes this process's idle workers of `name` now instead of at their next poll. */
  wake(name: string): void;
  depth(): Promise<QueueDepth[]>;
  /**
   * Of the given matches (fields a job's data must hold, e.g. `{taskId, seq}`), those with no live
   * job in `name`: none waiting, and none a worker took more than `staleSeconds` ago (its worker
   * likely died before acting on it).
   */
  withoutLiveJob<M extends Record<string, string | number>>(name: string, matches: readonly M[], staleSeconds: number): Promise<M[]>;
  /** Stops fetching; waits up to `timeoutMs` for running handlers to finish. */
  stop(timeoutMs: number): Promise<void>;
}
