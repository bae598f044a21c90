import type { FastifyBaseLogger } from 'fastify';
import type { Database, Queryable } from '../db/port.js';
import { createEventLog, type EventRecord } from '../events/event-log.js';
import type { IdempotencyStore } from '../idempotency/idempotency-store.js';
import type { JobQueue } from '../jobs/port.js';
import type { ObjectStore } from '../storage/port.js';
import { createDeliveryStore } from './delivery-store.js';
import { createDeliverySweeper } from './delivery-sweeper.js';
import { createDeliveryWorker } from './delivery-worker.js';
import { createWebhookDispatcher, DELIVERIES_CHANNEL, WEBHOOK_QUEUE, type DeliveryJob } from './dispatch.js';
import { createEndpointStore } from './endpoint-store.js';
import { RETRY_DELAYS_MS } from './retry-schedule.js';
import { createWebhookSender } from './webhook-sender.js';
import { createWebhookService } from './webhook-service.js';
import { createWebhookUrlPolicy, systemResolver, type HostResolver } from './webhook-url.js';

export interface WebhooksConfig {
  db: Database;
  queue: JobQueue;
  idempotency: IdempotencyStore;
  stores: ReadonlyMap<string, ObjectStore>;
  logger: FastifyBaseLogger;
  resultUrlTtlSeconds: number;
  allowInsecure: boolean;
  timeoutMs: number;
  concurrency: number;
  sweepIntervalMs: number;
  /** Tests: a resolver that plays DNS. */
  resolve?: HostResolver | undefined;
  /** Tests: a shorter retry schedule. */
  retryDelaysMs?: readonly number[] | undefined;
  /** Tests: the clock of secret overlaps and of the 3-day rule. */
  now?: (() => Date) | undefined;
  /** Told of every attempt made (metrics). */
  onAttempt?: (outcome: 'succeeded' | 'retry' | 'failed', latencyMs: number) => void;
}

/** Ended deliveries and their attempts are kept this long. */
const DELIVERY_RETENTION_SECONDS = 7 * 86_400;

/** Webhooks, wired: the URL policy, the routes' service, the dispatcher of events, and the delivery worker. */
export function createWebhooks(config: WebhooksConfig) {
  const now = config.now ?? (() => new Date());
  const policy = createWebhookUrlPolicy({ allowInsecure: config.allowInsecure, resolve: config.resolve ?? systemResolver });
  const sender = createWebhookSender({ policy, timeoutMs: config.timeoutMs });
  const endpoints = createEndpointStore(config.db, now);
  const deliveries = createDeliveryStore(config.db);
  const dispatcher = createWebhookDispatcher({ deliveries, queue: config.queue });
  // A claim outlasts any attempt: the attempt's timeout, and time to record it.
  const leaseSeconds = Math.ceil(config.timeoutMs / 1000) + 30;
  const worker = createDeliveryWorker({
    db: config.db, deliveries, endpoints, eventLog: createEventLog(config.db), sender, queue: config.queue, stores: config.stores,
    resultUrlTtlSeconds: config.resultUrlTtlSeconds, leaseSeconds, retryDelaysMs: config.retryDelaysMs ?? RETRY_DELAYS_MS, now,
    logger: config.logger, ...(config.onAttempt ? { onAttempt: config.onAttempt } : {}),
  });
  const sweeper = createDeliverySweeper({
    db: config.db, deliveries, queue: config.queue, logger: config.logger,
    staleSeconds: leaseSeconds, retentionSeconds: DELIVERY_RETENTION_SECONDS, intervalMs: config.sweepIntervalMs,
  });
  let unlisten: (() => Promise<void>) | null = null;
  const service = createWebhookService({ db: config.db, endpoints, deliveries, dispatcher, policy, idempotency: config.idempotency, queue: config.queue });

  return {
    service,
    /** Inside the transaction that appended an event: makes its deliveries (see `WebhookDispatcher`). */
    dispatchEvent: (tx: Queryable, event: EventRecord) => dispatcher.dispatchEvent(tx, event),
    /** Why a URL may not receive webhooks (the message of a `validation_failed`), or null. */
    checkWebhookUrl: (url: string) => policy.check(url),
    endpoints,
    deliveries,
    worker,
    sweeper,

    /**
     * Starts delivering (worker role). `restarted`: this is the only process on the embedded store,
     * so the deliveries a previous process was making are resumed at once.
     */
    async start(options: { restarted: boolean }): Promise<void> {
      if (options.restarted) await sweeper.resumeAfterRestart();
      await config.queue.work<DeliveryJob>(WEBHOOK_QUEUE, config.concurrency, (job) => worker.handle(job.data));
      // Deliveries made in any process (an API process's cancel or test) wake this one's workers at
      // their commit; after a lost connection, once more, in case a notice went missing.
      const wake = () => config.queue.wake(WEBHOOK_QUEUE);
      unlisten = await config.db.listen(DELIVERIES_CHANNEL, wake, { onReconnect: wake });
      sweeper.start();
    },

    /** Stops listening and the sweeper; the queue stops the workers; then connections close. */
    async stop(): Promise<void> {
      await unlisten?.();
      unlisten = null;
      await sweeper.stop();
    },

    async close(): Promise<void> {
      await sender.close();
    },
  };
}

export type Webhooks = ReturnType<typeof createWebhooks>;
