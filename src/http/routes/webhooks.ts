import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ValidationIssue } from '../../errors.js';
import { readEndpointEvents } from '../../webhooks/endpoint-events.js';
import type { EndpointChanges } from '../../webhooks/endpoint-store.js';
import type { WebhookService } from '../../webhooks/webhook-service.js';
import { WEBHOOK_URL_MAX } from '../../webhooks/webhook-url.js';
import { callerOf } from '../auth.js';
import { bodyReader } from '../body-reader.js';
import { idempotencyOf, sendOutcome } from '../idempotency-header.js';
import { queryReader } from '../query.js';

export interface WebhookRoutesDeps {
  webhooks: WebhookService;
  authenticate: (request: FastifyRequest, reply: FastifyReply) => Promise<void>;
}

const DESCRIPTION_MAX = 500;

type Reader = ReturnType<typeof bodyReader>;

function readUrl(body: Reader, required: boolean): string | undefined {
  return body.string('url', { required, max: WEBHOOK_URL_MAX });
}

function readDescription(raw: Record<string, unknown>, body: Reader): string | null | undefined {
  if (raw['description'] === null) return null;
  return body.string('description', { max: DESCRIPTION_MAX });
}

function readEvents(raw: Record<string, unknown>, issues: ValidationIssue[]): string[] | undefined {
  return readEndpointEvents(raw['events'], issues);
}

const asObject = (body: unknown): Record<string, unknown> =>
  typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>) : {};

/** Webhook endpoints, their deliveries, and the account's default signing secret. */
export function registerWebhookRoutes(app: FastifyInstance, deps: WebhookRoutesDeps): void {
  const { webhooks } = deps;
  const preHandler = deps.authenticate;

  app.post('/api/v1/webhook_endpoints', { preHandler }, async (request, reply) => {
    const { account } = callerOf(request);
    const raw = asObject(request.body);
    const body = bodyReader(request.body, ['url', 'events', 'description']);
    const url = readUrl(body, true);
    const events = readEvents(raw, body.issues);
    const description = readDescription(raw, body);
    body.done();
    const outcome = await webhooks.createEndpoint(
      account.id, { url: url as string, description: description ?? null, events }, idempotencyOf(request, account.id),
    );
    const id = (outcome.body as { id?: string }).id;
    if (id) void reply.header('location', `/api/v1/webhook_endpoints/${id}`);
    return sendOutcome(reply, outcome);
  });

  app.get('/api/v1/webhook_endpoints', { preHandler }, async (request) => {
    const { account } = callerOf(request);
    const query = queryReader(request.query, ['limit', 'cursor']);
    const limit = query.limit();
    const cursor = query.cursor();
    query.done();
    return webhooks.listEndpoints(account.id, limit, cursor);
  });

  app.get<{ Params: { id: string } }>('/api/v1/webhook_endpoints/:id', { preHandler }, async (request) =>
    webhooks.getEndpoint(callerOf(request).account.id, request.params.id));

  app.patch<{ Params: { id: string } }>('/api/v1/webhook_endpoints/:id', { preHandler }, async (request) => {
    const { account } = callerOf(request);
    const raw = asObject(request.body);
    const body = bodyReader(request.body, ['url', 'events', 'description', 'disabled']);
    const changes: EndpointChanges = {};
    const url = readUrl(body, false);
    if (url !== undefined) changes.url = url;
    const events = readEvents(raw, body.issues);
    if (events !== undefined) changes.events = events;
    const description = readDescription(raw, body);
    if (description !== undefined) changes.description = description;
    const disabled = raw['disabled'];
    if (disabled !== undefined && disabled !== null) {
      if (typeof disabled === 'boolean') changes.disabled = disabled;
      else body.issues.push({ path: 'disabled', message: 'Must be true or false.' });
    }
    body.done();
    return webhooks.updateEndpoint(account.id, request.params.id, changes);
  });

  app.delete<{ Params: { id: string } }>('/api/v1/webhook_endpoints/:id', { preHandler }, async (request) =>
    webhooks.deleteEndpoint(callerOf(request).account.id, request.params.id));

  app.post<{ Params: { id: string } }>('/api/v1/webhook_endpoints/:id/rotate_secret', { preHandler }, async (request, reply) => {
    const { account } = callerOf(request);
    bodyReader(request.body, []).done();
    return sendOutcome(reply, await webhooks.rotateEndpointSecret(account.id, request.params.id, idempotencyOf(request, account.id)));
  });

  app.post<{ Params: { id: string } }>('/api/v1/webhook_endpoints/:id/test', { preHandler }, async (request, reply) => {
    const { account } = callerOf(request);
    bodyReader(request.body, []).done();
    return sendOutcome(reply, await webhooks.sendTest(account.id, request.params.id, idempotencyOf(request, account.id)));
  });

  app.get<{ Params: { id: string } }>('/api/v1/webhook_endpoints/:id/deliveries', { preHandler }, async (request) => {
    const { account } = callerOf(request);
    const query = queryReader(request.query, ['limit', 'cursor']);
    const limit = query.limit();
    const cursor = query.cursor();
    query.done();
    return webhooks.listDeliveries(account.id, request.params.id, limit, cursor);
  });

  app.post<{ Params: { id: string; deliveryId: string } }>(
    '/api/v1/webhook_endpoints/:id/deliveries/:deliveryId/retry',
    { preHandler },
    async (request, reply) => {
      const { account } = callerOf(request);
      bodyReader(request.body, []).done();
      return sendOutcome(reply, await webhooks.retryDelivery(account.id, request.params.id, request.params.deliveryId, idempotencyOf(request, account.id)));
    },
  );

  app.get('/api/v1/webhook_secret', { preHandler }, async (request) => webhooks.accountSecret(callerOf(request).account.id));

  app.post('/api/v1/webhook_secret/rotate', { preHandler }, async (request, reply) => {
    const { account } = callerOf(request);
    bodyReader(request.body, []).done();
    return sendOutcome(reply, await webhooks.rotateAccountSecret(account.id, idempotencyOf(request, account.id)));
  });
}
