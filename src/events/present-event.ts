import type { TaskRecord } from '../domain.js';
import type { TaskView } from '../tasks/present-task.js';
import type { EventRecord, EventType } from './event-log.js';

/** The public Event object (API.md, "Events and webhooks"): the same in the JSON log, SSE frames and webhook bodies. */
export interface EventView {
  /** `evt_…`: ordered within the account; a webhook's `webhook-id`, an SSE frame's `id`. */
  id: string;
  type: EventType;
  created_at: string;
  /** Task events carry the task as it was when the event happened, as the API presents it. */
  data: { task?: TaskView };
}

/**
 * Presents a stored event. Its task goes through `presentTask` at read time (the API's Task
 * object: result URLs freshly signed, never the stored keys or the task's webhook).
 */
export async function presentEvent(event: EventRecord, presentTask: (task: TaskRecord) => Promise<TaskView>): Promise<EventView> {
  return {
    id: event.id,
    type: event.type,
    created_at: event.createdAt.toISOString(),
    data: event.task ? { task: await presentTask(event.task) } : {},
  };
}
