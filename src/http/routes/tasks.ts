import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { MODEL_IDS } from '../../catalog/models.js';
import { TASK_STATUSES } from '../../domain.js';
import type { RateLimiter } from '../../rate-limit/port.js';
import type { TaskService } from '../../tasks/task-service.js';
import { callerOf, consumeCreateBudget, consumeRequestBudget, rateLimited } from '../auth.js';
import { idempotencyOf, sendOutcome } from '../idempotency-header.js';
import { queryReader } from '../query.js';
import { seenPosition, sendPosition } from '../position-header.js';
import type { AtPosition } from '../../domain.js';
import type { TaskView } from '../../tasks/present-task.js';

export interface TaskRoutesDeps {
  tasks: TaskService;
  rateLimiter: RateLimiter;
  authenticate: (request: FastifyRequest, reply: FastifyReply) => Promise<void>;
  /** The same, without counting the request against the key's request budget (creates have their own). */
  authenticateCreate: (request: FastifyRequest, reply: FastifyReply) => Promise<void>;
  /** Aborted when the server shuts down: long-polls answer at once. */
  shutdown: AbortSignal;
}

export const MAX_WAIT_SECONDS = 60;


export function registerTaskRoutes(app: FastifyInstance, deps: TaskRoutesDeps): void {
  const onRequest = deps.authenticate;

  app.post('/api/v1/tasks', { preHandler: deps.authenticateCreate }, async (request, reply) => {
    const caller = callerOf(request);
    const { account } = caller;
    // Creates have their own limit, for requests that would make a task; a replay or a refused
    // body is not a create, and counts as one of the key's other requests instead.
    let admitted = false;
    const admit = async () => {
      admitted = true;
      const decision = await consumeCreateBudget(deps.rateLimiter, reply, caller);
      if (!decision.allowed) throw rateLimited('creates', decision);
    };
    const countAsRequest = async () => {
      if (!admitted) await consumeRequestBudget(deps.rateLimiter, reply, caller);
    };
    const outcome = await deps.tasks
      .create(account, request.body, idempotencyOf(request, account.id), admit, request.log)
      .finally(countAsRequest);
    const id = (outcome.body as { id?: string }).id;
    if (id) void reply.header('location', `/api/v1/tasks/${id}`);
    if (outcome.position !== undefined) sendPosition(reply, outcome.position);
    return sendOutcome(reply, outcome);
  });

  app.get<{ Params: { id: string } }>('/api/v1/tasks/:id', { preHandler: onRequest }, async (request, reply) => {
    const { account } = callerOf(request);
    const query = queryReader(request.query, ['wait']);
    const wait = query.number('wait', 0, MAX_WAIT_SECONDS, 0, false);
    query.done();
    const seen = seenPosition(request);
    const answer = (task: AtPosition<TaskView>) => {
      sendPosition(reply, task.position);
      return task.value;
    };
    if (wait === 0) return answer(await deps.tasks.get(account, request.params.id, 0, undefined, seen));
    const gone = new AbortController();
    const onClose = () => gone.abort();
    reply.raw.once('close', onClose);
    const onShutdown = () => gone.abort();
    deps.shutdown.addEventListener('abort', onShutdown, { once: true });
    try {
      return answer(await deps.tasks.get(account, request.params.id, wait, gone.signal, seen));
    } finally {
      reply.raw.off('close', onClose);
      deps.shutdown.removeEventListener('abort', onShutdown);
    }
  });

  app.get('/api/v1/tasks', { preHandler: onRequest }, async (request) => {
    const { account } = callerOf(request);
    const query = queryReader(request.query, ['limit', 'cursor', 'status', 'model', 'client_request_id']);
    const filter = {
      limit: query.limit(),
      cursor: query.cursor(),
      status: query.oneOf('status', TASK_STATUSES),
      model: query.oneOf('model', MODEL_IDS),
      clientRequestId: query.string('client_request_id'),
    };
    query.done();
    const page = await deps.tasks.list(account, filter);
    return page;
  });

  app.post<{ Params: { id: string } }>('/api/v1/tasks/:id/cancel', { preHandler: onRequest }, async (request, reply) => {
    const { account } = callerOf(request);
    const outcome = await deps.tasks.cancel(account, request.params.id, idempotencyOf(request, account.id), request.log);
    if (outcome.position !== undefined) sendPosition(reply, outcome.position);
    return sendOutcome(reply, outcome);
  });
}
