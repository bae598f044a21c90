import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isTerminal } from '../../domain.js';
import { ApiError, validationFailed, type ValidationIssue } from '../../errors.js';
import type { EventFanout, SubscribeOptions } from '../../events/event-fanout.js';
import type { EventRecord, EventType } from '../../events/event-log.js';
import type { EventService } from '../../events/event-service.js';
import type { LogPosition, LogPositions } from '../../events/log-positions.js';
import type { TaskService } from '../../tasks/task-service.js';
import { callerOf, stillAuthenticated } from '../auth.js';
import { idField, type EventFrames } from '../event-frames.js';
import type { EventStream, EventStreams } from '../event-streams.js';
import { queryReader } from '../query.js';
import { readEventQuery } from './events.js';

export interface EventStreamRoutesDeps {
  authenticate: (request: FastifyRequest, reply: FastifyReply) => Promise<void>;
  tasks: TaskService;
  /** Where a reader resumes (`after`, checked to be one of the account's kept events). */
  events: EventService;
  fanout: EventFanout;
  positions: LogPositions;
  streams: EventStreams;
  /** The frames of events, made once per event by the fan-out's `prepare`. */
  frames: EventFrames;
}

const TERMINAL_EVENT_TYPES: ReadonlySet<EventType> = new Set(['task.succeeded', 'task.failed', 'task.canceled']);
/** The position before an account's first event: a stream that starts on an empty log sends it as its `id:`. */
const START_OF_LOG = 'evt_0000000000000000000000';

/**
 * Registers `GET /api/v1/tasks/{id}/events`; returns the handler of `GET /api/v1/events` asked for
 * as `text/event-stream` (the log's route answers both).
 */
