import type { Database, Queryable } from '../db/port.js';
import type { TaskRecord } from '../domain.js';
import { randomBase62 } from '../ids.js';

/**
 * The events of an account's log. Task events carry the task as it was; `task.progress` is
 * written at most every 500 ms per task.
 */
export const TASK_EVENT_TYPES = ['task.queued', 'task.running', 'task.progress', 'task.succeeded', 'task.failed', 'task.canceled'] as const;
export type TaskEventType = (typeof TASK_EVENT_TYPES)[number];
export const EVENT_TYPES = [...TASK_EVENT_TYPES, 'webhook.test'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** The channel committed events are announced on: `<account_id> <seq> <task_id or ->`. */
export const EVENT_CHANNEL = 'rivya_events';

/** One event as stored. */
export interface EventRecord {
  /** `evt_…`: sorts like `seq` within the account, unique across accounts. */
  id: string;
  accountId: string;
  /** The event's position in its account's log: events commit in this order. */
  seq: number;
  type: EventType;
  taskId: string | null;
  /** The task as it was when the event happened (task events). */
  task: TaskRecord | null;
  createdAt: Date;
}

interface EventRow {
  id: string;
  account_id: string;
  seq: number;
  type: EventType;
  task_id: string | null;
  data: { task?: Record<string, unknown> };
  created_at: Date;
}

const TASK_DATE_FIELDS = ['deadlineAt', 'createdAt', 'updatedAt', 'changedAt', 'startedAt', 'completedAt', 'submittedAt'] as const;

/** A task record read back from JSON: its dates are Dates again. */
function reviveTask(raw: Record<string, unknown>): TaskRecord {
  const task = { ...raw };
  for (const field of TASK_DATE_FIELDS) {
    const value = task[field];
    if (typeof value === 'string') task[field] = new Date(value);
  }
  // Events written before migration 0012 carry no changedAt.
  task['changedAt'] ??= task['updatedAt'];
  return task as unknown as TaskRecord;
}

function toEvent(row: EventRow): EventRecord {
  return {
    id: row.id,
    accountId: row.account_id,
    seq: Number(row.seq),
    type: row.type,
    taskId: row.task_id,
    task: row.data.task ? reviveTask(row.data.task) : null,
    createdAt: new Date(row.created_at),
  };
}

/**
 * Appends an event to the account's log inside `tx`: it commits or rolls back with the change it
 * describes (migration 0007, `rivya_append_event`), and is announced on `EVENT_CHANNEL` at commit.
 */
export async function appendEvent(
  tx: Queryable,
  event: { accountId: string; type: EventType; task: TaskRecord | null },
): Promise<EventRecord> {
  // The data just written is not read back: the record carries the task it was given.
  const { rows } = await tx.query<Omit<EventRow, 'data'>>(
    'SELECT account_id, seq, id, type, task_id, created_at FROM rivya_append_event($1, $2, $3, $4::jsonb, $5)',
    [event.accountId, event.type, event.task?.id ?? null, JSON.stringify(event.task ? { task: event.task } : {}), randomBase62(10)],
  );
  const row = rows[0];
  if (!row) throw new Error('rivya_append_event returned no row');
  return { ...toEvent({ ...row, data: {} }), task: event.task };
}

/**
 * A select-list item, `position`: the log position of the account named by the SQL expression
 * `accountId` (its last seq; 0 before any change). Read in the same statement as the rows it goes
 * with, it is their snapshot's: every change up to it is in them, none after.
 */
export const positionOf = (accountId: string): string =>
  `coalesce((SELECT last_seq FROM event_counters c WHERE c.account_id = ${accountId}), 0) AS position`;

/** The seq an event id names (`evt_000000000042…` → 42), or null if it is not an event id. */
export function seqOfEventId(id: string): number | null {
  const match = /^evt_(\d{12})[0-9A-Za-z]{10}$/.exec(id);
  return match ? Number(match[1]) : null;
}

export interface EventListFilter {
  /** Events after this seq (exclusive); 0 from the start of the kept log. */
  afterSeq: number;
  /** Only these types; all when absent. */
  types?: readonly EventType[] | undefined;
  /** Only this task's events. */
  taskId?: string | undefined;
  limit: number;
}

/** Reads of the event log, and its retention. */
export function createEventLog(db: Database) {
  return {
    /** The account's events after `afterSeq`, oldest first. */
    async list(accountId: string, filter: EventListFilter): Promise<EventRecord[]> {
      const { rows } = await db.query<EventRow>(
        `SELECT * FROM events
          WHERE account_id = $1 AND seq > $2 AND ($3::text[] IS NULL OR type = ANY ($3)) AND ($4::text IS NULL OR task_id = $4)
          ORDER BY seq LIMIT $5`,
        [accountId, filter.afterSeq, filter.types ? [...filter.types] : null, filter.taskId ?? null, filter.limit],
      );
      return rows.map(toEvent);
    },

    /** One event of the account, by id; null if it is unknown, another account's, or swept. */
    async get(accountId: string, id: string): Promise<EventRecord | null> {
      const { rows } = await db.query<EventRow>('SELECT * FROM events WHERE account_id = $1 AND id = $2', [accountId, id]);
      return rows[0] ? toEvent(rows[0]) : null;
    },

    /**
     * The seq of the last event swept from the front of the account's log (0 when none was): a
     * client that read up to it misses nothing that is kept. Found from what the sweeper records,
     * not from the oldest kept event: seqs have gaps where a change was not an event (migration 0012).
     */
    async lastSweptSeq(accountId: string): Promise<number> {
      const { rows } = await db.query<{ swept_through: number | string }>(
        'SELECT swept_through FROM event_counters WHERE account_id = $1',
        [accountId],
      );
      return Number(rows[0]?.swept_through ?? 0);
    },

    /**
     * Deletes events older than `retentionSeconds` (at most `limit` at a time), recording for each
     * account the last seq swept; returns how many.
     */
    async purgeOlderThan(retentionSeconds: number, limit = 10_000): Promise<number> {
      const { rows } = await db.query<{ swept: number | string }>(
        `WITH swept AS (
           DELETE FROM events WHERE (account_id, seq) IN (
             SELECT account_id, seq FROM events WHERE created_at < now() - make_interval(secs => $1) LIMIT $2)
           RETURNING account_id, seq),
         recorded AS (
           UPDATE event_counters c SET swept_through = greatest(c.swept_through, s.last)
             FROM (SELECT account_id, max(seq) AS last FROM swept GROUP BY account_id) s
            WHERE c.account_id = s.account_id)
         SELECT count(*) AS swept FROM swept`,
        [retentionSeconds, limit],
      );
      return Number(rows[0]?.swept ?? 0);
    },
  };
}

export type EventLog = ReturnType<typeof createEventLog>;
