import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import Negotiator from 'negotiator';
import { EVENT_TYPES, seqOfEventId, type EventType } from '../../events/event-log.js';
import { AFTER_FORMAT, type EventQuery, type EventService } from '../../events/event-service.js';
import { callerOf } from '../auth.js';
import { queryReader } from '../query.js';

export interface EventRoutesDeps {
  events: EventService;
  authenticate: (request: FastifyRequest, reply: FastifyReply) => Promise<void>;
  /** `GET /api/v1/events` asked for as `text/event-stream`: the account's events as a stream. */
  stream: (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>;
}

/** `types`: a comma-separated list of event types; every unknown one is named. */
function parseTypes(raw: string): { types: EventType[] } | { problem: string } {
  const given = raw.split(',').map((type) => type.trim());
  const unknown = given.filter((type) => !(EVENT_TYPES as readonly string[]).includes(type));
  if (unknown.length > 0) {
    const named = unknown.map((type) => `"${type.length > 40 ? `${type.slice(0, 40)}…` : type}"`).join(', ');
    return { problem: `Must be a comma-separated list of ${EVENT_TYPES.join(', ')}; unknown: ${named}.` };
  }
  return { types: [...new Set(given as EventType[])] };
}

/**
 * Reads the query of `GET /api/v1/events`: `after` (an event id), `types`, and `limit` for a
 * page. `extra` names other parameters the caller reads itself. Throws `validation_failed`
 * naming every problem.
 */
export function readEventQuery(query: unknown, extra: readonly string[] = []): EventQuery & { limit: number } {
  const reader = queryReader(query, ['after', 'types', 'limit', ...extra]);
  const after = reader.string('after');
  if (after && seqOfEventId(after) === null) reader.problem('after', AFTER_FORMAT);
  const rawTypes = reader.string('types');
  const parsed = rawTypes === undefined ? { types: undefined } : parseTypes(rawTypes);
  if ('problem' in parsed) reader.problem('types', parsed.problem);
  const limit = reader.limit();
  reader.done();
  return { after: after === '' ? undefined : after, types: 'types' in parsed ? parsed.types : undefined, limit };
}

/** `GET /api/v1/events`: the account's event log as JSON pages, oldest first. */
export async function listEvents(events: EventService, request: FastifyRequest) {
  return events.list(callerOf(request).account, readEventQuery(request.query));
}

/** True when the request asks for `text/event-stream` rather than JSON. */
export function wantsEventStream(request: FastifyRequest): boolean {
  return new Negotiator(request.raw).mediaType(['application/json', 'text/event-stream']) === 'text/event-stream';
}

/** `GET /api/v1/events`: the log as JSON pages, or (`Accept: text/event-stream`) as a stream. */
export function registerEventRoutes(app: FastifyInstance, deps: EventRoutesDeps): void {
  app.get('/api/v1/events', { preHandler: deps.authenticate }, (request, reply) =>
    wantsEventStream(request) ? deps.stream(request, reply) : listEvents(deps.events, request));
}
