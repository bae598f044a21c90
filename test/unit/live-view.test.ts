import { describe, expect, it } from 'vitest';
import type { Account, AtPosition, TaskRecord } from '../../src/domain.js';
import type { EventNotice } from '../../src/events/event-feed.js';
import type { EventRecord } from '../../src/events/event-log.js';
import { createLiveView, taskEntryBytes } from '../../src/events/live-view.js';
import { presentUnfinishedTask, type TaskView } from '../../src/tasks/present-task.js';

/** A feed whose notices, losses and reconnects the test sends by hand. */
function handFeed() {
  const notices = new Set<(notice: EventNotice) => void>();
  const losses = new Set<() => void>();
  const gaps = new Set<() => void>();
  const on = <T>(set: Set<T>) => (listener: T) => {
    set.add(listener);
    return () => void set.delete(listener);
  };
  return {
    feed: { onNotice: on(notices), onLost: on(losses), onGap: on(gaps) },
    notice: (accountId: string, seq: number, taskId: string | null = null) => {
      for (const listener of notices) listener({ accountId, seq, taskId });
    },
    lose: () => losses.forEach((listener) => listener()),
    reconnect: () => gaps.forEach((listener) => listener()),
  };
}

const at = new Date('2026-11-29T00:00:00.000Z');
function task(overrides: Partial<TaskRecord> = {}): TaskRecord {
  return {
    id: 'task_1', accountId: 'acct_1', model: 'sora-2', prompt: 'A fox', params: { n_frames: '10' }, referenceFiles: [],
    clientRequestId: null, status: 'running', progress: 0, reservedCredits: 6, finalCredits: 0, result: null, error: null,
    provider: null, upstreamId: null, submittedAt: null, upstreamHint: null, attempts: 1, webhookUrl: null, webhookEvents: 'terminal',
    deadlineAt: at, createdAt: at, updatedAt: at, changedAt: at, startedAt: at, completedAt: null, ...overrides,
  };
}
const account = (balance: number): Account => ({
  id: 'acct_1', name: 'test', balance, held: 6, activeTasks: 1, limits: { creates_per_minute: 60, requests_per_minute: 1200, active_tasks: 20 }, createdAt: at,
});
const event = (seq: number, type: EventRecord['type'], record: TaskRecord): EventRecord => ({
  id: `evt_${String(seq).padStart(12, '0')}AAAAAAAAAA`, accountId: record.accountId, seq, type, taskId: record.id, task: record, createdAt: at,
});

/** A database read of `record` whose snapshot saw `position`, as the task service makes it. */
const readOf = (record: TaskRecord | null, position: number) => async () => ({
  value: record ? presentUnfinishedTask(record) : null,
  position,
});

