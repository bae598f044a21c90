import type { DeliveryRecord } from './delivery-store.js';
import type { WebhookEndpoint } from './endpoint-store.js';

const iso = (value: Date | null): string | null => value?.toISOString() ?? null;

/** The public WebhookEndpoint object (never its secret: that is shown at creation and rotation only). */
export function presentEndpoint(endpoint: WebhookEndpoint) {
  return {
    id: endpoint.id,
    url: endpoint.url,
    description: endpoint.description,
    events: endpoint.events,
    disabled: endpoint.disabledAt !== null,
    disabled_reason: endpoint.disabledReason,
    disabled_at: iso(endpoint.disabledAt),
    created_at: endpoint.createdAt.toISOString(),
    updated_at: endpoint.updatedAt.toISOString(),
  };
}

/** The public WebhookDelivery object: one event to one endpoint, with every attempt made. */
export function presentDelivery(delivery: DeliveryRecord) {
  return {
    id: delivery.id,
    endpoint_id: delivery.endpointId,
    event_id: delivery.eventId,
    event_type: delivery.eventType,
    status: delivery.status,
    next_retry_at: iso(delivery.nextAttemptAt),
    created_at: delivery.createdAt.toISOString(),
    updated_at: delivery.updatedAt.toISOString(),
    attempts: delivery.attempts.map((attempt) => ({
      attempt: attempt.attempt,
      started_at: attempt.startedAt.toISOString(),
      status_code: attempt.statusCode,
      latency_ms: attempt.latencyMs,
      error: attempt.error,
      response_body: attempt.responseBody,
      next_retry_at: iso(attempt.nextRetryAt),
    })),
  };
}
