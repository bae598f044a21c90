import type { FastifyBaseLogger } from 'fastify';
import type { Database } from '../db/port.js';
import type { EventLog } from '../events/event-log.js';
import type { JobQueue } from '../jobs/port.js';
import type { ObjectStore } from '../storage/port.js';
import type { AttemptResult, ClaimedDelivery, DeliveryStore } from './delivery-store.js';
import { WEBHOOK_QUEUE, type DeliveryJob } from './dispatch.js';
import type { EndpointStore } from './endpoint-store.js';
import { presentLoggedEvent } from './event-body.js';
import { nextRetryDelayMs, parseRetryAfter } from './retry-schedule.js';
import { activeSecrets, newSigningSecret, signatureHeader } from './signing-secret.js';
import type { SendOutcome, WebhookSender } from './webhook-sender.js';

/** An endpoint whose every attempt failed for this long is disabled. */
export const FAILING_ENDPOINT_DISABLE_MS = 3 * 24 * 3600 * 1000;
/**
 * The longest quiet spell within one failing streak: the schedule's longest wait (24 h) with its
 * jitter (+20 %), or a `Retry-After` (at most a day), and some slack. A failure after a longer
 * spell with no attempt starts a new streak rather than continuing the old one.
 */
export const FAILING_STREAK_GAP_MS = 30 * 3600 * 1000;

export interface DeliveryWorkerDeps {
  db: Database;
  deliveries: DeliveryStore;
  endpoints: EndpointStore;
  eventLog: EventLog;
  sender: WebhookSender;
  queue: JobQueue;
  stores: ReadonlyMap<string, ObjectStore>;
  resultUrlTtlSeconds: number;
  /** How long a claim on an attempt lasts: longer than an attempt can take. */
  leaseSeconds: number;
  /** The delays of the retry schedule (`RETRY_DELAYS_MS`; shortened in tests). */
  retryDelaysMs: readonly number[];
  /** The clock of secret overlaps and of the 3-day rule (injected in tests). */
  now: () => Date;
  logger: FastifyBaseLogger;
  /** Told of every attempt made (metrics). */
  onAttempt?: (outcome: AttemptResult['outcome']['kind'], latencyMs: number) => void;
}

/**
 * Makes one attempt per job: claims it, signs the event (Standard Webhooks), POSTs it, and records
 * the attempt in the transaction that schedules the next one (or ends the delivery). A worker that
 * dies mid-attempt leaves a claim that lapses; the attempt is then made again, with the same
 * `webhook-id`: delivery is at least once.
 */
