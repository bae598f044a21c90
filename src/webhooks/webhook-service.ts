import type { Database } from '../db/port.js';
import { ApiError, validationFailed } from '../errors.js';
import type { IdempotencyOutcome, IdempotencyStore, IdempotentRequest } from '../idempotency/idempotency-store.js';
import { randomBase62 } from '../ids.js';
import type { JobQueue } from '../jobs/port.js';
import type { Page } from '../pagination.js';
import { MAX_ATTEMPTS_PER_DELIVERY, type DeliveryStore } from './delivery-store.js';
import { WEBHOOK_QUEUE, type DeliveryJob, type WebhookDispatcher } from './dispatch.js';
import { DEFAULT_ENDPOINT_EVENTS } from './endpoint-events.js';
import type { EndpointChanges, EndpointStore } from './endpoint-store.js';
import { newSigningSecret } from './signing-secret.js';
import { presentDelivery, presentEndpoint } from './webhook-views.js';
import type { WebhookUrlPolicy } from './webhook-url.js';

export interface WebhookServiceDeps {
  db: Database;
  endpoints: EndpointStore;
  deliveries: DeliveryStore;
  dispatcher: WebhookDispatcher;
  policy: WebhookUrlPolicy;
  idempotency: IdempotencyStore;
  queue: JobQueue;
}

/**
 * A test event's id: shaped like the log's (`evt_` + 12 digits + 10 characters), with position 0,
 * which no event of the log has: it is not in the account's log (see `sendTest`).
 */
function testEventId(): string {
  return `evt_${'0'.repeat(12)}${randomBase62(10)}`;
}

