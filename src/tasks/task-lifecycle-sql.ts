import { ApiError } from '../errors.js';
import type { Queryable } from '../db/port.js';
import type { StoredMedia, TaskError, TaskRecord, TaskReferenceFile, TaskStatus, TaskWebhookEvents } from '../domain.js';
import { newId } from '../ids.js';
import { toTask, type TaskRow } from './task-row.js';

/*
 * The statements that change a task's status, its hold or its lease, each inside the caller's
 * transaction. The task lifecycle (task-lifecycle.ts) is what runs them, each in the transaction
 * that also writes the change's event.
 */

export interface NewTask {
  accountId: string;
  model: string;
  prompt: string;
  params: Record<string, string>;
  referenceFiles: TaskReferenceFile[];
  clientRequestId: string | null;
  price: number;
  activeTaskLimit: number;
  timeoutSeconds: number;
  /** The task's own webhook, and which of its events go there. */
  webhookUrl: string | null;
  webhookEvents: TaskWebhookEvents;
}

/** How a task ends. `from` is the compare-and-set guard: the statuses it may end from. */
export type TaskEnding =
  | { status: 'succeeded'; media: StoredMedia[] }
  | { status: 'failed'; error: TaskError }
  | { status: 'canceled'; error: TaskError };

/**
 * Inserts a queued task and places its hold, inside `tx` (migration 0002, `rivya_create_task`).
 * Keeps: available credits ≥ 0 and active tasks ≤ the account's limit. Only the task lifecycle
 * calls it, in the transaction that also appends the task's `task.queued` event.
 */
export async function insertTaskWithHold(tx: Queryable, task: NewTask): Promise<TaskRecord> {
  const id = newId('task');
  const { rows: inserted } = await tx.query<TaskRow>(
    'SELECT * FROM rivya_create_task($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7, $8, $9, $10, $11)',
    [
      id, task.accountId, task.model, task.prompt, JSON.stringify(task.params), JSON.stringify(task.referenceFiles),
      task.clientRequestId, task.price, task.timeoutSeconds, newId('led'), task.activeTaskLimit,
    ],
  );
  if (!inserted[0]) throw await whyRefused(tx, task);
  if (task.webhookUrl === null) return toTask(inserted[0]);
  // Rarely given: kept out of the create function, whose plan serves every create.
  const { rows: withWebhook } = await tx.query<TaskRow>(
    'UPDATE tasks SET webhook_url = $2, webhook_events = $3 WHERE id = $1 RETURNING *',
    [id, task.webhookUrl, task.webhookEvents],
  );
  return toTask(withWebhook[0] ?? inserted[0]);
}

/** Explains a refused create: not enough credits, or too many active tasks. */
async function whyRefused(tx: Queryable, task: NewTask): Promise<ApiError> {
  const { rows } = await tx.query<{ balance: number; held: number; active_tasks: number }>(
    'SELECT balance, held, active_tasks FROM accounts WHERE id = $1',
    [task.accountId],
  );
  const account = rows[0];
  if (!account) return new ApiError('unauthorized', 'The account of this API key no longer exists.');
  const available = Number(account.balance) - Number(account.held);
  if (available < task.price) {
    return new ApiError('insufficient_credits', `This task needs ${task.price} credits; ${available} are available.`, {
      details: { required: task.price, available },
    });
  }
  return new ApiError(
    'rate_limited',
    `At most ${task.activeTaskLimit} tasks may be queued or running at once; wait for one to finish.`,
    { details: { scope: 'active_tasks', limit: task.activeTaskLimit, window_s: null }, headers: { 'retry-after': '5' } },
  );
}

/**
 * Ends a task and settles its hold in one statement (migration 0003, `rivya_end_task`): capture
 * on success, release otherwise. Guarded by the current status (`from`) and, for a worker, its
 * lease: returns null, changing nothing, if the guard refuses — so a task ends once and its hold
 * is settled once, whatever races or retries do. The service ends tasks through the task
 * lifecycle, which appends the ending's event in the same transaction.
 */
export async function endTask(
  runner: Queryable,
  taskId: string,
  ending: TaskEnding,
  from: readonly TaskStatus[],
  leaseOwner: string | null = null,
): Promise<TaskRecord | null> {
  const succeeded = ending.status === 'succeeded';
  const { rows } = await runner.query<TaskRow>('SELECT * FROM rivya_end_task($1, $2, $3::jsonb, $4::jsonb, $5::text[], $6, $7)', [
    taskId,
    ending.status,
    succeeded ? JSON.stringify({ media: ending.media }) : null,
    succeeded ? null : JSON.stringify(ending.error),
    from,
    newId('led'),
    leaseOwner,
  ]);
  return rows[0] ? toTask(rows[0]) : null;
}

