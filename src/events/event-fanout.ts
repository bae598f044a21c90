import type { FastifyBaseLogger } from 'fastify';
import type { EventFeed } from './event-feed.js';
import type { EventLog, EventRecord, EventType } from './event-log.js';
import type { LogPosition, LogPositions } from './log-positions.js';

export interface SubscribeOptions {
  /** Deliver the events after this seq, read from the log first; null: only those committed from now on. */
  afterSeq: number | null;
  /** Only these types; all when absent. */
  types?: readonly EventType[] | undefined;
  /** Only this task's events. */
  taskId?: string | undefined;
}

export interface Subscription {
  /** The position delivery starts after (for a live start: the account's latest event). */
  readonly start: LogPosition;
  /** Stops delivery; nothing is delivered after it returns. */
  close(): void;
}

export interface EventSink {
  /**
   * Events in log order, each once, never one at or before the position already delivered.
   * `paced`: read from the log for this subscriber alone (catching up), and the next page is read
   * only once the returned promise settles, so the sink may wait for its client to take them.
   */
  deliver(events: readonly EventRecord[], paced?: boolean): void | Promise<void>;
  /** The subscription cannot go on (its log could not be read); it is closed. */
  fail(error: unknown): void;
  /**
   * The subscription moved past events it does not match, up to `position` (after what `deliver`
   * last gave): a client that resumes from there misses nothing, and needs no older event kept.
   */
  passed?(position: LogPosition): void;
}

interface Subscriber {
  /** Events up to this seq have been delivered (or did not match). */
  cursor: number;
  live: boolean;
  closed: boolean;
  matches(event: EventRecord): boolean;
  sink: EventSink;
}

interface AccountGroup {
  accountId: string;
  /** Every event up to `head` has committed and been read (or was there before the group). */
  head: LogPosition;
  ready: Promise<void>;
  subscribers: Set<Subscriber>;
  reading: boolean;
  /** A notice came while reading: read again after. */
  again: boolean;
  retry: NodeJS.Timeout | null;
  stopFeed: () => void;
}

export interface EventFanoutDeps {
  log: EventLog;
  positions: LogPositions;
  feed: EventFeed;
  logger: FastifyBaseLogger;
  /**
   * Runs once for each page read of the log, before its events are delivered: what every
   * subscriber sends of an event (its frame) is made there, once. It must not throw.
   */
  prepare?: (events: readonly EventRecord[]) => Promise<void>;
  /** Events per read of the log; default 500. */
  pageSize?: number;
}

/**
 * Follows accounts' event logs for many subscribers at once (event streams). The subscribers of one
 * account share one read of its log per notice from the feed, whatever their number, and get the
 * same event objects (so what is made of an event, its frame, can be made once). A subscriber that
 * resumes from an older position reads the log by itself until it has caught up with the shared
 * reads, then joins them; the order of the log is kept and no event is delivered twice.
 */
