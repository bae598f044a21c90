import type { FastifyBaseLogger } from 'fastify';
import type { Database } from '../db/port.js';
import type { JobQueue } from '../jobs/port.js';
import { periodicSweep } from '../worker/periodic-sweep.js';
import type { DeliveryStore } from './delivery-store.js';
import { WEBHOOK_QUEUE, type DeliveryJob } from './dispatch.js';

export interface DeliverySweeperDeps {
  db: Database;
  deliveries: DeliveryStore;
  queue: JobQueue;
  logger: FastifyBaseLogger;
  /** A job taken this long ago and still running belongs to a worker that died. */
  staleSeconds: number;
  /** Ended deliveries are deleted this long after their last change. */
  retentionSeconds: number;
  intervalMs: number;
}

/**
 * Keeps deliveries moving when a worker dies: a pending delivery overdue (or whose claim lapsed)
 * with no live job gets a new one, at once. pg-boss would retry a job taken by a dead worker only
 * once the job expires; this is sooner, and needs no expiry per queue. Also deletes old ended
 * deliveries. Every action is idempotent: several sweepers may run at once (a duplicate job finds
 * its attempt made and does nothing).
 */
export function createDeliverySweeper(deps: DeliverySweeperDeps) {

  /** Re-enqueues the deliveries that lost their job; jobs taken more than `staleSeconds` ago count as lost. */
  async function resumeStranded(staleSeconds: number): Promise<number> {
    const overdue = await deps.deliveries.overdue(2);
    const stranded = await deps.queue.withoutLiveJob<DeliveryJob>(WEBHOOK_QUEUE, overdue, staleSeconds);
    if (stranded.length === 0) return 0;
    await deps.db.transaction(async (tx) => {
      for (const job of stranded) await deps.queue.enqueue(tx, WEBHOOK_QUEUE, job);
    });
    deps.queue.wake(WEBHOOK_QUEUE);
    deps.logger.warn({ deliveries: stranded.map((job) => job.deliveryId) }, 'resumed webhook deliveries whose worker stopped');
    return stranded.length;
  }

  async function sweep(): Promise<void> {
    await resumeStranded(deps.staleSeconds);
    await deps.deliveries.purgeEnded(deps.retentionSeconds);
  }

  return {
    /**
     * At the start of the only process on the embedded store: every claim and every taken job
     * belongs to a process that is gone, so their deliveries are resumed now.
     */
    async resumeAfterRestart(): Promise<number> {
      await deps.deliveries.lapseAllClaims();
      return resumeStranded(0);
    },
    ...periodicSweep(sweep, { intervalMs: deps.intervalMs, logger: deps.logger, failure: 'webhook delivery sweep failed' }),
  };
}
