import { TASK_EVENT_TYPES, type TaskEventType } from '../events/event-log.js';
import type { ValidationIssue } from '../errors.js';

/** Every event type, now and to come, including `task.progress`. */
export const ALL_EVENTS = '*';

/**
 * What an endpoint receives when its `events` are left out: every task status event, but not
 * `task.progress`, which comes every 500 ms while a task runs (list it, or `*`, to get it).
 */
export const DEFAULT_ENDPOINT_EVENTS: readonly TaskEventType[] = TASK_EVENT_TYPES.filter((type) => type !== 'task.progress');

/** Event types an endpoint may subscribe to by name. `webhook.test` is sent only by `POST …/test`. */
export const SUBSCRIBABLE_EVENTS: readonly string[] = TASK_EVENT_TYPES;

/**
 * An endpoint's `events` as given: a non-empty list of event types, or `["*"]`. Duplicates are
 * dropped; `*` stands alone. Problems go to `issues`, naming `events` or the item.
 */
export function readEndpointEvents(value: unknown, issues: ValidationIssue[]): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.length === 0 || value.length > 32) {
    issues.push({ path: 'events', message: `Must be a non-empty list of event types (${SUBSCRIBABLE_EVENTS.join(', ')}), or ["*"] for all.` });
    return undefined;
  }
  const events = new Set<string>();
  value.forEach((item: unknown, index) => {
    if (item === ALL_EVENTS || (typeof item === 'string' && SUBSCRIBABLE_EVENTS.includes(item))) {
      events.add(item);
    } else {
      issues.push({ path: `events[${index}]`, message: `Must be one of ${SUBSCRIBABLE_EVENTS.join(', ')}, or "*" for all.` });
    }
  });
  if (events.has(ALL_EVENTS) && events.size > 1) {
    issues.push({ path: 'events', message: '"*" already means every event type: give it alone.' });
    return undefined;
  }
  return [...events];
}
