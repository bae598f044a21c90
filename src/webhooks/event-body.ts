import type { EventRecord } from '../events/event-log.js';
import { presentEvent, type EventView } from '../events/present-event.js';
import type { ObjectStore } from '../storage/port.js';
import { presentTask, resultUrlExpiry } from '../tasks/present-task.js';

/**
 * The public JSON of an event from the log, as the JSON log and the streams present it, with its
 * task's result URLs signed now, for `resultUrlTtlSeconds`.
 */
export async function presentLoggedEvent(
  event: EventRecord,
  stores: ReadonlyMap<string, ObjectStore>,
  resultUrlTtlSeconds: number,
): Promise<EventView> {
  const expiry = resultUrlExpiry(new Date(), resultUrlTtlSeconds);
  return presentEvent(event, (task) => presentTask(task, stores, expiry));
}
