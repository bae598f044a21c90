import type { EventRecord } from '../events/event-log.js';
import type { ObjectStore } from '../storage/port.js';
import { presentTask, resultUrlExpiry } from '../tasks/present-task.js';

/**
 * The public JSON of an event from the log, `{id, type, created_at, data: {task}}`, with the task
 * as the API presents it: its result URLs are signed now, for `resultUrlTtlSeconds`.
 */
export async function presentLoggedEvent(
  event: EventRecord,
  stores: ReadonlyMap<string, ObjectStore>,
  resultUrlTtlSeconds: number,
): Promise<Record<string, unknown>> {
  return {
    id: event.id,
    type: event.type,
    created_at: event.createdAt.toISOString(),
    data: event.task ? { task: await presentTask(event.task, stores, resultUrlExpiry(new Date(), resultUrlTtlSeconds)) } : {},
  };
}
