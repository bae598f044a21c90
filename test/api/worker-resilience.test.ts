import { describe, expect, it } from 'vitest';
import type { Provider } from '../../src/providers/port.js';
import { createInstantProvider } from '../../src/providers/instant-provider.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BACKENDS } from '../helpers/backends.js';
import { ffmpegPath } from '../helpers/media.js';
import { startTestService } from '../helpers/test-service.js';
import { waitFor } from '../helpers/wait-for.js';

/** An upstream-style provider: accepts the job, reports progress twice, then delivers. */
function pollingProvider() {
  const instant = createInstantProvider({ ffmpegPath, cacheDir: join(tmpdir(), 'rivya-test-instant-cache') });
  const polls = new Map<string, number>();
  let submissions = 0;
  const provider: Provider = {
    name: 'polling',
    kind: 'local',
    resendAfterSeconds: 0,
    refuses: () => null,
    async submit(task) {
      submissions++;
      return { state: 'submitted', upstreamId: `up-${task.id}`, pollAfterSeconds: 0 };
    },
    async poll(task, context) {
      const count = (polls.get(task.id) ?? 0) + 1;
      polls.set(task.id, count);
      if (count < 3) return { state: 'running', progress: count * 30, pollAfterSeconds: 0 };
      return instant.submit(task, context);
    },
    async cancel() {},
  };
  return { provider, polls, submissions: () => submissions };
}

