// Adds finished tasks to an embedded data dir while its service is stopped, for the memory
// benchmark: copies of a real succeeded task (fresh ids and prompts, spread back over time),
// each with its captured hold and its hold and capture ledger entries, funded by one grant so
// the account's balance ends where it started. Runs the checkout's own code under the data
// dir's lock, so the service cannot start on it meanwhile.
//   node bin/run-ts.js bench/fill-tasks.ts <checkout root> <data dir> <count>
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { lockDataDir as LockDataDir } from '../src/db/data-dir-lock.js';
import type { createPgliteDatabase as CreatePgliteDatabase } from '../src/db/pglite-database.js';
import type { createCreditLedger as CreateCreditLedger } from '../src/ledger/credit-ledger.js';

const [rootArg, dataDirArg, countArg] = process.argv.slice(2);
if (!rootArg || !dataDirArg || !countArg) {
  console.error('usage: node bin/run-ts.js bench/fill-tasks.ts <checkout root> <data dir> <count>');
  process.exit(2);
}
const root = resolve(rootArg);
const dataDir = resolve(dataDirArg);
const count = Number(countArg);

const load = async <T>(path: string): Promise<T> => (await import(pathToFileURL(join(root, path)).href)) as T;
const { lockDataDir } = await load<{ lockDataDir: typeof LockDataDir }>('src/db/data-dir-lock.ts');
const { createPgliteDatabase } = await load<{ createPgliteDatabase: typeof CreatePgliteDatabase }>('src/db/pglite-database.ts');
const { createCreditLedger } = await load<{ createCreditLedger: typeof CreateCreditLedger }>('src/ledger/credit-ledger.ts');

const lock = await lockDataDir(dataDir);
try {
  const db = await createPgliteDatabase({ dataDir: join(dataDir, 'pgdata') });
  try {
    const started = Date.now();
    await db.transaction(async (tx) => {
      const { rows } = await tx.query<{ id: string; account_id: string; reserved_credits: number }>(
        `SELECT id, account_id, reserved_credits FROM tasks WHERE status = 'succeeded' ORDER BY seq LIMIT 1`,
      );
      const template = rows[0];
      if (!template) throw new Error('No succeeded task to copy: run some tasks first.');
      const total = template.reserved_credits * count;
      // The account's balance is unchanged in the end: the grant pays for every capture.
      const { rows: accounts } = await tx.query<{ balance: number }>('SELECT balance FROM accounts WHERE id = $1', [template.account_id]);
      const funded = accounts[0]!.balance + total;
      await tx.query(
        `INSERT INTO ledger_entries (id, account_id, type, amount, balance_after, reason)
         VALUES ('led_' || substr(md5(random()::text), 1, 22), $1, 'grant', $2, $3, 'memory benchmark')`,
        [template.account_id, total, funded],
      );
      // g = 1 is the oldest: created (count - g + 1) minutes ago, ended a minute later.
      await tx.query(
        `CREATE TEMP TABLE fill ON COMMIT DROP AS
           SELECT g, 'task_' || substr(md5(random()::text || g), 1, 22) AS id,
                  now() - make_interval(mins => $1 - g + 1) AS created_at
             FROM generate_series(1, $1::int) AS g`,
        [count],
      );
      await tx.query(
        `INSERT INTO tasks (id, account_id, model, prompt, params, reference_files, client_request_id, status, progress,
                            reserved_credits, final_credits, result, error, provider, upstream_id, attempts, deadline_at,
                            created_at, updated_at, started_at, completed_at, submitted_at)
         SELECT f.id, t.account_id, t.model, t.prompt || ' #' || f.g, t.params, t.reference_files, NULL, t.status, t.progress,
                t.reserved_credits, t.final_credits, t.result, t.error, t.provider, t.upstream_id || '-' || f.g, t.attempts,
                f.created_at + interval '30 minutes', f.created_at, f.created_at + interval '1 minute',
                f.created_at + interval '1 second', f.created_at + interval '1 minute', f.created_at + interval '1 second'
           FROM fill f, tasks t WHERE t.id = $1 ORDER BY f.g`,
        [template.id],
      );
      await tx.query(
        `INSERT INTO credit_holds (task_id, account_id, amount, state, created_at, settled_at)
         SELECT f.id, $1, $2, 'captured', f.created_at, f.created_at + interval '1 minute' FROM fill f ORDER BY f.g`,
        [template.account_id, template.reserved_credits],
      );
      await tx.query(
        `INSERT INTO ledger_entries (id, account_id, type, amount, task_id, balance_after, created_at)
         SELECT 'led_' || substr(md5(random()::text || f.g || e.type), 1, 22), $1, e.type, $2::bigint, f.id,
                $3::bigint - $2::bigint * (f.g - CASE e.type WHEN 'hold' THEN 1 ELSE 0 END),
                f.created_at + CASE e.type WHEN 'hold' THEN interval '0' ELSE interval '1 minute' END
           FROM fill f CROSS JOIN (VALUES ('hold'), ('capture')) AS e (type) ORDER BY f.g, e.type DESC`,
        [template.account_id, template.reserved_credits, funded],
      );
    });
    // The rows are the service's own kind: every account's totals still match its entries.
    const wrong = (await createCreditLedger(db).audit()).filter(
      (row) => row.balance !== row.ledgerBalance || row.held !== row.openHolds || row.activeTasks !== row.countedActiveTasks,
    );
    if (wrong.length > 0) throw new Error(`The ledger audit fails after the fill: ${JSON.stringify(wrong)}`);
    console.log(`added ${count} tasks in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } finally {
    await db.close();
  }
} finally {
  await lock.release();
}
