import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/port.js';
import { createPgBossQueue } from '../../src/jobs/pg-boss-queue.js';
import type { JobQueue } from '../../src/jobs/port.js';
import { BACKENDS } from '../helpers/backends.js';
import { waitFor } from '../helpers/wait-for.js';

describe.each(BACKENDS)('JobQueue port contract on $name', (backend) => {
  let db: Database;
  let drop: () => Promise<void>;
  let queue: JobQueue;
  const seen: string[] = [];
  const attempts = new Map<string, number>();

  beforeAll(async () => {
    ({ db, drop } = await backend.create());
    await db.exec('CREATE TABLE things (id text PRIMARY KEY)');
    queue = createPgBossQueue({ db, logger: pino({ level: 'silent' }), queues: ['contract'], pollingIntervalSeconds: 0.5 });
    await queue.start();
    await queue.work<{ id: string; failTimes?: number }>('contract', 2, async (job) => {
      const count = (attempts.get(job.data.id) ?? 0) + 1;
      attempts.set(job.data.id, count);
      if (count <= (job.data.failTimes ?? 0)) throw new Error('transient');
      seen.push(job.data.id);
    });
  });
  afterAll(async () => {
    await queue.stop(1000);
    await db.close();
    await drop();
  });

  it('delivers a job enqueued in a committed transaction, and none from a rolled-back one', async () => {
    await db.transaction(async (tx) => {
      await tx.query(`INSERT INTO things VALUES ('a')`);
      await queue.enqueue(tx, 'contract', { id: 'a' });
    });
    await expect(
      db.transaction(async (tx) => {
        await queue.enqueue(tx, 'contract', { id: 'never' });
        throw new Error('rollback');
      }),
    ).rejects.toThrow('rollback');
    queue.wake('contract');
    await waitFor(() => seen.includes('a'), 10_000, 'job a');
    await new Promise((resolve) => setTimeout(resolve, 700));
    expect(seen).not.toContain('never');
  });

  it('retries a job whose handler throws', async () => {
    await db.transaction((tx) => queue.enqueue(tx, 'contract', { id: 'flaky', failTimes: 1 }));
    await waitFor(() => seen.includes('flaky'), 20_000, 'the retried job');
    expect(attempts.get('flaky')).toBe(2);
  });

  it('honours a start delay, and reports depth', async () => {
    await db.transaction((tx) => queue.enqueue(tx, 'contract', { id: 'later' }, { startAfterSeconds: 2 }));
    const depth = await queue.depth();
    expect(depth.find((d) => d.name === 'contract')?.queued).toBeGreaterThanOrEqual(1);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(seen).not.toContain('later');
    await waitFor(() => seen.includes('later'), 10_000, 'the delayed job');
  });

  it('tells which expected jobs have no live job: a job holding other values does not count', async () => {
    await db.transaction((tx) => queue.enqueue(tx, 'contract', { id: 'kept', seq: 1 }, { startAfterSeconds: 60 }));
    const lost = await queue.withoutLiveJob('contract', [{ id: 'kept', seq: 1 }, { id: 'kept', seq: 2 }, { id: 'never', seq: 0 }], 30);
    expect(lost).toEqual([{ id: 'kept', seq: 2 }, { id: 'never', seq: 0 }]);
    expect(await queue.withoutLiveJob('contract', [], 30)).toEqual([]);
  });
});