export function createDeliveryWorker(deps: DeliveryWorkerDeps) {
  async function body(delivery: ClaimedDelivery): Promise<string | null> {
    if (delivery.event) return JSON.stringify(delivery.event);
    const event = await deps.eventLog.get(delivery.accountId, delivery.eventId);
    return event ? JSON.stringify(await presentLoggedEvent(event, deps.stores, deps.resultUrlTtlSeconds)) : null;
  }

  /** What follows an attempt: success, a retry after some delay, or the end. */
  function outcomeOf(delivery: ClaimedDelivery, sent: SendOutcome): AttemptResult['outcome'] {
    const status = sent.statusCode;
    if (status !== null && status >= 200 && status < 300) return { kind: 'succeeded' };
    if (status === 410) return { kind: 'failed' };
    const retryAfterMs = status === 429 || status === 503 ? parseRetryAfter(sent.retryAfter, Date.now()) : null;
    const delay = nextRetryDelayMs(delivery.attempt, deps.retryDelaysMs, retryAfterMs);
    return delay === null ? { kind: 'failed' } : { kind: 'retry', retryInMs: delay };
  }

  async function record(delivery: ClaimedDelivery, startedAt: Date, sent: SendOutcome, given?: AttemptResult['outcome']): Promise<void> {
    let outcome = given ?? outcomeOf(delivery, sent);
    const now = deps.now();
    let disabled: string | null = null;
    await deps.db.transaction(async (tx) => {
      // Only what the receiver did counts towards its endpoint's streak (not an event swept from the log).
      if (delivery.endpointId !== null && given === undefined) {
        const succeeded = outcome.kind === 'succeeded';
        // The endpoint's row is written when an attempt fails and when a success ends a streak, not on every delivery.
        if (succeeded) {
          await tx.query('UPDATE webhook_endpoints SET failing_since = NULL WHERE id = $1 AND failing_since IS NOT NULL', [delivery.endpointId]);
        } else {
          // A failure long after the last one (a quiet spell, not a retry) starts a new streak.
          await tx.query(
            `UPDATE webhook_endpoints
                SET failing_since = CASE WHEN failing_since IS NULL OR last_failed_at IS NULL OR last_failed_at < $2::timestamptz - make_interval(secs => $3)
                                         THEN $2::timestamptz ELSE failing_since END,
                    last_failed_at = $2
              WHERE id = $1`,
            [delivery.endpointId, now, FAILING_STREAK_GAP_MS / 1000],
          );
        }
        const { rows } = await tx.query<{ failing_since: Date | null; disabled_at: Date | null }>(
          'SELECT failing_since, disabled_at FROM webhook_endpoints WHERE id = $1',
          [delivery.endpointId],
        );
        const endpoint = rows[0];
        let disable: string | null = null;
        if (sent.statusCode === 410) disable = 'The endpoint answered 410 Gone.';
        else if (!succeeded && endpoint?.failing_since && now.getTime() - new Date(endpoint.failing_since).getTime() >= FAILING_ENDPOINT_DISABLE_MS) {
          disable = 'Every delivery attempt failed for 3 days.';
        }
        if (disable && endpoint && endpoint.disabled_at === null) {
          const { rowCount } = await tx.query(
            `UPDATE webhook_endpoints SET disabled_at = now(), disabled_reason = $2, updated_at = now() WHERE id = $1 AND disabled_at IS NULL`,
            [delivery.endpointId, disable],
          );
          if (rowCount === 1) disabled = disable;
        }
        // A disabled endpoint gets no further attempts.
        if (!succeeded && (disable || endpoint?.disabled_at)) outcome = { kind: 'failed' };
      }
      const recorded = await deps.deliveries.record(tx, delivery.id, delivery.attempt, {
        startedAt, statusCode: sent.statusCode, latencyMs: sent.latencyMs, error: sent.error, responseBody: sent.responseBody, outcome,
      });
      if (recorded && outcome.kind === 'retry') {
        await deps.queue.enqueue(tx, WEBHOOK_QUEUE, { deliveryId: delivery.id, attempt: delivery.attempt + 1 } satisfies DeliveryJob, {
          startAfterSeconds: outcome.retryInMs / 1000,
        });
      }
    });
    if (disabled) deps.logger.warn({ endpoint_id: delivery.endpointId, account_id: delivery.accountId, reason: disabled }, 'webhook endpoint disabled');
    deps.onAttempt?.(outcome.kind, sent.latencyMs);
    const fields = {
      delivery_id: delivery.id, endpoint_id: delivery.endpointId, account_id: delivery.accountId, event_id: delivery.eventId,
      event_type: delivery.eventType, attempt: delivery.attempt, status_code: sent.statusCode, latency_ms: sent.latencyMs,
      outcome: outcome.kind, ...(outcome.kind === 'retry' ? { retry_in_s: Math.round(outcome.retryInMs / 1000) } : {}),
      ...(sent.error ? { error: sent.error } : {}),
    };
    if (outcome.kind === 'succeeded') deps.logger.info(fields, 'webhook delivered');
    else deps.logger.warn(fields, 'webhook attempt failed');
  }

  return {
    /** Handles one job of `WEBHOOK_QUEUE`. Throws only when the store fails (the job is retried). */
    async handle(job: DeliveryJob): Promise<void> {
      const delivery = await deps.deliveries.claim(job.deliveryId, job.attempt, deps.leaseSeconds);
      if (!delivery) return;
      if (delivery.endpointDisabled) {
        await deps.deliveries.cancelClaimed(delivery.id, delivery.attempt);
        return;
      }
      const startedAt = new Date();
      const text = await body(delivery);
      if (text === null) {
        await record(delivery, startedAt, {
          statusCode: null, latencyMs: 0, responseBody: null, retryAfter: null,
          error: 'The event is no longer kept in the log: nothing was sent.',
        }, { kind: 'failed' });
        return;
      }
      const secrets = delivery.endpointSecrets ?? (await deps.endpoints.accountSecrets(delivery.accountId, newSigningSecret()));
      // The timestamp is the attempt's, from the wall clock: receivers compare it with theirs.
      const timestamp = Math.floor(Date.now() / 1000);
      const sent = await deps.sender.send(delivery.url, {
        'webhook-id': delivery.eventId,
        'webhook-timestamp': String(timestamp),
        'webhook-signature': signatureHeader(activeSecrets(secrets, deps.now()), delivery.eventId, timestamp, text),
      }, text);
      await record(delivery, startedAt, sent);
    },
  };
}

export type DeliveryWorker = ReturnType<typeof createDeliveryWorker>;