export function createEventFanout(deps: EventFanoutDeps) {
  const pageSize = deps.pageSize ?? 500;
  const groups = new Map<string, AccountGroup>();

  /** Reads the account's log after the group's head until it is drained, delivering each page to the live subscribers. */
  const read = async (group: AccountGroup): Promise<void> => {
    if (group.reading) {
      group.again = true;
      return;
    }
    group.reading = true;
    try {
      // Notices that came before the head was known are read from it.
      await group.ready;
      do {
        group.again = false;
        const page = await deps.log.list(group.accountId, { afterSeq: group.head.seq, limit: pageSize });
        const last = page.at(-1);
        if (!last) continue;
        await deps.prepare?.(page);
        // The head moves with the delivery, in one turn: a subscriber that turns live sees both or neither.
        group.head = { seq: last.seq, id: last.id };
        for (const subscriber of group.subscribers) if (subscriber.live) deliver(subscriber, page);
        if (page.length === pageSize) group.again = true;
      } while (group.again && group.subscribers.size > 0);
    } catch (error) {
      if (groups.get(group.accountId) !== group) return;
      deps.logger.warn({ err: error, account_id: group.accountId }, 'event streams: cannot read the event log; retrying');
      group.retry ??= setTimeout(() => {
        group.retry = null;
        void read(group);
      }, 1000);
    } finally {
      group.reading = false;
    }
  };

  const deliver = (subscriber: Subscriber, events: readonly EventRecord[]) => {
    const fresh = events.filter((event) => event.seq > subscriber.cursor && subscriber.matches(event));
    const last = events.at(-1);
    if (!last || last.seq <= subscriber.cursor) return;
    subscriber.cursor = last.seq;
    // Live: shared by every subscriber of the account, so not paced (a client that falls behind is dropped and resumes).
    if (fresh.length > 0) void subscriber.sink.deliver(fresh);
    if (fresh.at(-1) !== last && !subscriber.closed) subscriber.sink.passed?.({ seq: last.seq, id: last.id });
  };

  const groupOf = (accountId: string): AccountGroup => {
    const existing = groups.get(accountId);
    if (existing) return existing;
    const group: AccountGroup = {
      accountId, head: { seq: 0, id: null }, ready: Promise.resolve(), subscribers: new Set(),
      reading: false, again: false, retry: null, stopFeed: () => {},
    };
    // Listening before reading the head: an event committed in between is read by the notice's read.
    group.stopFeed = deps.feed.onAccount(accountId, (notice) => {
      if (notice.seq > group.head.seq) void read(group);
    });
    group.ready = deps.positions.latest(accountId).then(
      (head) => {
        group.head = head;
      },
      (error: unknown) => {
        // Unusable: the next subscriber makes a new group.
        if (groups.get(accountId) === group) groups.delete(accountId);
        group.stopFeed();
        throw error;
      },
    );
    groups.set(accountId, group);
    return group;
  };

  const leave = (group: AccountGroup, subscriber: Subscriber) => {
    group.subscribers.delete(subscriber);
    if (group.subscribers.size > 0 || groups.get(group.accountId) !== group) return;
    groups.delete(group.accountId);
    group.stopFeed();
    if (group.retry) clearTimeout(group.retry);
  };

  const stopGap = deps.feed.onGap(() => {
    for (const group of groups.values()) void read(group);
  });

  return {
    /**
     * Delivers `accountId`'s events matching `options` to `sink`, in log order: those after
     * `options.afterSeq` from the log, then each as it commits. Resolves once delivery has started
     * (rejects if the log cannot be read then).
     */
    async subscribe(accountId: string, options: SubscribeOptions, sink: EventSink): Promise<Subscription> {
      const group = groupOf(accountId);
      const subscriber: Subscriber = {
        cursor: 0, live: false, closed: false, sink,
        matches: (event) => (!options.types || options.types.includes(event.type)) && (!options.taskId || event.taskId === options.taskId),
      };
      group.subscribers.add(subscriber);
      const close = () => {
        subscriber.closed = true;
        leave(group, subscriber);
      };
      try {
        await group.ready;
      } catch (error) {
        close();
        throw error;
      }
      const start: LogPosition = options.afterSeq === null ? { ...group.head } : { seq: options.afterSeq, id: null };
      subscriber.cursor = start.seq;
      if (subscriber.cursor >= group.head.seq) subscriber.live = true;
      else void catchUp(group, subscriber, options);
      return { start, close };
    },

    /** Subscriptions open now, and the accounts they follow. */
    size(): { subscribers: number; accounts: number } {
      let subscribers = 0;
      for (const group of groups.values()) subscribers += group.subscribers.size;
      return { subscribers, accounts: groups.size };
    },

    close(): void {
      stopGap();
      for (const group of groups.values()) {
        group.stopFeed();
        if (group.retry) clearTimeout(group.retry);
      }
      groups.clear();
    },
  };

  /**
   * Reads the log for one subscriber from its cursor until it reaches the shared head, then makes
   * it live (in the same turn of the event loop as the check, so no shared read falls in between).
   */
  async function catchUp(group: AccountGroup, subscriber: Subscriber, options: SubscribeOptions): Promise<void> {
    try {
      while (!subscriber.closed) {
        // Every event up to the head has committed: a read that starts now sees all of them.
        const head = group.head.seq;
        const headId = group.head.id;
        if (subscriber.cursor >= head) {
          subscriber.live = true;
          return;
        }
        const page = await deps.log.list(group.accountId, { afterSeq: subscriber.cursor, types: options.types, taskId: options.taskId, limit: pageSize });
        await deps.prepare?.(page);
        if (subscriber.closed) return;
        const fresh = page.filter((event) => event.seq > subscriber.cursor);
        const last = fresh.at(-1);
        if (last) subscriber.cursor = last.seq;
        // A page that is not full holds every matching event up to `head`.
        const passed = page.length < pageSize && head > subscriber.cursor;
        if (passed) subscriber.cursor = head;
        // Paced: a backlog goes out as fast as the client takes it, never piled up in memory.
        if (fresh.length > 0) await subscriber.sink.deliver(fresh, true);
        if (passed && headId !== null && !subscriber.closed) subscriber.sink.passed?.({ seq: head, id: headId });
      }
    } catch (error) {
      if (subscriber.closed) return;
      subscriber.closed = true;
      leave(group, subscriber);
      subscriber.sink.fail(error);
    }
  }
}

export type EventFanout = ReturnType<typeof createEventFanout>;
