import type { Account, TaskRecord } from '../domain.js';
import { validationFailed } from '../errors.js';
import type { Page } from '../pagination.js';
import type { TaskView } from '../tasks/present-task.js';
import { seqOfEventId, type EventLog, type EventType } from './event-log.js';
import { presentEvent, type EventView } from './present-event.js';

/** What an `after` must look like. */
export const AFTER_FORMAT = 'Must be an event id (evt_…): an event\'s id, or the next_cursor of a page.';

/** Which of the account's events to read: after an event (`after`, its id; absent: from the oldest kept), of some types. */
export interface EventQuery {
  after?: string | undefined;
  types?: readonly EventType[] | undefined;
}

export interface EventServiceDeps {
  log: EventLog;
  /** The API's Task object of a stored task (result URLs signed now). */
  presentTask: (task: TaskRecord) => Promise<TaskView>;
  /** How long events are kept: named when an `after` is no longer in the log. */
  retentionSeconds: number;
}

/** What the API reads of the event log: pages of it, oldest first, and where a reader resumes. */
export function createEventService(deps: EventServiceDeps) {
  const retention = deps.retentionSeconds % 86_400 === 0 ? `${deps.retentionSeconds / 86_400} days` : `${deps.retentionSeconds} seconds`;
  const notInLog = (after: string) =>
    validationFailed([{
      path: 'after',
      message: `${after} is not an event of your log: it is another account's, unknown, or older than the ${retention} events are kept. `
        + 'Leave after out to read from the oldest event kept.',
    }]);

  const service = {
    present: (event: Parameters<typeof presentEvent>[0]): Promise<EventView> => presentEvent(event, deps.presentTask),

    /**
     * The position (seq) of the account's event `after` (0 without one, or for the position 0 id),
     * for reading on from it. An id that is not one of the account's kept events (nor the last one
     * swept, after which nothing is missing) is a `validation_failed` on `after`:
     * reading from the start instead would hand a client that believes it is resuming either
     * events it has seen or, past a sweep, a silent gap.
     */
    async resolveAfter(accountId: string, after: string | undefined): Promise<number> {
      if (after === undefined) return 0;
      const seq = seqOfEventId(after);
      if (seq === null) {
        throw validationFailed([{ path: 'after', message: AFTER_FORMAT }]);
      }
      // Position 0 (`evt_` and zeros, what a stream names the start of an empty log) is before every event.
      if (seq === 0 || (await deps.log.get(accountId, after))) return seq;
      // Swept: the last event swept is still a good position, since every event after it is kept
      // (a quiet account's stream resuming from its last event, gone meanwhile). Its random part
      // can no longer be checked, but a wrong one only names a position in the account's own log.
      if (seq === (await deps.log.lastSweptSeq(accountId))) return seq;
      throw notInLog(after);
    },

    /** A page of the account's events, oldest first; `next_cursor` is the id of its last event when more follow. */
    async list(account: Account, query: EventQuery & { limit: number }): Promise<Page<EventView>> {
      const afterSeq = await service.resolveAfter(account.id, query.after);
      const rows = await deps.log.list(account.id, { afterSeq, types: query.types, limit: query.limit + 1 });
      const hasMore = rows.length > query.limit;
      const page = hasMore ? rows.slice(0, query.limit) : rows;
      return {
        data: await Promise.all(page.map(service.present)),
        has_more: hasMore,
        next_cursor: hasMore ? (page.at(-1)?.id ?? null) : null,
      };
    },
  };
  return service;
}

export type EventService = ReturnType<typeof createEventService>;
