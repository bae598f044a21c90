import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccountStore } from '../../src/accounts/account-store.js';
import { migrate } from '../../src/db/migrate.js';
import type { Database } from '../../src/db/port.js';
import { appendEvent, createEventLog, seqOfEventId } from '../../src/events/event-log.js';
import { BACKENDS } from '../helpers/backends.js';

describe.each(BACKENDS)('event log on $name', (backend) => {
  let db: Database;
  let drop: () => Promise<void>;
  let accountA: string;
  let accountB: string;

  beforeAll(async () => {
    ({ db, drop } = await backend.create());
    await migrate(db);
    const accounts = createAccountStore(db);
    accountA = (await accounts.createAccount('a', 0)).id;
    accountB = (await accounts.createAccount('b', 0)).id;
  });
  afterAll(async () => {
    await db.close();
    await drop();
  });

  it('numbers each account’s events in order, with ids that sort like them and are unique across accounts', async () => {
    const a1 = await db.transaction((tx) => appendEvent(tx, { accountId: accountA, type: 'webhook.test', task: null }));
    const b1 = await db.transaction((tx) => appendEvent(tx, { accountId: accountB, type: 'webhook.test', task: null }));
    const a2 = await db.transaction((tx) => appendEvent(tx, { accountId: accountA, type: 'webhook.test', task: null }));
    expect([a1.seq, b1.seq, a2.seq]).toEqual([1, 1, 2]);
    expect(a1.id < a2.id).toBe(true);
    expect(a1.id).not.toBe(b1.id);
    expect(seqOfEventId(a2.id)).toBe(2);
    expect(seqOfEventId('evt_nope')).toBeNull();
    const log = createEventLog(db);
    expect((await log.list(accountA, { afterSeq: 0, limit: 10 })).map((e) => e.id)).toEqual([a1.id, a2.id]);
    expect(await log.get(accountB, a1.id)).toBeNull();
  });

  it('keeps no event of a transaction that rolled back, and leaves no gap a reader could wait on', async () => {
    const log = createEventLog(db);
    const before = await log.list(accountA, { afterSeq: 0, limit: 100 });
    await expect(db.transaction(async (tx) => {
      await appendEvent(tx, { accountId: accountA, type: 'webhook.test', task: null });
      throw new Error('rolled back');
    })).rejects.toThrow('rolled back');
    const next = await db.transaction((tx) => appendEvent(tx, { accountId: accountA, type: 'webhook.test', task: null }));
    const after = await log.list(accountA, { afterSeq: 0, limit: 100 });
    expect(after.map((e) => e.seq)).toEqual([...before.map((e) => e.seq), next.seq]);
    expect(next.seq).toBe(before.at(-1)!.seq + 1);
  });

  it('commits concurrent appends of one account in seq order', async () => {
    const log = createEventLog(db);
    const start = (await log.list(accountB, { afterSeq: 0, limit: 1000 })).length;
    await Promise.all(Array.from({ length: 20 }, () =>
      db.transaction((tx) => appendEvent(tx, { accountId: accountB, type: 'webhook.test', task: null }))));
    const seqs = (await log.list(accountB, { afterSeq: 0, limit: 1000 })).map((e) => e.seq);
    expect(seqs).toEqual(Array.from({ length: start + 20 }, (_, index) => index + 1));
  });
});
