import { ApiError } from '../errors.js';
import type { Database, Queryable } from '../db/port.js';
import { newId } from '../ids.js';
import { decodeCursor, toPage, type Page } from '../pagination.js';

export type LedgerEntryType = 'grant' | 'hold' | 'capture' | 'release' | 'adjust';

export interface LedgerEntry {
  id: string;
  type: LedgerEntryType;
  amount: number;
  task_id: string | null;
  balance_after: number;
  reason: string | null;
  created_at: Date;
}

type LedgerRow = LedgerEntry & { seq: number };

/**
 * Adds credits to (amount > 0: `grant`) or removes them from (amount < 0: `adjust`) an account,
 * with its ledger entry, inside `tx`. Keeps: balance never drops below the credits held. Returns
 * the entry and the change's position in the account's log (tell `changed` once `tx` commits).
 */
export async function postCreditChange(
  tx: Queryable,
  change: { accountId: string; amount: number; reason: string },
): Promise<{ entry: LedgerEntry; position: number }> {
  const { rows } = await tx.query<{ balance: number; held: number }>(
    // Not FOR UPDATE: that would also block the key-share lock an event's insert takes on the
    // account (its foreign key) while that transaction holds the log's counter, which this one
    // takes next (markAccountChanged): a deadlock.
    'SELECT balance, held FROM accounts WHERE id = $1 FOR NO KEY UPDATE',
    [change.accountId],
  );
  const account = rows[0];
  if (!account) throw new ApiError('not_found', 'Account not found.');
  const available = Number(account.balance) - Number(account.held);
  if (change.amount < 0 && available + change.amount < 0) {
    throw new ApiError('insufficient_credits', `Cannot remove ${-change.amount} credits: only ${available} are available.`, {
      details: { required: -change.amount, available },
    });
  }
  const { rows: updated } = await tx.query<{ balance: number }>(
    'UPDATE accounts SET balance = balance + $2 WHERE id = $1 RETURNING balance',
    [change.accountId, change.amount],
  );
  const balanceAfter = Number((updated[0] as { balance: number }).balance);
  const position = await markAccountChanged(tx, change.accountId);
  const { rows: entries } = await tx.query<LedgerRow>(
    `INSERT INTO ledger_entries (id, account_id, type, amount, balance_after, reason)
     VALUES ($1, $2, $3, $4, $5, $6) RETURNING *`,
    [newId('led'), change.accountId, change.amount >= 0 ? 'grant' : 'adjust', change.amount, balanceAfter, change.reason],
  );
  return { entry: toEntry(entries[0] as LedgerRow), position };
}

/**
 * Gives a change to an account that is not an event (credits granted or adjusted, new limits) its
 * position in the account's log, announced at commit like an event (migration 0012): every API
 * process then drops what it held of the account. Call it inside the change's transaction, after
 * the account's row is locked (the order every path takes: account row, then the log's counter).
 */
export async function markAccountChanged(tx: Queryable, accountId: string): Promise<number> {
  const { rows } = await tx.query<{ position: number | string }>('SELECT rivya_account_changed($1) AS position', [accountId]);
  return Number(rows[0]?.position);
}

/** Told, in this process, of each change to an account it committed: its position in the account's log. */
export type AccountChanged = (accountId: string, position: number) => void;

function toEntry(row: LedgerRow): LedgerEntry {
  return {
    id: row.id,
    type: row.type,
    amount: Number(row.amount),
    task_id: row.task_id,
    balance_after: Number(row.balance_after),
    reason: row.reason,
    created_at: row.created_at,
  };
}

export interface LedgerAudit {
  accountId: string;
  balance: number;
  held: number;
  /** grants + adjustments − captures, from the ledger. */
  ledgerBalance: number;
  /** Sum of open holds. */
  openHolds: number;
  /** Tasks queued or running. */
  activeTasks: number;
  countedActiveTasks: number;
}

/** The credit ledger: reads, and the audit that proves the stored totals match the entries. */
export function createCreditLedger(db: Database, changed: AccountChanged = () => {}) {
  return {
    /** `postCreditChange` in a transaction of its own. */
    async postCreditChange(change: { accountId: string; amount: number; reason: string }): Promise<LedgerEntry> {
      const posted = await db.transaction((tx) => postCreditChange(tx, change));
      changed(change.accountId, posted.position);
      return posted.entry;
    },

    /** Tells this process of a change to an account committed by a caller's transaction. */
    changed,

    /** The account's entries, newest first. */
    async list(accountId: string, limit: number, cursor?: string): Promise<Page<LedgerEntry>> {
      const before = decodeCursor(cursor);
      const { rows } = await db.query<LedgerRow>(
        `SELECT * FROM ledger_entries WHERE account_id = $1 AND ($2::bigint IS NULL OR seq < $2)
          ORDER BY seq DESC LIMIT $3`,
        [accountId, before, limit + 1],
      );
      return toPage(rows, limit, toEntry);
    },

    /** Recomputes every account's totals from the ledger, holds and tasks (for tests and audits). */
    async audit(): Promise<LedgerAudit[]> {
      const { rows } = await db.query<{
        id: string; balance: number; held: number; active_tasks: number;
        ledger_balance: number; open_holds: number; counted_active: number;
      }>(
        `SELECT a.id, a.balance, a.held, a.active_tasks,
           coalesce((SELECT sum(CASE WHEN type IN ('grant', 'adjust') THEN amount WHEN type = 'capture' THEN -amount ELSE 0 END)
                       FROM ledger_entries e WHERE e.account_id = a.id), 0)::bigint AS ledger_balance,
           coalesce((SELECT sum(amount) FROM credit_holds h WHERE h.account_id = a.id AND h.state = 'open'), 0)::bigint AS open_holds,
           (SELECT count(*) FROM tasks t WHERE t.account_id = a.id AND t.status IN ('queued', 'running'))::int AS counted_active
         FROM accounts a ORDER BY a.id`,
      );
      return rows.map((row) => ({
        accountId: row.id,
        balance: Number(row.balance),
        held: Number(row.held),
        ledgerBalance: Number(row.ledger_balance),
        openHolds: Number(row.open_holds),
        activeTasks: row.active_tasks,
        countedActiveTasks: row.counted_active,
      }));
    },
  };
}

export type CreditLedger = ReturnType<typeof createCreditLedger>;
