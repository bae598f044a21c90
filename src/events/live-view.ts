import { isTerminal, type Account, type AtPosition } from '../domain.js';
import { LruCache, SizedLruCache } from '../lru-cache.js';
import { presentUnfinishedTask, type TaskView } from '../tasks/present-task.js';
import type { EventFeed, EventNotice } from './event-feed.js';
import type { EventRecord } from './event-log.js';

interface TaskEntry {
  accountId: string;
  view: TaskView;
  /** The position the view was read or written at. */
  asOf: number;
}

interface AccountState {
  /** The highest seq announced for the account since the view last (re)started: every earlier one was heard too. */
  heard: number;
  credits: { account: Account; asOf: number } | null;
}

/** A database read in flight, and the highest seq announced for its account since it started. */
interface Read {
  generation: number;
  announced: number;
}

export interface LiveViewOptions {
  /** What the tasks held may weigh in all (see `taskEntryBytes`); default 96 MiB, about 100,000 tasks with prompts of a few hundred characters. */
  maxTaskBytes?: number;
  /** Accounts whose position and credits are held; default 20,000 (about 12 MB, outside the tasks' budget). */
  maxAccounts?: number;
}

/**
 * What a held task costs besides the length of its Task object's JSON (the objects and their
 * strings' headers, less the JSON's keys and quotes, which cost nothing per task): measured by
 * `npm run bench:view-memory` at 105–110 bytes for prompts of 30 to 2,000 characters.
 */
export const TASK_ENTRY_OVERHEAD_BYTES = 128;

/** The weight a task's entry is counted at: close to its heap cost (its Task object's JSON, plus the fixed overhead). */
export function taskEntryBytes(view: TaskView): number {
  return JSON.stringify(view).length + TASK_ENTRY_OVERHEAD_BYTES;
}

/**
 * Unfinished tasks and accounts' credits as every API process last heard of them, so that polls
 * are answered without the database, and never older than what the client proves it has seen.
 *
 * Kept current by the event feed: every change to a task's Task object or to an account's credits
 * is an event or a position of the account's log (migration 0012), announced to every process at
 * commit, in seq order per account. A notice drops what it may have changed; the next read of it
 * goes to the database and puts it back. Changes this process commits itself are applied at once.
 *
 * Keeps, for each account: `heard` — every notice up to it has been applied; and for each entry,
 * `asOf` — the position its value was read at. An entry is current through max(asOf, heard): a
 * notice after `asOf` that may concern it has dropped it. So a request that has seen position p is
 * answered from the view only when that is at least p. A database read fills the view only if no
 * notice after its snapshot came while it ran (a notice about it would have found nothing to drop).
 * When the feed's connection is lost, the view empties and stays empty until it is back, since
 * notices may be lost in between.
 */
