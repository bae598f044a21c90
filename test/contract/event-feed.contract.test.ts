import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccountStore } from '../../src/accounts/account-store.js';
import { migrate } from '../../src/db/migrate.js';
import type { Database } from '../../src/db/port.js';
import { createPostgresDatabase } from '../../src/db/postgres-database.js';
import { createEventFanout, type EventFanout } from '../../src/events/event-fanout.js';
import { createEventFeed, parseEventNotice, type EventFeed, type EventNotice } from '../../src/events/event-feed.js';
import { appendEvent, createEventLog, type EventLog, type EventRecord } from '../../src/events/event-log.js';
import { createLogPositions } from '../../src/events/log-positions.js';
import { BACKENDS, createServerDatabase, POSTGRES_AVAILABLE } from '../helpers/backends.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';
import { waitFor } from '../helpers/wait-for.js';

const logger = pino({ level: 'silent' });

/** An event log that counts its reads. */
function countingLog(db: Database): EventLog & { reads: number } {
  const log = createEventLog(db);
  const counting = {
    ...log,
    reads: 0,
    list: (...args: Parameters<EventLog['list']>) => {
      counting.reads++;
      return log.list(...args);
    },
  };
  return counting;
}

/** A subscriber that keeps what it is given. */
function collector() {
  const events: EventRecord[] = [];
  return { events, seqs: () => events.map((event) => event.seq), sink: { deliver: (batch: readonly EventRecord[]) => void events.push(...batch), fail: (error: unknown) => { throw error; } } };
}

describe('event notices', () => {
  it('are read from the payload rivya_append_event sends, and nothing else', () => {
    expect(parseEventNotice('acct_1 42 task_9')).toEqual({ accountId: 'acct_1', seq: 42, taskId: 'task_9' });
    expect(parseEventNotice('acct_1 7 -')).toEqual({ accountId: 'acct_1', seq: 7, taskId: null });
    for (const junk of ['', 'acct_1', 'acct_1 x task', 'acct_1 1 task extra', 'acct_1 -1 -']) expect(parseEventNotice(junk)).toBeNull();
  });
});

