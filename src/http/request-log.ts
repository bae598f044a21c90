import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Metrics } from '../metrics.js';
import { MAX_WAIT_SECONDS } from './routes/tasks.js';

/** A request that took this much longer than the wait it asked for is logged as slow. */
const SLOW_MS = 1000;
/** Routes whose duration is the client's pace: bodies streamed up or down as fast as it reads or sends. */
const CLIENT_PACED = new Set(['POST /api/v1/files', 'GET /objects/:target/*', 'HEAD /objects/:target/*']);
const LONG_POLL_ROUTE = '/api/v1/tasks/:id';

/**
 * The route's pattern, or `unmatched`: never the URL itself, which may carry a signature
 * (object and provider-callback URLs), and whose values are unbounded (a metric label).
 */
export function routeOf(request: FastifyRequest): string {
  return request.routeOptions.url ?? 'unmatched';
}

/** The long-poll wait the request asked for (`GET /api/v1/tasks/{id}?wait=`), in ms; 0 for anything else. */
function askedWaitMs(request: FastifyRequest, route: string): number {
  if (request.method !== 'GET' || route !== LONG_POLL_ROUTE) return 0;
  const wait = Number((request.query as { wait?: unknown }).wait);
  return Number.isFinite(wait) && wait > 0 ? Math.min(wait, MAX_WAIT_SECONDS) * 1000 : 0;
}

/** An event stream (SSE) lasts as long as its client follows it: never slow. */
function isEventStream(reply: FastifyReply): boolean {
  return String(reply.getHeader('content-type') ?? '').startsWith('text/event-stream');
}

/** The status logged for a request whose client went away before its answer began (nginx's "client closed request"). */
const CLIENT_CLOSED = 499;
/** Requests already logged: a request is logged once, whichever of its endings is seen first. */
const recorded = new WeakSet<FastifyRequest>();

/**
 * One line per answered request, at `info`: method, route pattern, status, duration, the caller's
 * account and key ids (never the key), and the `request_id` every error body carries. At `warn`
 * for a 5xx or a slow request: slower by more than a second than the wait it asked for
 * (a long-poll that waits its 60 s is not slow), uploads, downloads and event streams excepted
 * (the client sets their pace and length). Each request is also observed in the HTTP metrics.
 */
export function recordAnswer(request: FastifyRequest, reply: FastifyReply, metrics: Metrics, aborted = false): void {
  if (recorded.has(request)) return;
  recorded.add(request);
  const route = routeOf(request);
  const ms = reply.elapsedTime;
  const status = aborted && !reply.raw.headersSent ? CLIENT_CLOSED : reply.statusCode;
  metrics.observeRequest(request.method, route, status, ms / 1000);
  const waitMs = askedWaitMs(request, route);
  const slow = ms > waitMs + SLOW_MS && !CLIENT_PACED.has(`${request.method} ${route}`) && !isEventStream(reply);
  const line = {
    method: request.method,
    route,
    status,
    duration_ms: Math.round(ms * 10) / 10,
    account_id: request.auth?.account.id ?? null,
    key_id: request.auth?.keyId ?? null,
    ...(waitMs > 0 ? { wait_s: waitMs / 1000 } : {}),
    ...(slow ? { slow: true } : {}),
    ...(aborted ? { aborted: true } : {}),
  };
  if (status >= 500 || slow) request.log.warn(line, 'request');
  else request.log.info(line, 'request');
}

/**
 * Records every answer of the app's routes (and of its not-found handler) with `recordAnswer`;
 * and every request whose client went away before its answer was finished (a long-poll given up
 * on, an upload cut off, a download not read to the end), which has no answer to record: it is
 * logged when its connection closes, `aborted: true`, as 499 if nothing had been sent yet.
 */
export function registerRequestLog(app: FastifyInstance, metrics: Metrics): void {
  app.addHook('onRequest', async (request, reply) => {
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) recordAnswer(request, reply, metrics, true);
    });
  });
  app.addHook('onResponse', async (request, reply) => recordAnswer(request, reply, metrics));
}
