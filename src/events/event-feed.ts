import type { FastifyBaseLogger } from 'fastify';
import type { Database } from '../db/port.js';
import { EVENT_CHANNEL } from './event-log.js';

/** What the feed says of a committed event: whose log, its position, its task. Read the event from the log. */
export interface EventNotice {
  accountId: string;
  seq: number;
  taskId: string | null;
}

/** `<account_id> <seq> <task_id or ->`, as `rivya_append_event` announces it (migration 0007); null if it is not that. */
export function parseEventNotice(payload: string): EventNotice | null {
  const [accountId, seq, taskId, extra] = payload.split(' ');
  if (!accountId || !seq || !taskId || extra !== undefined || !/^\d+$/.test(seq)) return null;
  return { accountId, seq: Number(seq), taskId: taskId === '-' ? null : taskId };
}

/**
 * Tells this process, within milliseconds, that an account's log has new events, whichever process
 * appended them: the NOTIFY each append sends when its transaction commits (`EVENT_CHANNEL`). The
 * feed only says "read now"; the log is what is read. When notices may have been lost (the listening
 * connection was cut) every reader is told to read again (`onGap`), and every task waiter wakes.
 */
export async function createEventFeed(db: Database, logger: FastifyBaseLogger) {
  const accountListeners = new Map<string, Set<(notice: EventNotice) => void>>();
  const noticeListeners = new Set<(notice: EventNotice) => void>();
  const lossListeners = new Set<() => void>();
  const gapListeners = new Set<() => void>();
  const taskWaiters = new Map<string, Set<() => void>>();

  const wakeTask = (taskId: string) => {
    const set = taskWaiters.get(taskId);
    if (!set) return;
    taskWaiters.delete(taskId);
    for (const wake of set) wake();
  };
  const onPayload = (payload: string) => {
    const notice = parseEventNotice(payload);
    if (!notice) return;
    // What is kept from notices is brought up to date before anyone who waited on one reads it.
    for (const listener of noticeListeners) listener(notice);
    if (notice.taskId) wakeTask(notice.taskId);
    for (const listener of accountListeners.get(notice.accountId) ?? []) listener(notice);
  };
  const onReconnect = () => {
    logger.warn('event feed: listening again after a lost connection; readers re-read the log');
    for (const taskId of [...taskWaiters.keys()]) wakeTask(taskId);
    for (const listener of gapListeners) listener();
  };
  const onLost = () => {
    logger.warn('event feed: lost its connection; listening again');
    for (const listener of lossListeners) listener();
  };
  const unlisten = await db.listen(EVENT_CHANNEL, onPayload, { onLost, onReconnect });

  return {
    /** Calls `listener` for each event committed to `accountId`'s log from now on. Returns the function that stops it. */
    onAccount(accountId: string, listener: (notice: EventNotice) => void): () => void {
      let set = accountListeners.get(accountId);
      if (!set) accountListeners.set(accountId, (set = new Set()));
      set.add(listener);
      return () => {
        set.delete(listener);
        if (set.size === 0 && accountListeners.get(accountId) === set) accountListeners.delete(accountId);
      };
    },

    /** Calls `listener` for every notice, of any account, before task waiters wake. Returns the function that stops it. */
    onNotice(listener: (notice: EventNotice) => void): () => void {
      noticeListeners.add(listener);
      return () => void noticeListeners.delete(listener);
    },

    /** Calls `listener` as soon as the feed's connection is lost (notices may be missed until `onGap`). Returns the function that stops it. */
    onLost(listener: () => void): () => void {
      lossListeners.add(listener);
      return () => void lossListeners.delete(listener);
    },

    /** Calls `listener` when notices may have been lost: whoever reads on notices reads again. Returns the function that stops it. */
    onGap(listener: () => void): () => void {
      gapListeners.add(listener);
      return () => void gapListeners.delete(listener);
    },

    /**
     * Resolves at the next event of `taskId` (any type: re-read the task), or after `timeoutMs`, or
     * when `signal` aborts, or when notices may have been lost — whichever comes first. Never rejects.
     */
    nextTaskEvent(taskId: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
      return new Promise<void>((resolve) => {
        if (signal?.aborted) return resolve();
        let set = taskWaiters.get(taskId);
        if (!set) taskWaiters.set(taskId, (set = new Set()));
        const done = () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', done);
          const current = taskWaiters.get(taskId);
          current?.delete(done);
          if (current?.size === 0) taskWaiters.delete(taskId);
          resolve();
        };
        const timer = setTimeout(done, timeoutMs);
        signal?.addEventListener('abort', done, { once: true });
        set.add(done);
      });
    },

    /** Stops listening; waiters wake, readers are no longer told. */
    async close(): Promise<void> {
      await unlisten().catch(() => {});
      for (const taskId of [...taskWaiters.keys()]) wakeTask(taskId);
      accountListeners.clear();
      noticeListeners.clear();
      lossListeners.clear();
      gapListeners.clear();
    },
  };
}

export type EventFeed = Awaited<ReturnType<typeof createEventFeed>>;
