import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isEvent, openEventStream, type Frame } from '../helpers/event-stream-reader.js';
import { apiClient, devKey, startServe, type ServeProcess } from '../helpers/serve-process.js';
import { waitFor } from '../helpers/wait-for.js';

interface Task { id: string; status: string; progress: number }
interface EventBody { id: string; type: string; data: { task: Task } }

const body = (frame: Frame) => JSON.parse(frame.data!) as EventBody;

describe('event streams of rivya serve (embedded default)', () => {
  let dataDir: string;
  const processes: ServeProcess[] = [];

  afterAll(async () => {
    for (const serve of processes) serve.process.kill('SIGKILL');
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('follows a task from create to succeeded, and loses no event of the account across a restart', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'rivya-sse-'));
    // Short leases: the tasks the killed process was running are resumed within seconds of the restart.
    const env = { RIVYA_DATA_DIR: dataDir, RIVYA_LEASE_SECONDS: '2', RIVYA_SWEEP_INTERVAL_MS: '200' };
    const first = await startServe(env);
    processes.push(first);
    const key = await devKey(dataDir);
    const auth = { authorization: `Bearer ${key}` };
    const api = apiClient(first.url, key);

    // The account's stream, opened before anything happens.
    const account = await openEventStream(`${first.url}/api/v1/events`, auth);
    const start = (await account.next((frame) => frame.id !== undefined && !isEvent(frame))).id!;

    // One task, followed over its own stream from its creation to its end.
    const created = (await api<Task>('/api/v1/tasks', { method: 'POST', body: { model: 'sora-2', prompt: 'A lighthouse in a storm', params: { n_frames: 10 } } })).body;
    const followed = await openEventStream(`${first.url}/api/v1/tasks/${created.id}/events`, auth);
    await followed.ended;
    const types = followed.events().map((frame) => frame.event);
    expect(types[0]).toMatch(/^task\.(queued|running)$/);
    expect(types.at(-1)).toBe('task.succeeded');
    // queued → running → progress… → succeeded, in that order, each transition once.
    const order: (string | undefined)[] = ['task.queued', 'task.running', 'task.progress', 'task.succeeded'];
    expect(types.map((type) => order.indexOf(type))).toEqual([...types.map((type) => order.indexOf(type))].sort((a, b) => a - b));
    expect(types.filter((type) => type === 'task.progress').length).toBeGreaterThan(0);
    const progress = followed.events().filter((frame) => frame.event === 'task.progress').map((frame) => body(frame).data.task.progress);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    expect(body(followed.events().at(-1)!).data.task.status).toBe('succeeded');

    // The account's stream saw the same task's events, and more tasks run while it is cut by a restart.
    await waitFor(() => account.events().some((frame) => frame.event === 'task.succeeded'), 30_000, 'the end on the account stream');
    const more: string[] = [];
    for (let i = 0; i < 2; i++) {
      more.push((await api<Task>('/api/v1/tasks', { method: 'POST', body: { model: 'sora-2', prompt: `Across a restart ${i}`, params: { n_frames: 10 } } })).body.id);
    }
    await waitFor(() => account.events().some((frame) => more.includes(body(frame).data.task.id)), 30_000, 'an event of the next tasks');
    const seen = account.events();
    const last = seen.at(-1)!.id!;
    first.process.kill('SIGKILL');
    await first.exited;
    account.close();

    const second = await startServe(env);
    processes.push(second);
    const resumed = await openEventStream(`${second.url}/api/v1/events`, { ...auth, 'last-event-id': last });
    const endedIn = (frames: Frame[]) => frames.filter((frame) => frame.event === 'task.succeeded' || frame.event === 'task.failed').map((frame) => body(frame).data.task.id);
    await waitFor(() => more.every((id) => [...endedIn(seen), ...endedIn(resumed.events())].includes(id)), 120_000, 'the tasks to end after the restart');
    resumed.close();

    // What the stream gave before and after the restart is the log, in order, each event once.
    const streamed = [...seen, ...resumed.events()].map((frame) => frame.id);
    const everything = await openEventStream(`${second.url}/api/v1/events`, { ...auth, 'last-event-id': start });
    await waitFor(() => everything.events().length >= streamed.length, 10_000, 'the whole log');
    await new Promise((resolve) => setTimeout(resolve, 200));
    everything.close();
    expect(new Set(streamed).size).toBe(streamed.length);
    expect(streamed).toEqual(everything.events().map((frame) => frame.id));
    second.process.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  }, 240_000);
});