/**
 * Claims a task under `lease` (a token unique to this attempt) for `leaseSeconds`, inside `runner`
 * (migrations 0003/0005, `rivya_claim_task`): queued → running, or a running task whose lease
 * expired or was released. Returns null if the task ended, another attempt holds a live lease, or
 * `handOverSeq` (the hand-over the job was made for) is not the task's latest: a newer job exists.
 * `started`: this claim took the task out of the queue (its first start) rather than resuming it.
 */
export async function claimTask(
  runner: Queryable,
  id: string,
  lease: string,
  leaseSeconds: number,
  handOverSeq: number | null,
): Promise<{ task: TaskRecord; started: boolean } | null> {
  // The claim sets started_at to its transaction's now() only when the task had none: when it was
  // queued. A resumed claim comes a lease period later at least, in a transaction of its own.
  const { rows } = await runner.query<TaskRow & { first_start: boolean }>(
    'SELECT *, started_at = now() AS first_start FROM rivya_claim_task($1, $2, $3, $4)',
    [id, lease, leaseSeconds, handOverSeq],
  );
  return rows[0] ? { task: toTask(rows[0]), started: rows[0].first_start } : null;
}

/**
 * Renews the attempt's lease for `leaseSeconds` (locking the task's row until `runner` ends).
 * Returns the task's stored progress, or null when the task is no longer this attempt's to run
 * (canceled, timed out, or taken over).
 */
export async function renewLease(runner: Queryable, id: string, lease: string, leaseSeconds: number): Promise<number | null> {
  const { rows } = await runner.query<{ progress: number }>(
    `UPDATE tasks SET updated_at = now(), lease_expires_at = now() + make_interval(secs => $3)
      WHERE id = $1 AND status = 'running' AND lease_owner = $2
      RETURNING progress`,
    [id, lease, leaseSeconds],
  );
  return rows[0] ? rows[0].progress : null;
}

/**
 * Raises a running task's progress to `progress`, unless its last `task.progress` event is less
 * than `minIntervalMs` old (by the database's clock, which also stamps events). Returns the task
 * as changed, or null if nothing changed. Run it in the transaction that appends the event, after
 * the task's row is locked (`renewLease`): a concurrent write has then committed its event, which
 * this statement sees.
 */
export async function advanceProgress(runner: Queryable, id: string, progress: number, minIntervalMs: number): Promise<TaskRecord | null> {
  const { rows } = await runner.query<TaskRow>(
    `UPDATE tasks SET progress = $2, updated_at = now()
      WHERE id = $1 AND status = 'running' AND progress < $2
        AND NOT EXISTS (SELECT 1 FROM events
                         WHERE task_id = $1 AND type = 'task.progress' AND created_at > now() - make_interval(secs => $3))
      RETURNING *`,
    [id, progress, minIntervalMs / 1000],
  );
  return rows[0] ? toTask(rows[0]) : null;
}

/**
 * Lets a lease go on purpose, inside `runner` (the transaction that also enqueues the task's next
 * job): marks the task handed over and bumps its hand-over number, which the next job must carry.
 * Returns null if the lease was no longer held; else the new number and whether an upstream asked
 * meanwhile to be checked at once (a callback during the attempt).
 */
export async function handOverLease(runner: Queryable, id: string, lease: string): Promise<{ seq: number; wake: boolean } | null> {
  const { rows } = await runner.query<{ hand_over_seq: number; wake: boolean }>(
    `UPDATE tasks t SET lease_owner = NULL, lease_expires_at = NULL, handed_over = true, wake_requested = false,
            hand_over_seq = t.hand_over_seq + 1, updated_at = now()
       FROM (SELECT id, wake_requested FROM tasks WHERE id = $1 FOR UPDATE) old
      WHERE t.id = old.id AND t.status = 'running' AND t.lease_owner = $2
      RETURNING t.hand_over_seq, old.wake_requested AS wake`,
    [id, lease],
  );
  const row = rows[0];
  return row ? { seq: row.hand_over_seq, wake: row.wake } : null;
}