export function createLiveView(
  /** null: a process that answers no polls (a worker), which holds nothing and is told nothing. */
  feed: Pick<EventFeed, 'onNotice' | 'onLost' | 'onGap'> | null,
  options: LiveViewOptions = {},
) {
  const tasks = new SizedLruCache<string, TaskEntry>(options.maxTaskBytes ?? 96 * 1024 * 1024, (entry) => taskEntryBytes(entry.view));
  const accounts = new LruCache<string, AccountState>(options.maxAccounts ?? 20_000, Number.POSITIVE_INFINITY);
  const reads = new Map<string, Set<Read>>();
  /** Reads answered from the view, and from the database, since the start. */
  const answered = { task: { memory: 0, database: 0 }, account: { memory: 0, database: 0 } };
  /** False while the feed is cut: nothing is served or kept. */
  let up = feed !== null;
  /** Bumped when the feed is cut or back: reads that started before may not fill the view. */
  let generation = 0;

  const stateOf = (accountId: string): AccountState => {
    let state = accounts.get(accountId);
    if (!state) accounts.set(accountId, (state = { heard: 0, credits: null }));
    return state;
  };
  const heardFor = (accountId: string): number => accounts.get(accountId)?.heard ?? 0;

  const reset = (nowUp: boolean) => {
    up = nowUp;
    generation++;
    tasks.clear();
    accounts.clear();
    reads.clear();
  };

  /** A change at `seq` is known here: a read of the account in flight may have missed it. */
  const raceReads = (accountId: string, seq: number) => {
    for (const read of reads.get(accountId) ?? []) read.announced = Math.max(read.announced, seq);
  };

  const onNotice = (notice: EventNotice) => {
    if (!up) return;
    raceReads(notice.accountId, notice.seq);
    const state = stateOf(notice.accountId);
    state.heard = Math.max(state.heard, notice.seq);
    // Which change it was is not said: any of the task's or the account's may have moved.
    if (state.credits && state.credits.asOf < notice.seq) state.credits = null;
    if (!notice.taskId) return;
    const entry = tasks.peek(notice.taskId);
    if (entry && entry.asOf < notice.seq) tasks.delete(notice.taskId);
  };

  const stops = feed ? [feed.onNotice(onNotice), feed.onLost(() => reset(false)), feed.onGap(() => reset(true))] : [];

  /** Starts a database read of `accountId`'s state: its result may fill the view only through `fill`. */
  const begin = (accountId: string) => {
    const read: Read = { generation, announced: 0 };
    let set = reads.get(accountId);
    if (!set) reads.set(accountId, (set = new Set()));
    set.add(read);
    const end = () => {
      set.delete(read);
      if (set.size === 0 && reads.get(accountId) === set) reads.delete(accountId);
    };
    /** Whether what the read saw at `position` may be kept: nothing after its snapshot was announced meanwhile. */
    const keepable = (position: number) => up && read.generation === generation && read.announced <= position;
    return { end, keepable };
  };

  return {
    /** The unfinished task as held, if it is current through what the client has seen (`seen`); else null. */
    task(accountId: string, taskId: string, seen: number): AtPosition<TaskView> | null {
      if (!up) return null;
      const entry = tasks.get(taskId);
      if (!entry || entry.accountId !== accountId) return null;
      const position = Math.max(entry.asOf, heardFor(accountId));
      if (position < seen) return null;
      answered.task.memory++;
      return { value: entry.view, position };
    },

    /** The account as held (its credits), if current through `seen`; else null. */
    account(accountId: string, seen: number): AtPosition<Account> | null {
      if (!up) return null;
      const state = accounts.get(accountId);
      if (!state?.credits) return null;
      const position = Math.max(state.credits.asOf, state.heard);
      if (position < seen) return null;
      answered.account.memory++;
      return { value: state.credits.account, position };
    },

    /**
     * Reads a task from the database through `read` (which returns it with the position of the
     * account's log its snapshot saw) and keeps it if it is unfinished and nothing raced the read.
     */
    async readTask(accountId: string, taskId: string, read: () => Promise<AtPosition<TaskView | null>>): Promise<AtPosition<TaskView | null>> {
      answered.task.database++;
      const started = begin(accountId);
      try {
        const result = await read();
        const view = result.value;
        // An overlapping read may have kept a later state already.
        const kept = tasks.peek(taskId);
        if (view && !isTerminal(view.status) && started.keepable(result.position) && !(kept && kept.asOf > result.position)) {
          tasks.set(taskId, { accountId, view, asOf: result.position });
        }
        return result;
      } finally {
        started.end();
      }
    },

    /** Reads an account from the database through `read`, keeping it as `readTask` keeps a task. */
    async readAccount(accountId: string, read: () => Promise<AtPosition<Account | null>>): Promise<AtPosition<Account | null>> {
      answered.account.database++;
      const started = begin(accountId);
      try {
        const result = await read();
        if (result.value && started.keepable(result.position)) {
          const state = stateOf(accountId);
          if (!state.credits || state.credits.asOf < result.position) state.credits = { account: result.value, asOf: result.position };
        }
        return result;
      } finally {
        started.end();
      }
    },

    /**
     * An event this process committed, applied at once (its notice may come later): a held task
     * takes the state the event carries, and the account's credits stay held only through changes
     * that leave them as they were (a start, progress). Nothing new is added: a task not held may
     * have moved on already, announced by a notice that found nothing to drop.
     */
    committed(event: EventRecord): void {
      if (!up || !event.task) return;
      raceReads(event.accountId, event.seq);
      const entry = tasks.peek(event.task.id);
      if (entry && entry.asOf < event.seq) {
        if (isTerminal(event.task.status)) tasks.delete(event.task.id);
        else tasks.set(event.task.id, { accountId: entry.accountId, view: presentUnfinishedTask(event.task), asOf: event.seq });
      }
      const credits = accounts.get(event.accountId)?.credits;
      if (!credits || credits.asOf >= event.seq) return;
      const state = stateOf(event.accountId);
      const creditsUnchanged = event.type === 'task.running' || event.type === 'task.progress';
      state.credits = creditsUnchanged && credits.asOf === event.seq - 1 ? { ...credits, asOf: event.seq } : null;
    },

    /** A change to the account's credits or limits this process committed at `position`: what is held of it goes at once. */
    accountChanged(accountId: string, position: number): void {
      raceReads(accountId, position);
      const state = accounts.get(accountId);
      if (state?.credits && state.credits.asOf < position) state.credits = null;
    },

    /** What the view holds now. */
    size(): { tasks: number; taskBytes: number; accounts: number } {
      return { tasks: tasks.size, taskBytes: tasks.weight, accounts: accounts.size };
    },

    /** Reads of tasks and of accounts answered from the view (`memory`) and from the database, since the start. */
    reads(): Record<'task' | 'account', Record<'memory' | 'database', number>> {
      return { task: { ...answered.task }, account: { ...answered.account } };
    },

    close(): void {
      for (const stop of stops) stop();
      reset(false);
    },
  };
}

export type LiveView = ReturnType<typeof createLiveView>;
