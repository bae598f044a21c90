import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/port.js';
import type { StoredMedia } from '../../src/domain.js';
import type { EventRecord } from '../../src/events/event-log.js';
import { createTaskLifecycle } from '../../src/tasks/task-lifecycle.js';
import { BACKENDS } from '../helpers/backends.js';
import { startTestService, useGatedService, type TestService } from '../helpers/test-service.js';
import { waitFor } from '../helpers/wait-for.js';

/** Which ledger entry each status event comes with (in the same transaction); `task.running` moves no credits. */
const CREDIT_MOVES: Record<string, string | null> = {
  'task.queued': 'hold', 'task.running': null, 'task.progress': null, 'task.succeeded': 'capture', 'task.failed': 'release', 'task.canceled': 'release',
};

interface EventRow { type: string; status: string; progress: number; created_at: Date }

async function eventsOf(db: Database, taskId: string): Promise<EventRow[]> {
  const { rows } = await db.query<EventRow>(
    `SELECT type, data->'task'->>'status' AS status, (data->'task'->>'progress')::int AS progress, created_at
       FROM events WHERE task_id = $1 ORDER BY seq`,
    [taskId],
  );
  return rows;
}

/**
 * The task's events are exactly `types`, in order; each carries the task in the status it names;
 * and its credit movements are exactly the ledger's entries for the task, each stamped with its
 * event's time — the same transaction's now().
 */
async function expectEventsMatchLedger(db: Database, taskId: string, types: string[]): Promise<void> {
  const events = await eventsOf(db, taskId);
  expect(events.map((event) => event.type), `events of ${taskId}`).toEqual(types);
  for (const event of events) {
    if (event.type !== 'task.progress') expect(`task.${event.status}`).toBe(event.type);
    else expect(event.status).toBe('running');
  }
  const { rows: ledger } = await db.query<{ type: string; created_at: Date }>(
    'SELECT type, created_at FROM ledger_entries WHERE task_id = $1 ORDER BY created_at, type DESC',
    [taskId],
  );
  const moves = events.filter((event) => CREDIT_MOVES[event.type]);
  expect(ledger.map((entry) => entry.type)).toEqual(moves.map((event) => CREDIT_MOVES[event.type]));
  expect(ledger.map((entry) => entry.created_at.getTime())).toEqual(moves.map((event) => event.created_at.getTime()));
}

const FAKE_MEDIA: StoredMedia = {
  target: 's3', key: 'results/none.mp4', kind: 'video', name: 'none.mp4', mimeType: 'video/mp4', width: 1280, height: 720, durationSeconds: 10, sizeBytes: 1,
};

