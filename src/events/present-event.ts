import type { ObjectStore } from '../storage/port.js';
import { presentTask, type TaskView } from '../tasks/present-task.js';
import type { EventRecord, EventType } from './event-log.js';

/** The public Event object (API.md, "Events and webhooks"). */
export interface EventView {
  id: string;
  type: EventType;
  created_at: string;
  data: { task?: TaskView };
}

/**
 * An event as the API shows it: its task presented now (result URLs signed to expire at
 * `urlExpiry`), never the stored record's internals.
 */
export async function presentEvent(event: EventRecord, stores: ReadonlyMap<string, ObjectStore>, urlExpiry: Date): Promise<EventView> {
  return {
    id: event.id,
    type: event.type,
    created_at: event.createdAt.toISOString(),
    data: event.task ? { task: await presentTask(event.task, stores, urlExpiry) } : {},
  };
}
