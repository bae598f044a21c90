import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccountStore } from '../../src/accounts/account-store.js';
import { loadMigrations, migrate, type Migration } from '../../src/db/migrate.js';
import type { Database } from '../../src/db/port.js';
import type { TaskStatus } from '../../src/domain.js';
import { endTask, insertTaskWithHold, type TaskEnding } from '../../src/tasks/task-lifecycle-sql.js';
import { createTaskStore } from '../../src/tasks/task-store.js';
import { BACKENDS } from '../helpers/backends.js';

const ENDINGS: Record<'succeeded' | 'failed' | 'canceled', TaskEnding> = {
  succeeded: { status: 'succeeded', media: [] },
  failed: { status: 'failed', error: { code: 'upstream_error', message: 'failed' } },
  canceled: { status: 'canceled', error: { code: 'canceled', message: 'canceled' } },
};

/** What `rivya_tasks` must report: every task counted, by its status, the slow way. */
async function countedTheSlowWay(db: Database): Promise<Record<TaskStatus, number>> {
  const { rows } = await db.query<{ status: TaskStatus; n: number }>('SELECT status, count(*)::int AS n FROM tasks GROUP BY status');
  const counts: Record<TaskStatus, number> = { queued: 0, running: 0, succeeded: 0, failed: 0, canceled: 0 };
  for (const row of rows) counts[row.status] = row.n;
  return counts;
}

describe.each(BACKENDS)('tasks per status (migration 0006) on $name', (backend) => {
  let db: Database;
  let drop: () => Promise<void>;
  let migrations: Migration[];
  let accountId: string;

  const newTask = async () =>
    insertTaskWithHold(db, {
      accountId, model: 'sora-2', prompt: 'p', params: {}, referenceFiles: [], clientRequestId: null,
      price: 1, activeTaskLimit: 10_000, timeoutSeconds: 600, webhookUrl: null, webhookEvents: 'terminal',
    });

  beforeAll(async () => {
    ({ db, drop } = await backend.create());
    migrations = await loadMigrations();
  });
  afterAll(async () => {
    await db?.close();
    await drop?.();
  });

  it('counts the tasks that ended before the migration, then every end once', async () => {
    const before = migrations.filter((migration) => migration.version < 6);
    expect(before.map((migration) => migration.version)).toEqual([1, 2, 3, 4, 5]);
    await migrate(db, before);
    // Credits as that schema's release granted them (a grant now also takes a position of the log, migration 0012).
    accountId = (await createAccountStore(db).createAccount('totals', 0)).id;
    await db.query('UPDATE accounts SET balance = 100000 WHERE id = $1', [accountId]);
    // A database in use: tasks in every status, ended ones of every kind, spread over the shards.
    const statuses: TaskStatus[] = [];
    for (let index = 0; index < 60; index++) {
      const task = await newTask();
      const status = (['queued', 'succeeded', 'failed', 'canceled'] as const)[index % 4]!;
      if (status !== 'queued') expect(await endTask(db, task.id, ENDINGS[status], ['queued'])).not.toBeNull();
      statuses.push(status);
    }
    await migrate(db);
    const store = createTaskStore(db);
    expect(await store.countByStatus()).toEqual(await countedTheSlowWay(db));
    expect(await store.countByStatus()).toMatchObject({ queued: 15, succeeded: 15, failed: 15, canceled: 15 });
  });

  it('stays exact when many tasks end at once and several ends race for the same task', async () => {
    const store = createTaskStore(db);
    const tasks = await Promise.all(Array.from({ length: 40 }, () => newTask()));
    // Each task is ended three times at once, in three different ways: one wins, the others find it ended.
    const ends = tasks.flatMap((task) =>
      (['succeeded', 'failed', 'canceled'] as const).map((status) => endTask(db, task.id, ENDINGS[status], ['queued', 'running'])),
    );
    const won = (await Promise.all(ends)).filter((ended) => ended !== null);
    expect(won).toHaveLength(40);
    expect(await store.countByStatus()).toEqual(await countedTheSlowWay(db));
  });

  it('does not count a task twice: an ended task written again, or one inserted already ended', async () => {
    const store = createTaskStore(db);
    const task = await newTask();
    await endTask(db, task.id, ENDINGS.failed, ['queued']);
    await db.query(`UPDATE tasks SET status = status, updated_at = now() WHERE id = $1`, [task.id]);
    expect(await endTask(db, task.id, ENDINGS.canceled, ['queued', 'running'])).toBeNull();
    const copy = await newTask();
    await db.query(
      `INSERT INTO tasks (id, account_id, model, prompt, params, reference_files, status, reserved_credits, deadline_at)
       SELECT $2, account_id, model, prompt, params, reference_files, 'canceled', reserved_credits, deadline_at FROM tasks WHERE id = $1`,
      [copy.id, `${copy.id}_copy`],
    );
    expect(await store.countByStatus()).toEqual(await countedTheSlowWay(db));
  });
});
