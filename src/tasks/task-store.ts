import type { Database, Queryable } from '../db/port.js';
import { isTerminal, TASK_STATUSES, type AtPosition, type TaskRecord, type TaskStatus } from '../domain.js';
import { LruCache } from '../lru-cache.js';
import { decodeCursor, toPage, type Page } from '../pagination.js';
import { toTask, type TaskRow } from './task-row.js';
import { positionOf } from '../events/event-log.js';

export interface TaskListFilter {
  limit: number;
  cursor?: string | undefined;
  status?: TaskStatus | undefined;
  model?: string | undefined;
  clientRequestId?: string | undefined;
}

/** Tasks: reads, and what a worker records while it runs one (its status changes belong to the task lifecycle). */
export function createTaskStore(db: Database) {
  // A task in a terminal status never changes again, so it can be served from memory.
  const ended = new LruCache<string, AtPosition<TaskRecord>>(20_000, 3_600_000);

  /**
   * The task if it belongs to `accountId` (another account's task is simply not found), with the
   * position of the account's log it is current through: its snapshot's, or, for an ended task,
   * the one it was first read at.
   */
  async function read(accountId: string, id: string): Promise<AtPosition<TaskRecord | null>> {
    const cached = ended.get(id);
    if (cached) return cached.value.accountId === accountId ? cached : { value: null, position: 0 };
    const { rows } = await db.query<TaskRow & { position: string }>(
      `SELECT t.*, ${positionOf('t.account_id')} FROM tasks t WHERE t.id = $1 AND t.account_id = $2`,
      [id, accountId],
    );
    const row = rows[0];
    if (!row) return { value: null, position: 0 };
    const found = { value: toTask(row), position: Number(row.position) };
    if (isTerminal(found.value.status)) ended.set(id, found);
    return found;
  }

  return {
    read,

    async getById(id: string): Promise<TaskRecord | null> {
      const { rows } = await db.query<TaskRow>('SELECT * FROM tasks WHERE id = $1', [id]);
      return rows[0] ? toTask(rows[0]) : null;
    },

    /** The account's tasks, newest first, filtered. */
    async list(accountId: string, filter: TaskListFilter): Promise<Page<TaskRecord>> {
      const before = decodeCursor(filter.cursor);
      const { rows } = await db.query<TaskRow>(
        `SELECT * FROM tasks
          WHERE account_id = $1 AND ($2::bigint IS NULL OR seq < $2) AND ($3::text IS NULL OR status = $3)
            AND ($4::text IS NULL OR model = $4) AND ($5::text IS NULL OR client_request_id = $5)
          ORDER BY seq DESC LIMIT $6`,
        [accountId, before, filter.status ?? null, filter.model ?? null, filter.clientRequestId ?? null, filter.limit + 1],
      );
      return toPage(rows, filter.limit, toTask);
    },

    /**
     * Ends the attempt's lease now (it failed, or its process stops): the sweeper resumes the task
     * at its next pass, and any pending retry of its job may claim it at once.
     */
    async expireLease(id: string, lease: string, planned = false): Promise<void> {
      // `planned` (a graceful shutdown): the next claim is not counted as a new attempt.
      await db.query(
        `UPDATE tasks SET lease_expires_at = now() - interval '1 millisecond', handed_over = handed_over OR $3, updated_at = now()
          WHERE id = $1 AND status = 'running' AND lease_owner = $2`,
        [id, lease, planned],
      );
    },

    /**
     * Remembers the upstream job, so a resumed attempt polls it instead of submitting again.
     * Returns false if the attempt no longer holds the task.
     */
    async recordUpstream(id: string, lease: string, provider: string, upstreamId: string | null): Promise<boolean> {
      const { rowCount } = await db.query(
        `UPDATE tasks SET provider = $3, upstream_id = $4, upstream_hint = NULL, updated_at = now()
          WHERE id = $1 AND status = 'running' AND lease_owner = $2`,
        [id, lease, provider, upstreamId],
      );
      return rowCount > 0;
    },

    /**
     * Records a job the upstream accepted after this attempt lost its lease (another attempt took
     * the task over meanwhile): kept if the task still runs and knows no job yet, so the job is
     * polled rather than lost. Returns false if the task ended or has a job.
     */
    async recordOrphanedUpstream(id: string, provider: string, upstreamId: string): Promise<boolean> {
      const { rowCount } = await db.query(
        `UPDATE tasks SET upstream_id = $3, upstream_hint = NULL, updated_at = now()
          WHERE id = $1 AND status = 'running' AND provider = $2 AND upstream_id IS NULL`,
        [id, provider, upstreamId],
      );
      return rowCount > 0;
    },

    /**
     * Records which provider account this attempt is about to ask (null: none, after it refused
     * cleanly), before the request is sent. Returns false if the attempt no longer holds the task.
     */
    async recordIntent(id: string, lease: string, provider: string | null): Promise<boolean> {
      const { rowCount } = await db.query(
        `UPDATE tasks SET provider = $3, submitted_at = CASE WHEN $3::text IS NULL THEN NULL ELSE now() END, updated_at = now()
          WHERE id = $1 AND status = 'running' AND lease_owner = $2 AND upstream_id IS NULL`,
        [id, lease, provider],
      );
      return rowCount > 0;
    },

    /**
     * An upstream's callback for a running task, naming (`hint`, unverified) the job it is about.
     * A task whose submission's answer was lost keeps the hint for its next attempt to check with
     * the upstream. If the task waits for its next job (handed over), bumps its hand-over number
     * inside `runner` and returns it, for the job that runs now (the waiting one becomes stale);
     * if an attempt is running, asks it to run again at once when it hands over. Returns null when
     * there is nothing to wake now.
     */
    async wake(runner: Queryable, id: string, hint: string | null): Promise<number | null> {
      const { rows } = await runner.query<{ hand_over_seq: number; handed_over: boolean }>(
        `UPDATE tasks SET
                upstream_hint = CASE WHEN $2::text IS NOT NULL AND upstream_id IS NULL AND provider IS NOT NULL THEN $2 ELSE upstream_hint END,
                hand_over_seq = hand_over_seq + CASE WHEN handed_over AND lease_owner IS NULL THEN 1 ELSE 0 END,
                wake_requested = NOT (handed_over AND lease_owner IS NULL), updated_at = now()
          WHERE id = $1 AND status = 'running'
            -- A task waiting to resend a lost submission wakes only with a job to check.
            AND (upstream_id IS NOT NULL OR lease_owner IS NOT NULL OR ($2::text IS NOT NULL AND provider IS NOT NULL))
          RETURNING hand_over_seq, handed_over AND lease_owner IS NULL AS handed_over`,
        [id, hint],
      );
      const row = rows[0];
      return row?.handed_over ? row.hand_over_seq : null;
    },

    /** Forgets a callback's hint that the upstream did not confirm. */
    async clearHint(id: string, lease: string): Promise<void> {
      await db.query(`UPDATE tasks SET upstream_hint = NULL WHERE id = $1 AND lease_owner = $2`, [id, lease]);
    },

    /** Active tasks past their deadline. */
    async pastDeadline(limit: number): Promise<string[]> {
      const { rows } = await db.query<{ id: string }>(
        `SELECT id FROM tasks WHERE status IN ('queued', 'running') AND deadline_at < now() ORDER BY deadline_at LIMIT $1`,
        [limit],
      );
      return rows.map((row) => row.id);
    },

    /**
     * Running tasks whose attempt stopped renewing its lease: each one's lease is cleared and
     * `resume` (which enqueues its next job) runs in the same transaction, so a task is never left
     * without both a lease and a job. Returns the ids resumed.
     */
    async resumeOrphans(limit: number, resume: (tx: Queryable, taskId: string, seq: number) => Promise<void>): Promise<string[]> {
      return db.transaction(async (tx) => {
        const { rows } = await tx.query<{ id: string; hand_over_seq: number }>(
          `UPDATE tasks SET lease_owner = NULL, lease_expires_at = NULL, hand_over_seq = hand_over_seq + 1, updated_at = now()
            WHERE id IN (SELECT id FROM tasks WHERE status = 'running' AND lease_expires_at < now() LIMIT $1 FOR UPDATE SKIP LOCKED)
            RETURNING id, hand_over_seq`,
          [limit],
        );
        for (const row of rows) await resume(tx, row.id, row.hand_over_seq);
        return rows.map((row) => row.id);
      });
    },

    /**
     * Queued tasks, and running ones handed over to a later job, untouched for `idleSeconds` whose
     * current job (`{taskId, seq}`) `isStranded` says is gone (its worker died between taking the
     * job and claiming the task; a superseded job does not count): each gets a new job via
     * `resume`, in the transaction that marks it touched, so it is not resumed again before
     * another `idleSeconds`.
     */
    async resumeStranded(
      idleSeconds: number,
      isStranded: (jobs: { taskId: string; seq: number }[]) => Promise<{ taskId: string; seq: number }[]>,
      resume: (tx: Queryable, taskId: string, seq: number) => Promise<void>,
    ): Promise<string[]> {
      const { rows } = await db.query<{ id: string; hand_over_seq: number }>(
        `SELECT id, hand_over_seq FROM tasks
          WHERE (status = 'queued' OR (status = 'running' AND handed_over AND lease_owner IS NULL))
            AND updated_at < now() - make_interval(secs => $1)
          ORDER BY updated_at LIMIT 100`,
        [idleSeconds],
      );
      const stranded = await isStranded(rows.map((row) => ({ taskId: row.id, seq: row.hand_over_seq })));
      if (stranded.length === 0) return [];
      return db.transaction(async (tx) => {
        const { rows: touched } = await tx.query<{ id: string; hand_over_seq: number }>(
          `UPDATE tasks SET updated_at = now(), hand_over_seq = hand_over_seq + 1
            WHERE id = ANY($1::text[]) AND (status = 'queued' OR (status = 'running' AND handed_over AND lease_owner IS NULL))
            RETURNING id, hand_over_seq`,
          [stranded.map((job) => job.taskId)],
        );
        for (const row of touched) await resume(tx, row.id, row.hand_over_seq);
        return touched.map((row) => row.id);
      });
    },

    /** Expires every lease now: used at start by the only process of an embedded store, whose other workers are all gone. */
    async expireAllLeases(): Promise<number> {
      const { rowCount } = await db.query(
        `UPDATE tasks SET lease_expires_at = now() - interval '1 second' WHERE status = 'running' AND lease_expires_at IS NOT NULL`,
      );
      return rowCount;
    },

    /**
     * Tasks per status, every status listed. Active ones are counted (a partial index holds
     * them); terminal ones are read from `task_status_totals`, which triggers keep (migration
     * 0006): the cost does not grow with the table.
     */
    async countByStatus(): Promise<Record<TaskStatus, number>> {
      const { rows } = await db.query<{ status: TaskStatus; n: number }>(
        `SELECT status, count(*)::bigint AS n FROM tasks WHERE status IN ('queued', 'running') GROUP BY status
         UNION ALL
         SELECT status, sum(n)::bigint FROM task_status_totals GROUP BY status`,
      );
      const counts = Object.fromEntries(TASK_STATUSES.map((status) => [status, 0])) as Record<TaskStatus, number>;
      for (const row of rows) counts[row.status] = row.n;
      return counts;
    },
  };
}

export type TaskStore = ReturnType<typeof createTaskStore>;
