import type { Queryable } from '../db/port.js';
import type { EventRecord } from '../events/event-log.js';
import type { JobQueue } from '../jobs/port.js';
import type { DeliveryStore, NewDelivery } from './delivery-store.js';

/** The queue of delivery attempts: one job per attempt, `{deliveryId, attempt}`. */
export const WEBHOOK_QUEUE = 'webhook-delivery';

export type DeliveryJob = {
  deliveryId: string;
  /** The attempt this job makes (1 for the first). */
  attempt: number;
};

/**
 * Announced at the commit of a transaction that made deliveries (payload empty): delivery workers
 * in every process fetch at once instead of at their next poll.
 */
export const DELIVERIES_CHANNEL = 'rivya_webhook_deliveries';

const TERMINAL_TYPES = new Set(['task.succeeded', 'task.failed', 'task.canceled']);

/**
 * Hands events to webhooks: in the event's own transaction, one delivery per target and its first
 * job, so an event is delivered if and only if it was committed.
 */
export function createWebhookDispatcher(deps: { deliveries: DeliveryStore; queue: JobQueue }) {
  /** Makes the deliveries of one event inside `tx`, each with the job of its first attempt. */
  async function deliver(
    tx: Queryable,
    accountId: string,
    event: { id: string; type: string; body: Record<string, unknown> | null },
    targets: readonly NewDelivery[],
  ): Promise<string[]> {
    const ids = await deps.deliveries.insert(tx, accountId, event, targets);
    for (const deliveryId of ids) await deps.queue.enqueue(tx, WEBHOOK_QUEUE, { deliveryId, attempt: 1 } satisfies DeliveryJob);
    if (ids.length > 0) await tx.query('SELECT pg_notify($1, $2)', [DELIVERIES_CHANNEL, '']);
    return ids;
  }

  return {
    deliver,

    /**
     * Called inside the transaction that appended `event`: finds its targets — the account's
     * enabled endpoints subscribed to its type (or to `*`), and the task's own `webhook_url` for
     * its terminal events (every event with `webhook_events` 'all') — and makes a delivery for
     * each. Returns how many.
     */
    async dispatchEvent(tx: Queryable, event: EventRecord): Promise<number> {
      const { rows } = await tx.query<{ endpoint_id: string | null; url: string | null }>(
        // KEY SHARE: an endpoint deleted meanwhile is either skipped or waits for this commit, so
        // the deliveries' reference to it never fails the event's transaction.
        `SELECT e.id AS endpoint_id, NULL::text AS url FROM (
           SELECT id FROM webhook_endpoints
            WHERE account_id = $1 AND disabled_at IS NULL AND (events @> ARRAY[$2]::text[] OR events @> ARRAY['*']::text[])
            FOR KEY SHARE) e
         UNION ALL
         SELECT NULL, webhook_url FROM tasks
          WHERE $3::text IS NOT NULL AND id = $3 AND account_id = $1 AND webhook_url IS NOT NULL AND (webhook_events = 'all' OR $4::boolean)`,
        [event.accountId, event.type, event.taskId, TERMINAL_TYPES.has(event.type)],
      );
      if (rows.length === 0) return 0;
      const targets = rows.map((row): NewDelivery =>
        row.endpoint_id !== null ? { endpointId: row.endpoint_id, url: null } : { endpointId: null, url: row.url as string });
      return (await deliver(tx, event.accountId, { id: event.id, type: event.type, body: null }, targets)).length;
    },
  };
}

export type WebhookDispatcher = ReturnType<typeof createWebhookDispatcher>;