describe('live view', () => {
  it('answers a poll only when current through what the client has seen', async () => {
    const { feed, notice } = handFeed();
    const view = createLiveView(feed);
    expect(view.task('acct_1', 'task_1', 0)).toBeNull();
    await view.readTask('acct_1', 'task_1', readOf(task({ progress: 10 }), 5));
    expect(view.task('acct_1', 'task_1', 5)).toMatchObject({ value: { progress: 10 }, position: 5 });
    // The client has seen position 6 (a change elsewhere in its account): not yet heard here.
    expect(view.task('acct_1', 'task_1', 6)).toBeNull();
    // Heard now, about another task: this one did not change up to 7.
    notice('acct_1', 6, 'task_2');
    notice('acct_1', 7, null);
    expect(view.task('acct_1', 'task_1', 6)).toMatchObject({ value: { progress: 10 }, position: 7 });
    // Another account's key gets nothing, whatever it has seen.
    expect(view.task('acct_2', 'task_1', 0)).toBeNull();
  });

  it('drops a task a notice may have changed, but not for a notice its read already saw', async () => {
    const { feed, notice } = handFeed();
    const view = createLiveView(feed);
    await view.readTask('acct_1', 'task_1', readOf(task(), 5));
    notice('acct_1', 4, 'task_1');
    notice('acct_1', 5, 'task_1');
    expect(view.task('acct_1', 'task_1', 0)).not.toBeNull();
    notice('acct_1', 6, 'task_1');
    expect(view.task('acct_1', 'task_1', 0)).toBeNull();
  });

  it('keeps nothing from a read that a notice after its snapshot raced, nor an ended task', async () => {
    const { feed, notice } = handFeed();
    const view = createLiveView(feed);
    // The task changed at 6 after the read's snapshot (5); its notice came while the read ran.
    const raced = await view.readTask('acct_1', 'task_1', async () => {
      notice('acct_1', 6, 'task_1');
      return readOf(task(), 5)();
    });
    expect(raced.value?.status).toBe('running');
    expect(view.task('acct_1', 'task_1', 0)).toBeNull();
    await view.readTask('acct_1', 'task_1', readOf(task({ status: 'failed', completedAt: at }), 7));
    expect(view.task('acct_1', 'task_1', 0)).toBeNull();
    expect(view.size().tasks).toBe(0);
  });

  it('keeps nothing from a read that a change this process committed meanwhile raced (its notice yet to come)', async () => {
    const { feed } = handFeed();
    const view = createLiveView(feed);
    await view.readTask('acct_1', 'task_1', async () => {
      view.committed(event(6, 'task.canceled', task({ status: 'canceled' })));
      return readOf(task(), 5)();
    });
    await view.readAccount('acct_1', async () => {
      view.accountChanged('acct_1', 7);
      return { value: account(100), position: 6 };
    });
    expect(view.size().tasks).toBe(0);
    expect(view.account('acct_1', 0)).toBeNull();
  });

  it('serves nothing while its feed is cut, and keeps nothing read before it came back', async () => {
    const { feed, lose, reconnect } = handFeed();
    const view = createLiveView(feed);
    await view.readTask('acct_1', 'task_1', readOf(task(), 5));
    await view.readAccount('acct_1', async () => ({ value: account(100), position: 5 }));
    lose();
    expect(view.task('acct_1', 'task_1', 0)).toBeNull();
    expect(view.account('acct_1', 0)).toBeNull();
    await view.readTask('acct_1', 'task_1', readOf(task(), 6));
    expect(view.size().tasks).toBe(0);
    // A read that started while cut and ends after the reconnect is not kept either.
    let finish = () => {};
    const slow = view.readTask('acct_1', 'task_1', () => new Promise<AtPosition<TaskView | null>>((resolve) => {
      finish = () => resolve({ value: presentUnfinishedTask(task()), position: 6 });
    }));
    reconnect();
    finish();
    await slow;
    expect(view.task('acct_1', 'task_1', 0)).toBeNull();
    await view.readTask('acct_1', 'task_1', readOf(task(), 8));
    expect(view.task('acct_1', 'task_1', 8)).not.toBeNull();
  });

  it('applies the events this process commits to what it holds, and adds nothing', async () => {
    const { feed } = handFeed();
    const view = createLiveView(feed);
    view.committed(event(3, 'task.running', task({ id: 'task_2' })));
    expect(view.size().tasks).toBe(0);
    await view.readTask('acct_1', 'task_1', readOf(task({ progress: 10 }), 5));
    view.committed(event(5, 'task.progress', task({ progress: 99 })));
    expect(view.task('acct_1', 'task_1', 0)?.value.progress).toBe(10);
    view.committed(event(6, 'task.progress', task({ progress: 40 })));
    expect(view.task('acct_1', 'task_1', 6)).toMatchObject({ value: { progress: 40 }, position: 6 });
    view.committed(event(7, 'task.failed', task({ status: 'failed', completedAt: at })));
    expect(view.task('acct_1', 'task_1', 0)).toBeNull();
  });

  it('keeps an account’s credits through changes that leave them, and drops them for any other', async () => {
    const { feed, notice } = handFeed();
    const view = createLiveView(feed);
    await view.readAccount('acct_1', async () => ({ value: account(100), position: 5 }));
    expect(view.account('acct_1', 5)).toMatchObject({ value: { balance: 100 }, position: 5 });
    expect(view.account('acct_1', 6)).toBeNull();
    view.committed(event(6, 'task.progress', task()));
    expect(view.account('acct_1', 6)?.position).toBe(6);
    // Not the next position: a change in between (maybe a settlement) is not known here yet.
    view.committed(event(8, 'task.running', task()));
    expect(view.account('acct_1', 0)).toBeNull();
    await view.readAccount('acct_1', async () => ({ value: account(94), position: 9 }));
    view.committed(event(10, 'task.succeeded', task({ status: 'succeeded' })));
    expect(view.account('acct_1', 0)).toBeNull();
    await view.readAccount('acct_1', async () => ({ value: account(94), position: 10 }));
    notice('acct_1', 11, null);
    expect(view.account('acct_1', 0)).toBeNull();
  });

  it('keeps the later of two overlapping reads, whichever ends last', async () => {
    const { feed } = handFeed();
    const view = createLiveView(feed);
    let finishEarlier = () => {};
    const earlier = view.readTask('acct_1', 'task_1', () => new Promise<AtPosition<TaskView | null>>((resolve) => {
      finishEarlier = () => resolve({ value: presentUnfinishedTask(task({ progress: 10 })), position: 5 });
    }));
    await view.readTask('acct_1', 'task_1', readOf(task({ progress: 20 }), 6));
    finishEarlier();
    await earlier;
    expect(view.task('acct_1', 'task_1', 0)).toMatchObject({ value: { progress: 20 }, position: 6 });
  });

  it('holds nothing in a process that answers no polls', async () => {
    const view = createLiveView(null);
    await view.readTask('acct_1', 'task_1', readOf(task(), 5));
    await view.readAccount('acct_1', async () => ({ value: account(100), position: 5 }));
    expect(view.size()).toEqual({ tasks: 0, taskBytes: 0, accounts: 0 });
  });

  it('holds at most its byte budget, the least recently polled going first', async () => {
    const { feed } = handFeed();
    const one = taskEntryBytes(presentUnfinishedTask(task()));
    const view = createLiveView(feed, { maxTaskBytes: one * 3 });
    for (const id of ['task_1', 'task_2', 'task_3']) await view.readTask('acct_1', id, readOf(task({ id }), 1));
    expect(view.task('acct_1', 'task_1', 0)).not.toBeNull();
    await view.readTask('acct_1', 'task_4', readOf(task({ id: 'task_4' }), 1));
    expect(view.size()).toMatchObject({ tasks: 3, taskBytes: one * 3 });
    expect(view.task('acct_1', 'task_2', 0)).toBeNull();
    expect(view.task('acct_1', 'task_1', 0)).not.toBeNull();
  });
});
