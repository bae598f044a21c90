import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { apiClient, devKey, startServe, type ServeProcess } from '../helpers/serve-process.js';
import { waitFor } from '../helpers/wait-for.js';

interface Task { id: string; status: string; progress: number; final_credits: number; reserved_credits: number }
interface LedgerPage { data: { type: string; task_id: string | null; amount: number }[]; next_cursor: string | null }
interface EventPage { data: { id: string; type: string; data: { task: Task } }[]; next_cursor: string | null }

describe('a process killed with kill -9 mid-render', () => {
  let dataDir: string;
  const processes: ServeProcess[] = [];

  afterAll(async () => {
    for (const serve of processes) serve.process.kill('SIGKILL');
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('loses nothing: after restart every task ends and the ledger balances', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'rivya-kill9-'));
    const env = { RIVYA_DATA_DIR: dataDir, RIVYA_LEASE_SECONDS: '4', RIVYA_SWEEP_INTERVAL_MS: '500' };
    const first = await startServe(env);
    processes.push(first);
    const api = apiClient(first.url, await devKey(dataDir));
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const created = await api<Task>('/api/v1/tasks', {
        method: 'POST',
        body: { model: 'sora-2', prompt: `A long render ${i}`, params: { n_frames: 15 } },
      });
      expect(created.status).toBe(201);
      ids.push(created.body.id);
    }
    // Kill it while a render is under way.
    await waitFor(async () => {
      const tasks = await Promise.all(ids.map(async (id) => (await api<Task>(`/api/v1/tasks/${id}`)).body));
      return tasks.some((task) => task.status === 'running' && task.progress > 0);
    }, 60_000, 'a render to be in progress');
    first.process.kill('SIGKILL');
    await first.exited;

    const second = await startServe(env);
    processes.push(second);
    const again = apiClient(second.url, await devKey(dataDir));
    const ended = await waitFor(async () => {
      const tasks = await Promise.all(ids.map(async (id) => (await again<Task>(`/api/v1/tasks/${id}?wait=5`)).body));
      return tasks.every((task) => ['succeeded', 'failed'].includes(task.status)) ? tasks : null;
    }, 150_000, 'every task to end after the restart');

    const account = (await again<{ credits: { balance: number; held: number; available: number } }>('/api/v1/account')).body;
    const charged = ended.reduce((sum, task) => sum + task.final_credits, 0);
    expect(account.credits).toEqual({ balance: 1000 - charged, held: 0, available: 1000 - charged });
    const entries: LedgerPage['data'] = [];
    let cursor: string | null = null;
    do {
      const page: LedgerPage = (await again<LedgerPage>(`/api/v1/account/ledger?limit=100${cursor ? `&cursor=${cursor}` : ''}`)).body;
      entries.push(...page.data);
      cursor = page.next_cursor;
    } while (cursor);
    for (const task of ended) {
      const mine = entries.filter((entry) => entry.task_id === task.id).map((entry) => entry.type).sort();
      expect(mine).toEqual(task.status === 'succeeded' ? ['capture', 'hold'] : ['hold', 'release']);
    }
    // The event log tells each task's life once, across the kill: one start (a resumed task is not
    // started again), one end, and progress that only rises.
    const events: EventPage['data'] = [];
    let after: string | null = null;
    do {
      const page: EventPage = (await again<EventPage>(`/api/v1/events?limit=100${after ? `&after=${after}` : ''}`)).body;
      events.push(...page.data);
      after = page.next_cursor;
    } while (after);
    for (const task of ended) {
      const mine = events.filter((event) => event.data.task.id === task.id);
      expect(mine.map((event) => event.type).filter((type) => type !== 'task.progress')).toEqual(['task.queued', 'task.running', `task.${task.status}`]);
      const progress = mine.filter((event) => event.type === 'task.progress').map((event) => event.data.task.progress);
      expect(progress).toEqual([...progress].sort((a, b) => a - b));
      expect(new Set(progress).size).toBe(progress.length);
    }
    second.process.kill('SIGTERM');
    expect(await second.exited).toBe(0);
    // Two starts, renders and a lease to lapse: its waits allow more than the default test timeout.
  }, 240_000);
});