/** What the webhook routes do, over the endpoint and delivery stores. */
export function createWebhookService(deps: WebhookServiceDeps) {
  const { endpoints, deliveries } = deps;

  async function checkUrl(url: string): Promise<void> {
    const refused = await deps.policy.check(url);
    if (refused !== null) throw validationFailed([{ path: 'url', message: refused }]);
  }

  /**
   * A checked URL as it is sent to: what `new URL` makes of it (surrounding spaces, tabs and
   * newlines dropped, scheme and host lower-cased), so the endpoint shows the URL it is called at.
   */
  const normalizedUrl = (url: string): string => new URL(url).href;

  async function endpointOr404(accountId: string, id: string) {
    const endpoint = await endpoints.get(accountId, id);
    if (!endpoint) throw new ApiError('not_found', `Webhook endpoint ${id} not found.`);
    return endpoint;
  }

  /** Wakes this process's delivery workers (after a commit that made deliveries due now). */
  const wake = () => deps.queue.wake(WEBHOOK_QUEUE);

  return {
    /** Registers an endpoint; its secret is in this answer only (a replay answers `secret: null`). */
    async createEndpoint(
      accountId: string,
      input: { url: string; description: string | null; events: string[] | undefined },
      idempotency: IdempotentRequest | null,
    ): Promise<IdempotencyOutcome> {
      return deps.idempotency.run(idempotency, async (tx) => {
        const endpoint = await endpoints.create(tx, {
          accountId, url: normalizedUrl(input.url), description: input.description, events: input.events ?? [...DEFAULT_ENDPOINT_EVENTS], secret: newSigningSecret(),
        });
        const body = { ...presentEndpoint(endpoint), secret: endpoint.secrets.secret };
        return { status: 201, body, replayBody: { ...body, secret: null } };
      }, () => checkUrl(input.url));
    },

    async listEndpoints(accountId: string, limit: number, cursor: string | undefined): Promise<Page<ReturnType<typeof presentEndpoint>>> {
      const page = await endpoints.list(accountId, limit, cursor);
      return { ...page, data: page.data.map(presentEndpoint) };
    },

    async getEndpoint(accountId: string, id: string) {
      return presentEndpoint(await endpointOr404(accountId, id));
    },

    async updateEndpoint(accountId: string, id: string, changes: EndpointChanges) {
      await endpointOr404(accountId, id);
      if (changes.url !== undefined) await checkUrl(changes.url);
      const updated = await endpoints.update(accountId, id, changes.url === undefined ? changes : { ...changes, url: normalizedUrl(changes.url) });
      if (!updated) throw new ApiError('not_found', `Webhook endpoint ${id} not found.`);
      return presentEndpoint(updated);
    },

    async deleteEndpoint(accountId: string, id: string) {
      if (!(await endpoints.delete(accountId, id))) throw new ApiError('not_found', `Webhook endpoint ${id} not found.`);
      return { id, deleted: true as const };
    },

    /** A new secret for the endpoint, in this answer only; the old one signs beside it for 24 h. */
    async rotateEndpointSecret(accountId: string, id: string, idempotency: IdempotentRequest | null): Promise<IdempotencyOutcome> {
      return deps.idempotency.run(idempotency, async (tx) => {
        const endpoint = await endpoints.rotateSecret(tx, accountId, id, newSigningSecret());
        if (!endpoint) throw new ApiError('not_found', `Webhook endpoint ${id} not found.`);
        const body = { ...presentEndpoint(endpoint), secret: endpoint.secrets.secret };
        return { status: 200, body, replayBody: { ...body, secret: null } };
      });
    },

    /**
     * Sends a `webhook.test` event to this endpoint only, through the same queue and attempts as
     * any event. It is not written to the account's log: the log is the account's history of
     * tasks, read by every stream, every `*` endpoint and `rivya webhooks listen`, and a ping of
     * one endpoint is none of theirs. The event travels with its delivery instead.
     */
    async sendTest(accountId: string, id: string, idempotency: IdempotentRequest | null): Promise<IdempotencyOutcome> {
      const outcome = await deps.idempotency.run(idempotency, async (tx) => {
        const endpoint = await endpoints.getForDelivery(tx, accountId, id);
        if (!endpoint) throw new ApiError('not_found', `Webhook endpoint ${id} not found.`);
        if (endpoint.disabledAt !== null) throw new ApiError('invalid_state', 'The endpoint is disabled: enable it (PATCH {"disabled": false}) before testing it.');
        const eventId = testEventId();
        const event = { id: eventId, type: 'webhook.test', created_at: new Date().toISOString(), data: {} };
        const [deliveryId] = await deps.dispatcher.deliver(tx, accountId, { id: eventId, type: event.type, body: event }, [{ endpointId: id, url: null }]);
        const delivery = await deliveries.get(accountId, id, deliveryId as string, tx);
        return { status: 202, body: presentDelivery(delivery as NonNullable<typeof delivery>) };
      });
      if (!outcome.replayed) wake();
      return outcome;
    },

    async listDeliveries(accountId: string, endpointId: string, limit: number, cursor: string | undefined) {
      await endpointOr404(accountId, endpointId);
      const page = await deliveries.list(accountId, endpointId, limit, cursor);
      return { ...page, data: page.data.map(presentDelivery) };
    },

    /** A new attempt now for a delivery that failed, was stopped, or waits for its next retry. */
    async retryDelivery(accountId: string, endpointId: string, id: string, idempotency: IdempotentRequest | null): Promise<IdempotencyOutcome> {
      const outcome = await deps.idempotency.run(idempotency, async (tx) => {
        const endpoint = await endpoints.getForDelivery(tx, accountId, endpointId);
        if (!endpoint) throw new ApiError('not_found', `Webhook endpoint ${endpointId} not found.`);
        const retry = await deliveries.retryNow(tx, accountId, endpointId, id);
        if ('refused' in retry) {
          if (retry.refused === 'not_found') throw new ApiError('not_found', `Delivery ${id} not found.`);
          throw new ApiError('invalid_state', {
            succeeded: 'This delivery succeeded: there is nothing to retry.',
            in_flight: 'An attempt of this delivery is under way; wait for its outcome.',
            too_many: `This delivery had ${MAX_ATTEMPTS_PER_DELIVERY} attempts, the most it may have: read the event from GET /api/v1/events instead.`,
          }[retry.refused]);
        }
        // (The transaction rolls back: the delivery stays as it was.)
        if (endpoint.disabledAt !== null) throw new ApiError('invalid_state', 'The endpoint is disabled: enable it (PATCH {"disabled": false}) before retrying.');
        await deps.queue.enqueue(tx, WEBHOOK_QUEUE, { deliveryId: id, attempt: retry.attempt } satisfies DeliveryJob);
        const delivery = await deliveries.get(accountId, endpointId, id, tx);
        return { status: 202, body: presentDelivery(delivery as NonNullable<typeof delivery>) };
      });
      if (!outcome.replayed) wake();
      return outcome;
    },

    /** The account's default signing secret (for tasks' own `webhook_url`), made on first request. */
    async accountSecret(accountId: string) {
      return { secret: (await endpoints.accountSecrets(accountId, newSigningSecret())).secret };
    },

    /** A new default signing secret; the previous one signs beside it for 24 h. A replay answers `secret: null`. */
    async rotateAccountSecret(accountId: string, idempotency: IdempotentRequest | null): Promise<IdempotencyOutcome> {
      return deps.idempotency.run(idempotency, async (tx) => {
        const secret = newSigningSecret();
        await endpoints.rotateAccountSecret(tx, accountId, secret);
        return { status: 200, body: { secret }, replayBody: { secret: null } };
      });
    },
  };
}

export type WebhookService = ReturnType<typeof createWebhookService>;