describe.each(BACKENDS)('worker resilience on $name', (backend) => {
  it('polls an upstream job to the end without counting polls as attempts', async () => {
    const upstream = pollingProvider();
    const service = await startTestService(backend, { provider: upstream.provider });
    try {
      const { auth } = await service.newAccount(100);
      const app = service.runtime.app!;
      const task = (await app.inject({ method: 'POST', url: '/api/v1/tasks', headers: auth, payload: { model: 'sora-2', prompt: 'polled' } })).json();
      const done = await waitFor(async () => {
        const t = (await app.inject({ url: `/api/v1/tasks/${task.id}?wait=5`, headers: auth })).json();
        return t.status === 'succeeded' || t.status === 'failed' ? t : null;
      }, 30_000, 'the polled task');
      expect(done.status).toBe('succeeded');
      expect(upstream.submissions()).toBe(1);
      expect(upstream.polls.get(task.id)).toBe(3);
      const row = await service.runtime.tasks.getById(task.id);
      expect(row).toMatchObject({ attempts: 1, provider: 'polling', upstreamId: `up-${task.id}` });
    } finally {
      await service.close();
    }
  });

  it('gives each attempt its own lease: a second claim waits for the first to end or lapse', async () => {
    const service = await startTestService(backend, { worker: false });
    try {
      const { auth } = await service.newAccount(100);
      const app = service.runtime.app!;
      const { id } = (await app.inject({ method: 'POST', url: '/api/v1/tasks', headers: auth, payload: { model: 'sora-2', prompt: 'lease' } })).json();
      const { tasks, lifecycle } = service.runtime;
      expect(await lifecycle.claim({ taskId: id }, 'attempt-a', 30)).not.toBeNull();
      expect(await lifecycle.claim({ taskId: id }, 'attempt-b', 30)).toBeNull();
      expect(await lifecycle.claim({ taskId: id }, 'attempt-a', 30)).toBeNull();
      await tasks.expireLease(id, 'attempt-a');
      expect(await lifecycle.claim({ taskId: id }, 'attempt-b', 30)).toMatchObject({ task: { attempts: 2 }, started: false });
      const fail = (lease: string, code: 'internal_error' | 'upstream_error') =>
        lifecycle.end(id, { status: 'failed', error: { code, message: 'x' } }, { from: ['running'], lease });
      expect(await fail('attempt-a', 'internal_error')).toBeNull();
      const ended = await fail('attempt-b', 'upstream_error');
      expect(ended?.status).toBe('failed');
      const account = (await app.inject({ url: '/api/v1/account', headers: auth })).json();
      expect(account.credits).toEqual({ balance: 100, held: 0, available: 100 });
    } finally {
      await service.close();
    }
  });

  it('resumes a task whose worker stopped renewing its lease, in the same transaction as its new job', async () => {
    const service = await startTestService(backend);
    try {
      const { auth } = await service.newAccount(100);
      const app = service.runtime.app!;
      // A task claimed by an attempt that then vanished.
      await service.runtime.queue.stop(1000);
      const { id } = (await app.inject({ method: 'POST', url: '/api/v1/tasks', headers: auth, payload: { model: 'sora-2', prompt: 'orphan' } })).json();
      expect(await service.runtime.lifecycle.claim({ taskId: id }, 'vanished', 30)).not.toBeNull();
      const jobs = async () =>
        (await service.runtime.db.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pgboss.job WHERE name = 'task.run' AND data->>'taskId' = $1 AND state = 'created'`,
          [id],
        )).rows[0]?.n;
      const before = await jobs();
      await service.runtime.sweeper.sweepOnce();
      expect(await jobs()).toBe(before);
      await service.runtime.db.query(`UPDATE tasks SET lease_expires_at = now() - interval '1 second' WHERE id = $1`, [id]);
      await service.runtime.sweeper.sweepOnce();
      const row = await service.runtime.tasks.getById(id);
      expect(row).toMatchObject({ status: 'running' });
      expect(await jobs()).toBe((before ?? 0) + 1);
      // Cleared lease: the next attempt may claim it at once.
      expect(await service.runtime.lifecycle.claim({ taskId: id }, 'next', 30)).not.toBeNull();
    } finally {
      await service.close();
    }
  });

  it('requeues a queued task whose job a vanished worker had taken', async () => {
    const service = await startTestService(backend);
    try {
      const { auth } = await service.newAccount(100);
      const app = service.runtime.app!;
      await service.runtime.queue.stop(1000);
      const { id } = (await app.inject({ method: 'POST', url: '/api/v1/tasks', headers: auth, payload: { model: 'sora-2', prompt: 'stranded' } })).json();
      const db = service.runtime.db;
      const live = async () =>
        (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM pgboss.job WHERE data->>'taskId' = $1 AND state = 'created'`, [id])).rows[0]?.n;
      // A worker took the job an hour ago and died before claiming the task.
      await db.query(`UPDATE pgboss.job SET state = 'active', started_on = now() - interval '1 hour' WHERE data->>'taskId' = $1`, [id]);
      await service.runtime.sweeper.sweepOnce();
      expect(await live()).toBe(0); // the task is still fresh: nothing yet
      await db.query(`UPDATE tasks SET updated_at = now() - interval '1 hour' WHERE id = $1`, [id]);
      await service.runtime.sweeper.sweepOnce();
      expect(await live()).toBe(1);
      await service.runtime.sweeper.sweepOnce();
      expect(await live()).toBe(1); // once per idle period, not once per sweep
    } finally {
      await service.close();
    }
  });

  it('resumes a handed-over task whose only waiting job is a superseded one', async () => {
    const service = await startTestService(backend);
    try {
      const { auth } = await service.newAccount(100);
      const app = service.runtime.app!;
      await service.runtime.queue.stop(1000);
      const { id } = (await app.inject({ method: 'POST', url: '/api/v1/tasks', headers: auth, payload: { model: 'sora-2', prompt: 'superseded' } })).json();
      const db = service.runtime.db;
      // The task waits for a poll (handed over, hand-over 2), but the job for hand-over 2 was taken by a
      // worker that died; only the delayed job of hand-over 1, which can no longer claim it, is left.
      await db.query(`DELETE FROM pgboss.job WHERE data->>'taskId' = $1`, [id]);
      await db.query(
        `UPDATE tasks SET status = 'running', handed_over = true, hand_over_seq = 2, upstream_id = 'up-1', provider = 'instant',
                updated_at = now() - interval '1 hour' WHERE id = $1`,
        [id],
      );
      await db.transaction((tx) => service.runtime.queue.enqueue(tx, 'task.run', { taskId: id, seq: 1 }, { startAfterSeconds: 600 }));
      await service.runtime.sweeper.sweepOnce();
      const { rows } = await db.query<{ seq: number }>(
        `SELECT (data->>'seq')::int AS seq FROM pgboss.job WHERE data->>'taskId' = $1 AND state = 'created' ORDER BY created_on`,
        [id],
      );
      expect(rows.map((row) => row.seq)).toEqual([1, 3]);
      expect((await db.query<{ seq: number }>('SELECT hand_over_seq AS seq FROM tasks WHERE id = $1', [id])).rows[0]?.seq).toBe(3);
    } finally {
      await service.close();
    }
  });

  it('rolls an idempotent request back when its key was taken over meanwhile', async () => {
    const service = await startTestService(backend, { worker: false });
    try {
      const { accountId } = await service.newAccount(100);
      const request = { scope: accountId, key: 'slow', fingerprint: 'f' };
      await expect(
        service.runtime.idempotency.run(request, async (tx) => {
          await tx.query(`UPDATE accounts SET name = 'changed' WHERE id = $1`, [accountId]);
          // Another request takes the key over while this one is still working.
          await tx.query(`UPDATE idempotency_keys SET owner = 'thief' WHERE key = 'slow'`);
          return { status: 201, body: {} };
        }),
      ).rejects.toMatchObject({ code: 'idempotency_conflict' });
      expect((await service.runtime.accounts.getAccount(accountId))?.name).toBe('test');
    } finally {
      await service.close();
    }
  });
});