describe.each(BACKENDS)('event feed and fan-out on $name', (backend) => {
  let db: Database;
  let drop: () => Promise<void>;
  let url: string | null;
  let feed: EventFeed;
  const accounts = createAccountStore;
  const append = (accountId: string) => db.transaction((tx) => appendEvent(tx, { accountId, type: 'webhook.test', task: null }));
  /** The notice a committed event of `taskId` sends (as rivya_append_event words it), without the task rows it would need. */
  const announceTaskEvent = (accountId: string, taskId: string) => db.query('SELECT pg_notify($1, $2)', ['rivya_events', `${accountId} 1 ${taskId}`]);
  const newAccount = async () => (await accounts(db).createAccount('feed', 0)).id;

  beforeAll(async () => {
    ({ db, drop, url } = await backend.create());
    await migrate(db);
    feed = await createEventFeed(db, logger);
  });
  afterAll(async () => {
    await feed.close();
    await db.close();
    await drop();
  });

  it('tells an account’s listeners of each committed event, in order, and of none rolled back', async () => {
    const account = await newAccount();
    const other = await newAccount();
    const heard: EventNotice[] = [];
    const stop = feed.onAccount(account, (notice) => heard.push(notice));
    const first = await append(account);
    await append(other);
    await expect(db.transaction(async (tx) => {
      await appendEvent(tx, { accountId: account, type: 'webhook.test', task: null });
      throw new Error('roll back');
    })).rejects.toThrow('roll back');
    const second = await append(account);
    await waitFor(() => heard.length >= 2, 5000, 'the notices');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(heard).toEqual([{ accountId: account, seq: first.seq, taskId: null }, { accountId: account, seq: second.seq, taskId: null }]);
    stop();
    await append(account);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(heard).toHaveLength(2);
  });

  it('wakes a task’s waiters at its next event, not at another task’s; else at the timeout or abort', async () => {
    const account = await newAccount();
    let started = Date.now();
    const waiting = feed.nextTaskEvent('task_a', 5000);
    setTimeout(() => void announceTaskEvent(account, 'task_b'), 50);
    setTimeout(() => void announceTaskEvent(account, 'task_a'), 200);
    await waiting;
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    expect(Date.now() - started).toBeLessThan(2000);

    started = Date.now();
    await feed.nextTaskEvent('task_none', 200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    const abort = new AbortController();
    started = Date.now();
    setTimeout(() => abort.abort(), 50);
    await feed.nextTaskEvent('task_none', 5000, abort.signal);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  describe('fan-out', () => {
    let fanout: EventFanout;
    let log: EventLog & { reads: number };
    beforeAll(() => {
      log = countingLog(db);
      fanout = createEventFanout({ log, positions: createLogPositions(db, log), feed, logger });
    });
    afterAll(() => fanout.close());

    it('reads an account’s log once per notice for all its live subscribers, and gives each every event once', async () => {
      const account = await newAccount();
      await append(account);
      const subscribers = Array.from({ length: 50 }, collector);
      const subscriptions = await Promise.all(subscribers.map((subscriber) => fanout.subscribe(account, { afterSeq: null }, subscriber.sink)));
      expect(subscriptions.every((subscription) => subscription.start.seq === 1)).toBe(true);
      const reads = log.reads;
      const event = await append(account);
      await waitFor(() => subscribers.every((subscriber) => subscriber.events.length === 1), 5000, 'every subscriber');
      expect(log.reads - reads).toBe(1);
      // The same record for all: what is made of it (a frame) is made once.
      expect(new Set(subscribers.map((subscriber) => subscriber.events[0])).size).toBe(1);
      expect(subscribers[0]!.events[0]!.id).toBe(event.id);
      for (const subscription of subscriptions) subscription.close();
      expect(fanout.size()).toEqual({ subscribers: 0, accounts: 0 });
    });

    it('catches a resumed subscriber up from the log while events keep coming, in order, none twice or missed', async () => {
      const account = await newAccount();
      for (let i = 0; i < 30; i++) await append(account);
      const live = collector();
      const liveSubscription = await fanout.subscribe(account, { afterSeq: null }, live.sink);
      // More events commit while the resumed subscriber reads its backlog in pages of 500.
      const appending = (async () => {
        for (let i = 0; i < 60; i++) await append(account);
      })();
      const resumed = collector();
      const subscription = await fanout.subscribe(account, { afterSeq: 5 }, resumed.sink);
      await appending;
      await waitFor(() => resumed.events.length === 85, 10_000, 'the resumed subscriber');
      await waitFor(() => live.events.length === 60, 10_000, 'the live subscriber');
      expect(resumed.seqs()).toEqual(Array.from({ length: 85 }, (_, index) => index + 6));
      expect(live.seqs()).toEqual(Array.from({ length: 60 }, (_, index) => index + 31));
      subscription.close();
      liveSubscription.close();
    });

    it('delivers a filtered subscriber only its task’s or its types’ events, and nothing after close', async () => {
      const account = await newAccount();
      const typed = collector();
      const typedSubscription = await fanout.subscribe(account, { afterSeq: null, types: ['task.failed'] }, typed.sink);
      const all = collector();
      const allSubscription = await fanout.subscribe(account, { afterSeq: null }, all.sink);
      const failed = await db.transaction((tx) => appendEvent(tx, { accountId: account, type: 'task.failed', task: null }));
      await append(account);
      await waitFor(() => all.events.length === 2, 5000, 'both events');
      expect(typed.events.map((event) => event.id)).toEqual([failed.id]);
      typedSubscription.close();
      await db.transaction((tx) => appendEvent(tx, { accountId: account, type: 'task.failed', task: null }));
      await waitFor(() => all.events.length === 3, 5000, 'the third event');
      expect(typed.events).toHaveLength(1);
      allSubscription.close();
    });

    it.runIf(backend.name === 'postgres')('misses nothing when the listening connection is cut: it reads again once it listens again', async () => {
      const server = new URL(url!);
      const proxy = await startTcpProxy(Number(server.port || 5432));
      const viaProxy = new URL(url!);
      viaProxy.port = String(proxy.port);
      const cutDb = await createPostgresDatabase({ connectionString: viaProxy.toString(), connectTimeoutMs: 1000 });
      const cutFeed = await createEventFeed(cutDb, logger);
      const cutLog = createEventLog(cutDb);
      const cutFanout = createEventFanout({ log: cutLog, positions: createLogPositions(cutDb, cutLog), feed: cutFeed, logger });
      try {
        const account = await newAccount();
        const subscriber = collector();
        const subscription = await cutFanout.subscribe(account, { afterSeq: null }, subscriber.sink);
        const before = await append(account);
        await waitFor(() => subscriber.events.length === 1, 5000, 'the first event');
        await proxy.down();
        // Committed while this process could not hear of it.
        const during = await append(account);
        // Task waiters wake when the feed listens again: what they wait for may have come meanwhile.
        const waiter = cutFeed.nextTaskEvent('task_cut', 30_000);
        await proxy.up();
        await waiter;
        await waitFor(() => subscriber.events.length === 2, 10_000, 'the event committed during the cut');
        const after = await append(account);
        await waitFor(() => subscriber.events.length === 3, 5000, 'the event after');
        expect(subscriber.events.map((event) => event.id)).toEqual([before.id, during.id, after.id]);
        subscription.close();
      } finally {
        cutFanout.close();
        await cutFeed.close();
        await cutDb.close();
        await proxy.close();
      }
    });
  });
});

describe.runIf(POSTGRES_AVAILABLE)('event feed across processes', () => {
  it('hears what another process appends', async () => {
    const server = await createServerDatabase();
    const [one, two] = [
      await createPostgresDatabase({ connectionString: server.url }),
      await createPostgresDatabase({ connectionString: server.url }),
    ];
    try {
      await migrate(one);
      const account = (await createAccountStore(one).createAccount('x', 0)).id;
      const feed = await createEventFeed(two, logger);
      const heard: EventNotice[] = [];
      feed.onAccount(account, (notice) => heard.push(notice));
      const event = await one.transaction((tx) => appendEvent(tx, { accountId: account, type: 'webhook.test', task: null }));
      await waitFor(() => heard.length === 1, 5000, 'the notice');
      expect(heard).toEqual([{ accountId: account, seq: event.seq, taskId: null }]);
      await feed.close();
    } finally {
      await one.close();
      await two.close();
      await server.drop();
    }
  });
});
