import type { Queryable } from '../db/port.js';
import type { EventLog, EventRecord } from './event-log.js';

/** A position in an account's log: after the event `id` (seq `seq`); seq 0 and no id before its first. */
export interface LogPosition {
  seq: number;
  id: string | null;
}

/** Where an account's log and a task's events stand now. */
export function createLogPositions(db: Queryable, log: EventLog) {
  return {
    /** The account's latest event still in the log (an empty log: seq 0). */
    async latest(accountId: string): Promise<LogPosition> {
      const { rows } = await db.query<{ seq: number; id: string }>(
        'SELECT seq, id FROM events WHERE account_id = $1 ORDER BY seq DESC LIMIT 1',
        [accountId],
      );
      const row = rows[0];
      return row ? { seq: Number(row.seq), id: row.id } : { seq: 0, id: null };
    },

    /** The task's latest event, or null if it has none in the log. */
    async latestOfTask(accountId: string, taskId: string): Promise<EventRecord | null> {
      const { rows } = await db.query<{ seq: number }>('SELECT max(seq) AS seq FROM events WHERE task_id = $1 AND account_id = $2', [taskId, accountId]);
      const seq = rows[0]?.seq;
      if (seq === null || seq === undefined) return null;
      const [event] = await log.list(accountId, { afterSeq: Number(seq) - 1, taskId, limit: 1 });
      return event ?? null;
    },
  };
}

export type LogPositions = ReturnType<typeof createLogPositions>;
