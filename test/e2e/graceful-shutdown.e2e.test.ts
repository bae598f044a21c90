import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openEventStream } from '../helpers/event-stream-reader.js';
import { apiClient, devKey, startServe, type ServeProcess } from '../helpers/serve-process.js';
import { waitFor } from '../helpers/wait-for.js';

interface Task { id: string; status: string; progress: number; final_credits: number }

describe('graceful shutdown (SIGTERM)', () => {
  let dataDir: string;
  const processes: ServeProcess[] = [];

  afterAll(async () => {
    for (const serve of processes) serve.process.kill('SIGKILL');
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('answers in-flight requests, exits 0, and the running task resumes after restart', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'rivya-sigterm-'));
    const env = { RIVYA_DATA_DIR: dataDir };
    const first = await startServe(env);
    processes.push(first);
    const api = apiClient(first.url, await devKey(dataDir));
    const created = await api<Task>('/api/v1/tasks', { method: 'POST', body: { model: 'sora-2', prompt: 'Shutdown mid-render', params: { n_frames: 15 } } });
    const id = created.body.id;
    await waitFor(async () => {
      const task = (await api<Task>(`/api/v1/tasks/${id}`)).body;
      return task.status === 'running' && task.progress > 0;
    }, 60_000, 'the render to be in progress');

    // Event streams open at shutdown end cleanly, and hold nothing open.
    const key = await devKey(dataDir);
    const streams = [
      await openEventStream(`${first.url}/api/v1/events`, { authorization: `Bearer ${key}` }),
      await openEventStream(`${first.url}/api/v1/tasks/${id}/events`, { authorization: `Bearer ${key}` }),
    ];
    expect(streams.map((stream) => stream.status)).toEqual([200, 200]);
    await streams[1]!.next((frame) => frame.data !== undefined);

    const started = Date.now();
    const longPoll = api<Task>(`/api/v1/tasks/${id}?wait=30`);
    await new Promise((resolve) => setTimeout(resolve, 200));
    first.process.kill('SIGTERM');
    const answered = await longPoll;
    expect(answered.status).toBe(200);
    expect(answered.body.status).toBe('running');
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(await first.exited).toBe(0);
    await Promise.all(streams.map((stream) => stream.ended));
    expect(streams.map((stream) => stream.error)).toEqual([null, null]);
    expect(Date.now() - started).toBeLessThan(10_000);

    const second = await startServe(env);
    processes.push(second);
    const again = apiClient(second.url, await devKey(dataDir));
    const ended = await waitFor(async () => {
      const task = (await again<Task>(`/api/v1/tasks/${id}?wait=5`)).body;
      return task.status === 'succeeded' ? task : null;
    }, 60_000, 'the task to finish after the restart');
    expect(ended.final_credits).toBe(6);
    const account = (await again<{ credits: Record<string, number> }>('/api/v1/account')).body;
    expect(account.credits).toEqual({ balance: 994, held: 0, available: 994 });
    second.process.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  }, 150_000); // Two real processes and a render; its waits give up on their own, each naming what did not happen.
});