describe.each(BACKENDS)('task lifecycle on $name: every transition is written with its event and its credits', (backend) => {
  const ctx = useGatedService(backend);
  const { gated } = ctx;
  const db = () => ctx.service.runtime.db;
  const get = (auth: Record<string, string>, id: string, wait = 0) =>
    ctx.app.inject({ url: `/api/v1/tasks/${id}?wait=${wait}`, headers: auth }).then((response) => response.json());
  const startTask = async (auth: Record<string, string>, prompt: string) => {
    const task = (await ctx.create(auth, { model: 'sora-2', prompt })).json();
    await waitFor(() => gated.waiting.has(task.id), 10_000, 'the task to start');
    // The provider reported 10% as it started: stored with its event.
    await waitFor(async () => (await eventsOf(db(), task.id)).some((event) => event.type === 'task.progress'), 10_000, 'its progress event');
    return task.id as string;
  };
  const ended = (auth: Record<string, string>, id: string) =>
    waitFor(async () => {
      const task = await get(auth, id, 5);
      return ['succeeded', 'failed', 'canceled'].includes(task.status) ? task : null;
    }, 20_000, `task ${id} to end`);

  it('success: queued, running, progress, succeeded — hold and capture with their events', async () => {
    const { auth } = await ctx.service.newAccount(100);
    const id = await startTask(auth, 'succeed');
    gated.release(id);
    expect((await ended(auth, id)).status).toBe('succeeded');
    await expectEventsMatchLedger(db(), id, ['task.queued', 'task.running', 'task.progress', 'task.succeeded']);
    expect((await eventsOf(db(), id)).map((event) => event.progress)).toEqual([0, 0, 10, 100]);
  });

  it('failure at the provider: queued, running, progress, failed — the hold released with it', async () => {
    const { auth } = await ctx.service.newAccount(100);
    const id = await startTask(auth, 'fail');
    gated.release(id, 'fail');
    expect((await ended(auth, id)).status).toBe('failed');
    await expectEventsMatchLedger(db(), id, ['task.queued', 'task.running', 'task.progress', 'task.failed']);
  });

  it('cancel of a running task: queued, running, progress, canceled', async () => {
    const { auth } = await ctx.service.newAccount(100);
    const id = await startTask(auth, 'cancel');
    expect((await ctx.app.inject({ method: 'POST', url: `/api/v1/tasks/${id}/cancel`, headers: auth })).statusCode).toBe(200);
    await waitFor(() => !gated.waiting.has(id), 10_000, 'the attempt to stop');
    await expectEventsMatchLedger(db(), id, ['task.queued', 'task.running', 'task.progress', 'task.canceled']);
  });

  it('timeout by the sweeper: the running task fails with its event and release', async () => {
    const { auth } = await ctx.service.newAccount(100);
    const id = await startTask(auth, 'time out');
    await db().query(`UPDATE tasks SET deadline_at = now() - interval '1 second' WHERE id = $1`, [id]);
    await ctx.service.runtime.sweeper.sweepOnce();
    expect(await get(auth, id)).toMatchObject({ status: 'failed', error: { code: 'timeout' } });
    await waitFor(() => !gated.waiting.has(id), 15_000, 'the attempt to stop');
    await expectEventsMatchLedger(db(), id, ['task.queued', 'task.running', 'task.progress', 'task.failed']);
  });

  it('kill and resume: the resumed claim is no new start, and the task ends once', async () => {
    const { auth } = await ctx.service.newAccount(100);
    const id = await startTask(auth, 'resume');
    // Its worker "died": the lease lapses, the sweeper gives the task a new job, another attempt claims it.
    await db().query(`UPDATE tasks SET lease_expires_at = now() - interval '1 second' WHERE id = $1`, [id]);
    await ctx.service.runtime.sweeper.sweepOnce();
    await waitFor(() => gated.started.filter((started) => started === id).length === 2, 10_000, 'the second attempt');
    gated.release(id);
    expect((await ended(auth, id)).status).toBe('succeeded');
    await expectEventsMatchLedger(db(), id, ['task.queued', 'task.running', 'task.progress', 'task.succeeded']);
  });

  it('max attempts: a task started too often fails with internal_error, its event and release', async () => {
    const { auth } = await ctx.service.newAccount(100);
    const id = await startTask(auth, 'crash loop');
    await db().query(`UPDATE tasks SET lease_expires_at = now() - interval '1 second', attempts = 3 WHERE id = $1`, [id]);
    await ctx.service.runtime.sweeper.sweepOnce();
    expect(await ended(auth, id)).toMatchObject({ status: 'failed', error: { code: 'internal_error' } });
    await expectEventsMatchLedger(db(), id, ['task.queued', 'task.running', 'task.progress', 'task.failed']);
  });
});

