import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { appendEvent } from '../../src/events/event-log.js';
import { createSweeper } from '../../src/worker/sweeper.js';
import { BACKENDS } from '../helpers/backends.js';
import { startTestService, type TestService } from '../helpers/test-service.js';

/** Appends `count` events to the account's log, then dates them `ageSeconds` back. */
async function oldEvents(service: TestService, accountId: string, count: number, ageSeconds: number): Promise<string[]> {
  const ids: string[] = [];
  for (let index = 0; index < count; index++) {
    ids.push((await service.runtime.db.transaction((tx) => appendEvent(tx, { accountId, type: 'webhook.test', task: null }))).id);
  }
  await service.runtime.db.query('UPDATE events SET created_at = now() - make_interval(secs => $2) WHERE id = ANY($1::text[])', [ids, ageSeconds]);
  return ids;
}

async function kept(service: TestService, ids: string[]): Promise<number> {
  const { rows } = await service.runtime.db.query<{ n: number }>('SELECT count(*)::int AS n FROM events WHERE id = ANY($1::text[])', [ids]);
  return rows[0]?.n ?? 0;
}

describe.each(BACKENDS)('event retention on $name', (backend) => {
  it('the sweeper deletes events older than RIVYA_EVENT_RETENTION_SECONDS (7 days by default) and keeps the rest', async () => {
    const service = await startTestService(backend, { worker: false });
    try {
      const { accountId } = await service.newAccount(10);
      const stale = await oldEvents(service, accountId, 3, 7 * 86_400 + 60);
      const recent = await oldEvents(service, accountId, 2, 6 * 86_400);
      await service.runtime.sweeper.sweepOnce();
      expect([await kept(service, stale), await kept(service, recent)]).toEqual([0, 2]);
    } finally {
      await service.close();
    }
    const hourly = await startTestService(backend, { worker: false, env: { RIVYA_EVENT_RETENTION_SECONDS: '3600' } });
    try {
      const { accountId } = await hourly.newAccount(10);
      const stale = await oldEvents(hourly, accountId, 2, 3700);
      const recent = await oldEvents(hourly, accountId, 2, 3000);
      await hourly.runtime.sweeper.sweepOnce();
      expect([await kept(hourly, stale), await kept(hourly, recent)]).toEqual([0, 2]);
    } finally {
      await hourly.close();
    }
  });

  it('deletes a backlog in bounded batches: at most batch × batches a sweep', async () => {
    const service = await startTestService(backend, { worker: false });
    try {
      const { accountId } = await service.newAccount(10);
      const stale = await oldEvents(service, accountId, 25, 30 * 86_400);
      const recent = await oldEvents(service, accountId, 3, 60);
      const { runtime } = service;
      const sweeper = createSweeper({
        tasks: runtime.tasks, lifecycle: runtime.lifecycle, idempotency: runtime.idempotency, eventLog: runtime.eventLog, logger: runtime.logger,
        eventRetentionSeconds: 7 * 86_400, eventPurge: { batch: 5, batchesPerSweep: 3 },
        purgeExpiredFiles: async () => 0, onEnded: () => {}, intervalMs: 60_000,
      });
      await sweeper.sweepOnce();
      expect(await kept(service, stale)).toBe(10);
      await sweeper.sweepOnce();
      expect(await kept(service, stale)).toBe(0);
      expect(await kept(service, recent)).toBe(3);
    } finally {
      await service.close();
    }
  });
});

describe('RIVYA_EVENT_RETENTION_SECONDS', () => {
  it('defaults to 7 days and must be at least an hour', () => {
    expect(loadConfig({}).eventRetentionSeconds).toBe(604_800);
    expect(loadConfig({ RIVYA_EVENT_RETENTION_SECONDS: '3600' }).eventRetentionSeconds).toBe(3600);
    expect(() => loadConfig({ RIVYA_EVENT_RETENTION_SECONDS: '3599' })).toThrow(/RIVYA_EVENT_RETENTION_SECONDS="3599" must be an integer from 3600/);
  });
});
