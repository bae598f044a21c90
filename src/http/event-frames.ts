import type { FastifyBaseLogger } from 'fastify';
import type { EventRecord, EventType } from '../events/event-log.js';
import type { EventView } from '../events/present-event.js';

/** The `id:` field of a frame; ids are `evt_…`, never holding a line end. */
export function idField(id: string): string {
  return `id: ${id}\n`;
}

/** One Server-Sent Events frame of an event: `id:`, `event:`, `data:` (one line: JSON escapes line ends), a blank line. */
export function eventFrame(view: EventView): Buffer {
  return Buffer.from(`${idField(view.id)}event: ${view.type}\ndata: ${JSON.stringify(view)}\n\n`);
}

/**
 * The frames of events, made once per event however many streams send it: the event fan-out
 * hands every stream of an account the same records, and `prepare`s each page before it does.
 */
export function createEventFrames(present: (event: EventRecord) => Promise<EventView>, logger: FastifyBaseLogger) {
  const frames = new WeakMap<EventRecord, Buffer>();
  return {
    /** Makes the frames of `events` (the fan-out's `prepare`); an event that cannot be presented has none, and is logged. */
    async prepare(events: readonly EventRecord[]): Promise<void> {
      await Promise.all(events.map(async (event) => {
        if (frames.has(event)) return;
        try {
          frames.set(event, eventFrame(await present(event)));
        } catch (error) {
          logger.error({ err: error, event_id: event.id }, 'event streams: cannot present an event');
        }
      }));
    },

    /** The frame `prepare` made of `event`; undefined if it could not. */
    frameOf(event: EventRecord): Buffer | undefined {
      return frames.get(event);
    },

    /** A frame of `event` presented now with another type (a task's state as an event of its status). */
    async retyped(event: EventRecord, type: EventType): Promise<Buffer> {
      return eventFrame({ ...(await present(event)), type });
    },
  };
}

export type EventFrames = ReturnType<typeof createEventFrames>;