export function registerEventStreamRoutes(app: FastifyInstance, deps: EventStreamRoutesDeps) {
  /**
   * Where the client resumes: `Last-Event-ID` (what a reconnecting EventSource sends), else
   * `?after=`; null for neither. As for the JSON log, it must be one of the account's events still
   * kept (or the start of the log, which a stream names when it starts on an empty one).
   */
  const resumePosition = async (request: FastifyRequest, accountId: string, after: string | undefined): Promise<number | null> => {
    const header = request.headers['last-event-id'];
    const fromHeader = typeof header === 'string' && header !== '';
    const id = fromHeader ? header : after;
    if (id === undefined) return null;
    if (id === START_OF_LOG) return 0;
    try {
      return await deps.events.resolveAfter(accountId, id);
    } catch (error) {
      // The same problem, named as the client gave it.
      if (!fromHeader || !(error instanceof ApiError) || error.code !== 'validation_failed') throw error;
      throw validationFailed((error.details as ValidationIssue[]).map((issue) => ({ ...issue, path: 'Last-Event-ID' })));
    }
  };

  /**
   * Sends the subscription's events on `stream`, in order, after what `first` writes (told where the
   * subscription starts); ends the stream after a terminal event when `untilTerminal`. The
   * subscription ends with the stream.
   */
  const follow = async (
    request: FastifyRequest,
    stream: EventStream,
    accountId: string,
    options: SubscribeOptions & { untilTerminal: boolean },
    first?: (start: LogPosition) => Promise<void> | void,
  ): Promise<void> => {
    /** What came while `first` was writing: sent after it. */
    let held: EventRecord[] | null = [];
    /** A position passed while `first` was writing: marked after what was held. */
    let heldMark: string | null = null;
    const send = async (events: readonly EventRecord[], paced: boolean) => {
      for (const event of events) {
        // A backlog waits for the client to read (it is dropped only when live events pile up).
        if (paced) await stream.drained();
        if (!stream.open) return;
        const frame = deps.frames.frameOf(event);
        // An event that could not be presented (logged): the client resumes from the one before.
        if (!frame) return stream.end();
        if (!stream.write(frame)) return;
        // The frame's id is the position now.
        stream.mark(null);
        if (options.untilTerminal && TERMINAL_EVENT_TYPES.has(event.type)) return stream.end();
      }
    };
    /** Sends in order: a paced page still going out when the next comes is finished first. */
    let sending: Promise<void> = Promise.resolve();
    const enqueue = (events: readonly EventRecord[], paced: boolean) => (sending = sending.then(() => send(events, paced)));
    const subscription = await deps.fanout.subscribe(accountId, options, {
      deliver(events, paced = false) {
        if (!held) return enqueue(events, paced);
        held.push(...events);
      },
      fail(error) {
        request.log.error({ err: error }, 'event stream ended: its log could not be read');
        stream.end();
      },
      passed(position) {
        // Past events of types not asked for: the client's position moves too (with the next
        // heartbeat), so it never resumes from an event old enough to have been swept meanwhile.
        if (held) heldMark = position.id;
        else if (position.id !== null) void sending.then(() => stream.mark(position.id));
      },
    });
    stream.onClose(() => subscription.close());
    try {
      await first?.(subscription.start);
    } finally {
      const waiting = held;
      held = null;
      const mark = heldMark as string | null;
      void enqueue(waiting, true).then(() => {
        // Later than every held event (positions only grow), unless one of them came after it.
        if (mark !== null && !waiting.some((event) => event.id > mark)) stream.mark(mark);
      });
    }
  };

  /** Opens a stream and starts it; one that fails to start is closed again, and the error answered. */
  const openStream = async (reply: FastifyReply, keyId: string, start: (stream: EventStream) => Promise<void>) => {
    const stream = deps.streams.open(reply, keyId, () => stillAuthenticated(reply.request));
    try {
      await start(stream);
    } catch (error) {
      stream.body.destroy();
      throw error;
    }
    return reply.send(stream.body);
  };

  app.get<{ Params: { id: string } }>('/api/v1/tasks/:id/events', { preHandler: deps.authenticate }, async (request, reply) => {
    const caller = callerOf(request);
    const accountId = caller.account.id;
    const query = queryReader(request.query, ['after']);
    const after = query.string('after');
    query.done();
    const taskId = request.params.id;
    const { value: task } = await deps.tasks.get(caller.account, taskId, 0);
    const resume = await resumePosition(request, accountId, after);
    const latest = await deps.positions.latestOfTask(accountId, taskId);
    const options = { taskId, untilTerminal: true };
    if (resume !== null) {
      // The client has seen the task's end (or, for an ended task with no event left in the log, its
      // state, which the stream sent first): nothing is left to send, and 204 tells an EventSource
      // not to reconnect. Following the log instead would wait for an end it will never write.
      const endSeen = latest ? TERMINAL_EVENT_TYPES.has(latest.type) && latest.seq <= resume : isTerminal(task.status);
      if (endSeen) return reply.code(204).send();
      return openStream(reply, caller.keyId, (stream) => follow(request, stream, accountId, { ...options, afterSeq: resume }));
    }
    const snapshot = latest?.task ? { event: latest, status: latest.task.status } : null;
    if (snapshot) {
      // The task as of its latest event, as an event of its status, with that event's id: resuming from it misses nothing.
      return openStream(reply, caller.keyId, async (stream) => {
        stream.write(await deps.frames.retyped(snapshot.event, `task.${snapshot.status}`));
        if (isTerminal(snapshot.status)) return stream.end();
        await follow(request, stream, accountId, { ...options, afterSeq: snapshot.event.seq });
      });
    }
    // A task without events in the log (made before the log existed): its state now, then its events from now on.
    return openStream(reply, caller.keyId, (stream) =>
      follow(request, stream, accountId, { ...options, afterSeq: null }, async (start) => {
        // Never older than where the stream starts.
        const { value: current } = await deps.tasks.get(caller.account, taskId, 0, undefined, start.seq);
        // Its id is where the stream starts: resuming from it misses none of the task's events.
        const id = start.id ?? START_OF_LOG;
        const type = `task.${current.status}`;
        const data = JSON.stringify({ id, type, created_at: current.updated_at, data: { task: current } });
        stream.write(Buffer.from(`${idField(id)}event: ${type}\ndata: ${data}\n\n`));
        if (isTerminal(current.status)) stream.end();
      }),
    );
  });

  /**
   * `GET /api/v1/events` with `Accept: text/event-stream`: the account's events after the resume
   * position, read from the log, then each as it commits. Without a resume position it starts live,
   * and its first frame's `id:` is the position it starts from (the account's latest event), so a
   * client that reconnects before any event came resumes from there.
   */
  async function streamAccountEvents(request: FastifyRequest, reply: FastifyReply) {
    const caller = callerOf(request);
    const accountId = caller.account.id;
    // The log's parameters; `limit` is for its pages, and a stream has none.
    const { after, types } = readEventQuery(request.query);
    const resume = await resumePosition(request, accountId, after);
    return openStream(reply, caller.keyId, (stream) =>
      follow(request, stream, accountId, { afterSeq: resume, types, untilTerminal: false }, (start) => {
        if (resume === null) stream.write(Buffer.from(`${idField(start.id ?? START_OF_LOG)}\n`));
      }),
    );
  }

  return { streamAccountEvents };
}