describe.each(BACKENDS)('task lifecycle on $name: an event that cannot be written undoes its transition', (backend) => {
  let service: TestService;
  let app: FastifyInstance;
  beforeAll(async () => {
    service = await startTestService(backend, { worker: false });
    app = service.runtime.app as FastifyInstance;
    // A test refuses an event type for one account: rivya_append_event's insert then fails.
    await service.runtime.db.exec(`
      CREATE TABLE test_refused_events (account_id text, type text);
      CREATE FUNCTION test_refuse_event() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF EXISTS (SELECT 1 FROM test_refused_events WHERE account_id = NEW.account_id AND type = NEW.type) THEN
          RAISE EXCEPTION 'event refused by the test';
        END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER test_refuse_event BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION test_refuse_event();`);
  });
  afterAll(async () => {
    await service?.close();
  });
  const refuse = (accountId: string, type: string) => service.runtime.db.query('INSERT INTO test_refused_events VALUES ($1, $2)', [accountId, type]);
  const allow = (accountId: string) => service.runtime.db.query('DELETE FROM test_refused_events WHERE account_id = $1', [accountId]);
  const state = async (accountId: string, taskId: string | null) => {
    const db = service.runtime.db;
    const account = (await db.query<{ balance: number; held: number; active_tasks: number }>(
      'SELECT balance::int, held::int, active_tasks FROM accounts WHERE id = $1', [accountId])).rows[0];
    const ledger = (await db.query<{ type: string }>('SELECT type FROM ledger_entries WHERE account_id = $1 ORDER BY created_at', [accountId])).rows;
    const task = taskId
      ? (await db.query<{ status: string; progress: number; attempts: number; lease_owner: string | null }>(
        'SELECT status, progress, attempts, lease_owner FROM tasks WHERE id = $1', [taskId])).rows[0]
      : null;
    const events = (await db.query<{ type: string }>('SELECT type FROM events WHERE account_id = $1 ORDER BY seq', [accountId])).rows;
    return { account, ledger: ledger.map((row) => row.type), task, events: events.map((row) => row.type) };
  };
  const create = async (auth: Record<string, string>) => {
    const response = await app.inject({ method: 'POST', url: '/api/v1/tasks', headers: auth, payload: { model: 'sora-2', prompt: 'p' } });
    expect(response.statusCode).toBe(201);
    return response.json().id as string;
  };

  it('create: no task, no hold, no ledger entry, no job when task.queued cannot be written', async () => {
    const { accountId, auth } = await service.newAccount(100);
    await refuse(accountId, 'task.queued');
    const jobs = async () => (await service.runtime.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM pgboss.job WHERE name = 'task.run'`)).rows[0]?.n;
    const jobsBefore = await jobs();
    const response = await app.inject({ method: 'POST', url: '/api/v1/tasks', headers: { ...auth, 'idempotency-key': 'k1' }, payload: { model: 'sora-2', prompt: 'p' } });
    expect(response.statusCode).toBe(500);
    expect(response.json().error.code).toBe('internal_error');
    expect(await state(accountId, null)).toMatchObject({ account: { balance: 100, held: 0, active_tasks: 0 }, ledger: ['grant'], events: [] });
    expect((await app.inject({ url: '/api/v1/tasks', headers: auth })).json().data).toEqual([]);
    expect(await jobs()).toBe(jobsBefore);
    await allow(accountId);
    const retried = await app.inject({ method: 'POST', url: '/api/v1/tasks', headers: { ...auth, 'idempotency-key': 'k1' }, payload: { model: 'sora-2', prompt: 'p' } });
    expect(retried.statusCode).toBe(201);
    expect(await state(accountId, retried.json().id)).toMatchObject({ account: { held: 6 }, ledger: ['grant', 'hold'], events: ['task.queued'] });
  });

  it('claim: the task stays queued, unclaimed, its attempts uncounted, when task.running cannot be written', async () => {
    const { accountId, auth } = await service.newAccount(100);
    const id = await create(auth);
    await refuse(accountId, 'task.running');
    await expect(service.runtime.lifecycle.claim({ taskId: id, seq: 0 }, 'attempt-1', 30)).rejects.toThrow();
    expect((await state(accountId, id)).task).toEqual({ status: 'queued', progress: 0, attempts: 0, lease_owner: null });
    await allow(accountId);
    expect(await service.runtime.lifecycle.claim({ taskId: id, seq: 0 }, 'attempt-1', 30)).toMatchObject({ started: true, task: { status: 'running', attempts: 1 } });
    expect((await state(accountId, id)).events).toEqual(['task.queued', 'task.running']);
  });

  it('progress: not stored, and the lease not renewed, when task.progress cannot be written', async () => {
    const { accountId, auth } = await service.newAccount(100);
    const id = await create(auth);
    const { lifecycle, db } = service.runtime;
    await lifecycle.claim({ taskId: id, seq: 0 }, 'attempt-1', 30);
    const lease = async () => (await db.query<{ at: Date }>('SELECT lease_expires_at AS at FROM tasks WHERE id = $1', [id])).rows[0]?.at.getTime();
    const leaseBefore = await lease();
    await refuse(accountId, 'task.progress');
    await expect(lifecycle.heartbeat(id, 'attempt-1', 60, 40)).rejects.toThrow();
    expect((await state(accountId, id)).task?.progress).toBe(0);
    expect(await lease()).toBe(leaseBefore);
    await allow(accountId);
    expect(await lifecycle.heartbeat(id, 'attempt-1', 60, 40)).toEqual({ held: true, progress: 40 });
    expect((await state(accountId, id)).events).toEqual(['task.queued', 'task.running', 'task.progress']);
  });

  it('progress: stored with its event only when it rises, at most once per 500 ms per task, even from racing writers', async () => {
    const { accountId, auth } = await service.newAccount(100);
    const id = await create(auth);
    const { lifecycle } = service.runtime;
    await lifecycle.claim({ taskId: id, seq: 0 }, 'attempt-1', 30);
    const progressEvents = async () =>
      (await service.runtime.db.query<{ progress: number }>(
        `SELECT (data->'task'->>'progress')::int AS progress FROM events WHERE task_id = $1 AND type = 'task.progress' ORDER BY seq`, [id],
      )).rows.map((row) => row.progress);
    expect(await lifecycle.heartbeat(id, 'attempt-1', 60, 20)).toEqual({ held: true, progress: 20 });
    // Within 500 ms of the last one: the lease is renewed, the progress waits.
    expect(await lifecycle.heartbeat(id, 'attempt-1', 60, 30)).toEqual({ held: true, progress: 20 });
    await new Promise((resolve) => setTimeout(resolve, 550));
    expect(await lifecycle.heartbeat(id, 'attempt-1', 60, 20)).toEqual({ held: true, progress: 20 });
    expect(await lifecycle.heartbeat(id, 'attempt-1', 60, 10)).toEqual({ held: true, progress: 20 });
    const racing = await Promise.all([40, 50, 60].map((value) => lifecycle.heartbeat(id, 'attempt-1', 60, value)));
    expect(racing.every((beat) => beat.held)).toBe(true);
    expect(await progressEvents()).toEqual([20, Math.max(...racing.map((beat) => beat.progress ?? 0))]);
    expect(await lifecycle.heartbeat(id, 'another-attempt', 60, 90)).toEqual({ held: false, progress: null });
    expect((await state(accountId, id)).task?.progress).toBe((await progressEvents()).at(-1));
  });

  it('end by the worker: the task keeps running and its hold open when task.succeeded cannot be written', async () => {
    const { accountId, auth } = await service.newAccount(100);
    const id = await create(auth);
    const { lifecycle } = service.runtime;
    await lifecycle.claim({ taskId: id, seq: 0 }, 'attempt-1', 30);
    await refuse(accountId, 'task.succeeded');
    await expect(lifecycle.end(id, { status: 'succeeded', media: [FAKE_MEDIA] }, { from: ['running'], lease: 'attempt-1' })).rejects.toThrow();
    expect(await state(accountId, id)).toMatchObject({
      account: { balance: 100, held: 6, active_tasks: 1 }, ledger: ['grant', 'hold'], task: { status: 'running', lease_owner: 'attempt-1' },
      events: ['task.queued', 'task.running'],
    });
    await allow(accountId);
    expect(await lifecycle.end(id, { status: 'succeeded', media: [FAKE_MEDIA] }, { from: ['running'], lease: 'attempt-1' })).toMatchObject({ status: 'succeeded' });
    expect(await state(accountId, id)).toMatchObject({
      account: { balance: 94, held: 0, active_tasks: 0 }, ledger: ['grant', 'hold', 'capture'], events: ['task.queued', 'task.running', 'task.succeeded'],
    });
  });

  it('cancel: 500, the task still queued and its hold open, when task.canceled cannot be written', async () => {
    const { accountId, auth } = await service.newAccount(100);
    const id = await create(auth);
    await refuse(accountId, 'task.canceled');
    const response = await app.inject({ method: 'POST', url: `/api/v1/tasks/${id}/cancel`, headers: auth });
    expect(response.statusCode).toBe(500);
    expect(await state(accountId, id)).toMatchObject({
      account: { held: 6 }, ledger: ['grant', 'hold'], task: { status: 'queued' }, events: ['task.queued'],
    });
    await allow(accountId);
    expect((await app.inject({ method: 'POST', url: `/api/v1/tasks/${id}/cancel`, headers: auth })).statusCode).toBe(200);
    expect(await state(accountId, id)).toMatchObject({ account: { held: 0 }, ledger: ['grant', 'hold', 'release'], events: ['task.queued', 'task.canceled'] });
  });

  it('timeout by the sweeper: the task and its hold stay as they were when task.failed cannot be written', async () => {
    const { accountId, auth } = await service.newAccount(100);
    const id = await create(auth);
    await service.runtime.db.query(`UPDATE tasks SET deadline_at = now() - interval '1 second' WHERE id = $1`, [id]);
    await refuse(accountId, 'task.failed');
    await expect(service.runtime.sweeper.sweepOnce()).rejects.toThrow();
    expect(await state(accountId, id)).toMatchObject({ account: { held: 6 }, ledger: ['grant', 'hold'], task: { status: 'queued' }, events: ['task.queued'] });
    await allow(accountId);
    await service.runtime.sweeper.sweepOnce();
    expect(await state(accountId, id)).toMatchObject({ account: { held: 0 }, ledger: ['grant', 'hold', 'release'], events: ['task.queued', 'task.failed'] });
  });

  it('onEvent runs inside the event’s transaction: it sees the event, and its failure undoes the transition', async () => {
    const { accountId, auth } = await service.newAccount(100);
    const id = await create(auth);
    const { db, tasks, queue, lifecycle: wired } = service.runtime;
    const seen: { type: string; visibleInTx: boolean }[] = [];
    const committed: EventRecord[] = [];
    let fail = true;
    const lifecycle = createTaskLifecycle({
      db, tasks, queue,
      transitions: { created() {}, started() {}, ended() {} },
      strandedAfterSeconds: 60,
      onEvent: async (tx, event) => {
        const { rows } = await tx.query('SELECT 1 FROM events WHERE id = $1', [event.id]);
        seen.push({ type: event.type, visibleInTx: rows.length === 1 });
        if (fail) throw new Error('delivery could not be enqueued');
      },
      onCommitted: (event) => committed.push(event),
    });
    await wired.claim({ taskId: id, seq: 0 }, 'attempt-1', 30);
    await expect(lifecycle.end(id, { status: 'failed', error: { code: 'upstream_error', message: 'x' } }, { from: ['running'], lease: 'attempt-1' })).rejects.toThrow('delivery could not be enqueued');
    expect(committed).toEqual([]);
    expect(await state(accountId, id)).toMatchObject({ account: { held: 6 }, ledger: ['grant', 'hold'], task: { status: 'running' }, events: ['task.queued', 'task.running'] });
    fail = false;
    const ended = await lifecycle.end(id, { status: 'failed', error: { code: 'upstream_error', message: 'x' } }, { from: ['running'], lease: 'attempt-1' });
    expect(ended?.status).toBe('failed');
    expect(seen).toEqual([{ type: 'task.failed', visibleInTx: true }, { type: 'task.failed', visibleInTx: true }]);
    expect(committed.map((event) => [event.type, event.taskId, event.task?.status])).toEqual([['task.failed', id, 'failed']]);
    expect(await state(accountId, id)).toMatchObject({ account: { held: 0 }, ledger: ['grant', 'hold', 'release'], events: ['task.queued', 'task.running', 'task.failed'] });
  });
});
