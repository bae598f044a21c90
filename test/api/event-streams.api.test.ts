import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendEvent, type EventRecord } from '../../src/events/event-log.js';
import { toTask, type TaskRow } from '../../src/tasks/task-row.js';
import { BACKENDS } from '../helpers/backends.js';
import { isEvent, openEventStream, type OpenEventStream } from '../helpers/event-stream-reader.js';
import { createGatedProvider } from '../helpers/gated-provider.js';
import { startTestService, type TestService } from '../helpers/test-service.js';
import { waitFor } from '../helpers/wait-for.js';

const START_OF_LOG = 'evt_0000000000000000000000';

describe.each(BACKENDS)('event streams (SSE) on $name', (backend) => {
  const gated = createGatedProvider();
  let service: TestService;
  let base: string;
  const opened: OpenEventStream[] = [];

  beforeAll(async () => {
    service = await startTestService(backend, {
      provider: gated.provider,
      listen: true,
      env: { RIVYA_SSE_HEARTBEAT_MS: '200', RIVYA_MAX_STREAMS_PER_KEY: '3' },
    });
    base = service.runtime.config.publicUrl;
  });
  afterAll(async () => {
    for (const stream of opened) stream.close();
    gated.releaseAll();
    await service?.close();
  });

  const open = async (path: string, auth: Record<string, string>, headers: Record<string, string> = {}) => {
    const stream = await openEventStream(`${base}${path}`, { ...auth, ...headers });
    opened.push(stream);
    return stream;
  };
  /** Appends a `webhook.test` event to the account's log (task events come from the tasks' lifecycle). */
  const append = async (accountId: string): Promise<EventRecord> =>
    service.runtime.db.transaction((tx) => appendEvent(tx, { accountId, type: 'webhook.test', task: null }));
  const createTask = async (auth: Record<string, string>) => {
    const response = await fetch(`${base}/api/v1/tasks`, {
      method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'sora-2', prompt: 'a stream' }),
    });
    expect(response.status).toBe(201);
    return (await response.json()) as { id: string; status: string };
  };
  const ids = (stream: OpenEventStream) => stream.events().map((event) => event.id);
  const latestEventId = async (accountId: string) =>
    (await service.runtime.db.query<{ id: string }>('SELECT id FROM events WHERE account_id = $1 ORDER BY seq DESC LIMIT 1', [accountId])).rows[0]?.id;

  it('streams the account’s events as they commit, after a first frame whose id is where it starts', async () => {
    const { accountId, auth } = await service.newAccount(100);
    const stream = await open('/api/v1/events', auth);
    expect(stream.status).toBe(200);
    expect(stream.response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(stream.response.headers.get('cache-control')).toBe('no-cache');
    expect(stream.response.headers.get('x-accel-buffering')).toBe('no');
    expect(stream.response.headers.get('x-request-id')).toMatch(/^req_/);
    expect(stream.response.headers.get('content-encoding')).toBeNull();
    // Opening it took one request of the key's budget.
    expect(stream.response.headers.get('ratelimit-remaining')).toBe(String(Number(stream.response.headers.get('ratelimit-limit')) - 1));
    expect(await stream.next()).toEqual({ retry: '2000' });
    // An empty log: the stream starts before its first event.
    expect(await stream.next()).toEqual({ id: START_OF_LOG });

    const test = await append(accountId);
    const frame = await stream.next(isEvent);
    expect(frame).toMatchObject({ id: test.id, event: 'webhook.test' });
    expect(JSON.parse(frame.data!)).toEqual({ id: test.id, type: 'webhook.test', created_at: test.createdAt.toISOString(), data: {} });

    // A task's events, as its lifecycle writes them.
    const task = await createTask(auth);
    const queued = await stream.next(isEvent);
    expect(queued.event).toBe('task.queued');
    const body = JSON.parse(queued.data!) as { id: string; data: { task: Record<string, unknown> } };
    expect(queued.id).toBe(body.id);
    // The task as the API presents it, not as it is stored.
    expect(body.data.task).toMatchObject({ id: task.id, status: 'queued', model: 'sora-2', prompt: 'a stream', reserved_credits: 6 });
    expect(body.data.task).not.toHaveProperty('accountId');
    expect(Object.keys(body.data.task).sort()).toEqual(Object.keys(task).sort());

    // A second stream starts after the latest event: its first frame names it — or, while the
    // account's shared read has not yet read the newest commit, the one before it, which the stream
    // then delivers (nothing missed either way).
    await waitFor(() => gated.waiting.has(task.id), 10_000, 'the task to start');
    const latest = await latestEventId(accountId);
    const later = await open('/api/v1/events', auth);
    const start = await later.next((f) => f.id !== undefined);
    if (start.id !== latest) {
      expect(start.id! < latest!).toBe(true);
      expect((await later.next(isEvent)).id).toBe(latest);
    }
    gated.release(task.id);
  });

  it('resumes from Last-Event-ID or ?after=: nothing missed, nothing twice', async () => {
    const { accountId, auth } = await service.newAccount(100);
    const first = await open('/api/v1/events', auth);
    const start = (await first.next((f) => f.id !== undefined && !isEvent(f))).id!;
    first.close();
    // Appended while no stream was open: resuming from the first frame's id finds it.
    const e1 = await append(accountId);
    const second = await open('/api/v1/events', auth, { 'last-event-id': start });
    await second.next(isEvent);
    expect(ids(second)).toEqual([e1.id]);
    second.close();

    const missed = [await append(accountId), await append(accountId)];
    const resumed = await open('/api/v1/events', auth, { 'last-event-id': e1.id });
    await waitFor(() => resumed.events().length === 2, 5000, 'the missed events');
    const live = await append(accountId);
    await waitFor(() => resumed.events().length === 3, 5000, 'the live event');
    expect(ids(resumed)).toEqual([...missed, live].map((event) => event.id));

    // ?after= the same; Last-Event-ID wins over it (an EventSource reconnecting keeps its URL).
    const after = await open(`/api/v1/events?after=${e1.id}`, auth);
    await waitFor(() => after.events().length === 3, 5000, 'the events after e1');
    expect(ids(after)).toEqual(ids(resumed));
    const both = await open(`/api/v1/events?after=${e1.id}`, auth, { 'last-event-id': missed[1]!.id });
    await waitFor(() => both.events().length === 1, 5000, 'the events after the header’s id');
    expect(ids(both)).toEqual([live.id]);
    for (const stream of [resumed, after, both]) stream.close();
  });

  it('reads a long backlog in pages, in order, then goes on live', async () => {
    const { accountId, auth } = await service.newAccount(100);
    const events: EventRecord[] = [];
    await service.runtime.db.transaction(async (tx) => {
      for (let i = 0; i < 1200; i++) events.push(await appendEvent(tx, { accountId, type: 'webhook.test', task: null }));
    });
    const stream = await open(`/api/v1/events?after=${START_OF_LOG}`, auth);
    await waitFor(() => stream.events().length === 1200, 10_000, 'the backlog');
    const live = await append(accountId);
    await waitFor(() => stream.events().length === 1201, 5000, 'the live event');
    expect(ids(stream)).toEqual([...events, live].map((event) => event.id));
    stream.close();
  });

  it('sends a backlog far larger than a stream’s buffer bound as fast as the client reads it, without dropping it', async () => {
    const { accountId, auth } = await service.newAccount(100);
    const created = await fetch(`${base}/api/v1/tasks`, {
      method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'sora-2', prompt: 'a long prompt '.repeat(140) }),
    });
    const { id } = (await created.json()) as { id: string };
    const { rows } = await service.runtime.db.query<TaskRow>('SELECT * FROM tasks WHERE id = $1', [id]);
    const task = toTask(rows[0]!);
    // About 2.5 KB a frame: a page of the backlog alone is several times the 256 KiB a stream may hold unread.
    const backlog: EventRecord[] = [];
    await service.runtime.db.transaction(async (tx) => {
      for (let i = 0; i < 600; i++) backlog.push(await appendEvent(tx, { accountId, type: 'task.progress', task }));
    });
    const stream = await open(`/api/v1/events?types=task.progress&after=${START_OF_LOG}`, auth);
    expect(stream.status).toBe(200);
    // (The task's own progress, from its run, may come too.)
    const mine = new Set(backlog.map((event) => event.id));
    const received = () => ids(stream).filter((received) => mine.has(received!));
    await waitFor(() => received().length === 600 || stream.done, 20_000, 'the backlog');
    expect(stream.done).toBe(false);
    expect(received()).toEqual(backlog.map((event) => event.id));
    stream.close();
    await waitFor(() => gated.waiting.has(id), 10_000, 'the task to start');
    gated.release(id);
  });

  it('sends only the types asked for, and refuses unknown ones', async () => {
    const { accountId, auth } = await service.newAccount(100);
    const stream = await open('/api/v1/events?types=task.queued,webhook.test', auth);
    await stream.next((f) => f.id !== undefined);
    const task = await createTask(auth);
    // Its task.running (and progress) are not asked for.
    await waitFor(() => gated.waiting.has(task.id), 10_000, 'the task to start');
    const test = await append(accountId);
    await waitFor(() => stream.events().length === 2, 5000, 'the matching events');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(stream.events().map((event) => event.event)).toEqual(['task.queued', 'webhook.test']);
    expect(stream.events()[1]?.id).toBe(test.id);
    stream.close();
    gated.release(task.id);

    const bad = await fetch(`${base}/api/v1/events?types=task.done,webhook.test`, { headers: { ...auth, accept: 'text/event-stream' } });
    expect(bad.status).toBe(400);
    const error = ((await bad.json()) as { error: { code: string; details: { path: string }[] } }).error;
    expect(error.code).toBe('validation_failed');
    expect(error.details[0]?.path).toBe('types');
  });

  it('never shows another account’s events, nor resumes from a position its log has not reached', async () => {
    const mine = await service.newAccount(100);
    const theirs = await service.newAccount(100);
    const stream = await open('/api/v1/events', mine.auth);
    await stream.next((f) => f.id !== undefined);
    for (let i = 0; i < 3; i++) await append(theirs.accountId);
    const own = await append(mine.accountId);
    await stream.next(isEvent);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(ids(stream)).toEqual([own.id]);
    stream.close();

    const foreign = await append(theirs.accountId);
    for (const [headers, path, name] of [
      [{ 'last-event-id': foreign.id }, '/api/v1/events', 'Last-Event-ID'],
      [{}, `/api/v1/events?after=${foreign.id}`, 'after'],
      [{ 'last-event-id': 'evt_bogus' }, '/api/v1/events', 'Last-Event-ID'],
    ] as const) {
      const response = await fetch(`${base}${path}`, { headers: { ...mine.auth, accept: 'text/event-stream', ...headers } });
      expect(response.status).toBe(400);
      const error = ((await response.json()) as { error: { code: string; details: { path: string }[] } }).error;
      expect(error).toMatchObject({ code: 'validation_failed', details: [{ path: name }] });
    }
  });

  it('resumes a quiet stream whose last event was swept meanwhile, but refuses a resume that would skip swept events', async () => {
    const { accountId, auth } = await service.newAccount(100);
    // As the sweeper does, once they are older than the retention.
    const sweep = async (...events: EventRecord[]) => {
      await service.runtime.db.query("UPDATE events SET created_at = now() - interval '8 days' WHERE id = ANY ($1)", [events.map((event) => event.id)]);
      expect(await service.runtime.eventLog.purgeOlderThan(7 * 86_400)).toBe(events.length);
    };
    const e1 = await append(accountId);
    const first = await open('/api/v1/events', auth);
    expect(await first.next((f) => f.id !== undefined)).toEqual({ id: e1.id });
    first.close();
    // Nothing happened on the account for the retention period: its last event is swept, and the
    // stream (ended at its max duration) reconnects from it. Nothing came after it: nothing is missed.
    await sweep(e1);
    const resumed = await open('/api/v1/events', auth, { 'last-event-id': e1.id });
    expect(resumed.status).toBe(200);
    const e2 = await append(accountId);
    expect((await resumed.next(isEvent)).id).toBe(e2.id);
    resumed.close();

    // The swept event was followed by others, swept too: resuming from it would skip them.
    const [e3, e4] = [await append(accountId), await append(accountId)];
    await sweep(e2, e3);
    const gap = await fetch(`${base}/api/v1/events`, { headers: { ...auth, accept: 'text/event-stream', 'last-event-id': e2.id } });
    expect(gap.status).toBe(400);
    expect(((await gap.json()) as { error: { details: unknown } }).error.details).toEqual([{ path: 'Last-Event-ID', message: expect.stringContaining('older than') }]);
    // From the last one swept, the log is whole.
    const whole = await open(`/api/v1/events?after=${e3.id}`, auth);
    expect((await whole.next(isEvent)).id).toBe(e4.id);
    whole.close();
  });

  it('moves a filtered stream’s position past the events it skips, so its client never resumes from a swept one', async () => {
    const { accountId, auth } = await service.newAccount(100);
    const wanted = await append(accountId);
    // Only task.failed: every event of this account is skipped, live or read from the log.
    const live = await open('/api/v1/events?types=task.failed', auth);
    expect(await live.next((f) => f.id !== undefined)).toEqual({ id: wanted.id });
    const skipped = [await append(accountId), await append(accountId)];
    // The next heartbeat carries the position reached, as a bare id (no event).
    expect(await live.next((f) => f.id !== undefined, 3000)).toEqual({ id: skipped[1]!.id, comment: 'heartbeat' });
    // Once given, not repeated.
    await live.next((f) => f.comment !== undefined, 3000);
    expect(await live.next((f) => f.comment !== undefined, 3000)).toEqual({ comment: 'heartbeat' });
    live.close();

    const caughtUp = await open(`/api/v1/events?types=task.failed&after=${wanted.id}`, auth);
    expect(await caughtUp.next((f) => f.id !== undefined, 3000)).toEqual({ id: skipped[1]!.id, comment: 'heartbeat' });
    caughtUp.close();
    // Resuming from it works once everything up to it is swept; from the client's older id it could not.
    await service.runtime.db.query("UPDATE events SET created_at = now() - interval '8 days' WHERE account_id = $1", [accountId]);
    expect(await service.runtime.eventLog.purgeOlderThan(7 * 86_400)).toBe(3);
    const resumed = await open('/api/v1/events?types=task.failed', auth, { 'last-event-id': skipped[1]!.id });
    expect(resumed.status).toBe(200);
    resumed.close();
  });

  it('answers 204 to a resumed stream of an ended task whose events were swept (no stream left open for ever)', async () => {
    const { auth } = await service.newAccount(100);
    const task = await createTask(auth);
    await waitFor(() => gated.waiting.has(task.id), 10_000, 'the task to start');
    gated.release(task.id);
    await waitFor(async () => ((await (await fetch(`${base}/api/v1/tasks/${task.id}`, { headers: auth })).json()) as { status: string }).status === 'succeeded', 10_000, 'the task to end');
    await service.runtime.db.query('DELETE FROM events WHERE task_id = $1', [task.id]);
    const stream = await open(`/api/v1/tasks/${task.id}/events`, auth);
    await stream.ended;
    const [state] = stream.events();
    expect(state?.event).toBe('task.succeeded');
    // What an EventSource does next: reconnect with the id it was given.
    const resumed = await fetch(`${base}/api/v1/tasks/${task.id}/events`, { headers: { ...auth, 'last-event-id': state!.id! }, signal: AbortSignal.timeout(5000) });
    expect(resumed.status).toBe(204);
  });

  it('ends a stream at the next heartbeat once its console session is signed out, or its key revoked', async () => {
    const { key, auth } = await service.newAccount(0);
    const within = async (ended: Promise<unknown>, ms: number) =>
      Promise.race([ended, new Promise((_, reject) => setTimeout(() => reject(new Error(`the stream was still open after ${ms} ms`)), ms))]);
    const signIn = await fetch(`${base}/console/sign-in`, {
      method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `key=${encodeURIComponent(key)}`,
    });
    expect(signIn.status).toBe(303);
    const cookie = (signIn.headers.get('set-cookie') ?? '').split(';')[0] as string;
    const bySession = await open('/api/v1/events', { cookie });
    const byKey = await open('/api/v1/events', auth);
    expect(bySession.status).toBe(200);
    expect(byKey.status).toBe(200);
    const page = await (await fetch(`${base}/console`, { headers: { cookie } })).text();
    const csrf = /data-csrf="([^"]+)"/.exec(page)?.[1] ?? '';
    const out = await fetch(`${base}/console/sign-out`, {
      method: 'POST', redirect: 'manual', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: `csrf_token=${encodeURIComponent(csrf)}`,
    });
    expect(out.status).toBe(303);
    await within(bySession.ended, 3000);
    // The key itself still works: its stream goes on, until the key is revoked.
    expect(await byKey.next((frame) => frame.comment !== undefined, 3000)).toEqual({ comment: 'heartbeat' });
    const keys = (await (await fetch(`${base}/api/v1/keys`, { headers: auth })).json()) as { data: { id: string }[] };
    const revoke = await fetch(`${base}/api/v1/keys/${keys.data[0]?.id ?? ''}`, { method: 'DELETE', headers: auth });
    expect(revoke.status).toBe(200);
    await within(byKey.ended, 3000);
  });

  it('sends heartbeat comments while nothing happens', async () => {
    const { auth } = await service.newAccount(100);
    const stream = await open('/api/v1/events', auth);
    expect(await stream.next((frame) => frame.comment !== undefined, 3000)).toEqual({ comment: 'heartbeat' });
    expect(await stream.next((frame) => frame.comment !== undefined, 3000)).toEqual({ comment: 'heartbeat' });
    stream.close();
  });

  it('holds a key to its bound of open streams: 429 rate_limited, scope streams, until one closes', async () => {
    const { auth } = await service.newAccount(100);
    const streams = [await open('/api/v1/events', auth), await open('/api/v1/events', auth), await open('/api/v1/events', auth)];
    const refused = await fetch(`${base}/api/v1/events`, { headers: { ...auth, accept: 'text/event-stream' } });
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBeTruthy();
    expect(((await refused.json()) as { error: unknown }).error).toMatchObject({ code: 'rate_limited', details: { scope: 'streams', limit: 3 } });
    // A task's stream counts too.
    const task = await createTask(auth);
    expect((await fetch(`${base}/api/v1/tasks/${task.id}/events`, { headers: auth })).status).toBe(429);
    await waitFor(() => gated.waiting.has(task.id), 10_000, 'the task to start');
    gated.release(task.id);
    // Another key of the same service is not affected.
    const other = await service.newAccount(100);
    expect((await open('/api/v1/events', other.auth)).status).toBe(200);

    streams[0]!.close();
    const again = await waitFor(async () => {
      const stream = await open('/api/v1/events', auth);
      if (stream.status === 200) return stream;
      stream.close();
      return null;
    }, 5000, 'a stream once one closed');
    expect(again.status).toBe(200);
  });

  it('follows one task: its state at once, then its events, ending after the terminal one', async () => {
    const { auth } = await service.newAccount(100);
    const task = await createTask(auth);
    const other = await createTask(auth);
    const stream = await open(`/api/v1/tasks/${task.id}/events`, auth);
    const first = await stream.next(isEvent);
    const state = JSON.parse(first.data!) as { id: string; data: { task: { id: string; status: string } } };
    // Its state now, typed by its status, with its latest event's id.
    expect(first.event).toBe(`task.${state.data.task.status}`);
    expect(first.id).toBe(state.id);
    expect(state.data.task.id).toBe(task.id);

    await waitFor(() => gated.waiting.has(task.id) && gated.waiting.has(other.id), 10_000, 'the tasks to start');
    gated.release(other.id);
    gated.release(task.id);
    await stream.ended;
    const frames = stream.events();
    const order: (string | undefined)[] = ['task.queued', 'task.running', 'task.progress', 'task.succeeded'];
    const ranks = frames.map((frame) => order.indexOf(frame.event));
    expect(ranks.every((rank) => rank >= 0)).toBe(true);
    expect(ranks).toEqual([...ranks].sort((a, b) => a - b));
    expect(frames.at(-1)?.event).toBe('task.succeeded');
    expect(frames.every((frame) => (JSON.parse(frame.data!) as { data: { task: { id: string } } }).data.task.id === task.id)).toBe(true);
    expect(new Set(frames.map((frame) => frame.id)).size).toBe(frames.length);
    const ended = frames.at(-1)!;

    // A task that has ended: its last state at once, with its last event's id, and the end.
    const done = await open(`/api/v1/tasks/${task.id}/events`, auth);
    await done.ended;
    expect(done.events().map((event) => [event.id, event.event])).toEqual([[ended.id, 'task.succeeded']]);
    // Resumed after its terminal event: nothing is left, 204 (an EventSource stops reconnecting).
    const resumed = await fetch(`${base}/api/v1/tasks/${task.id}/events`, { headers: { ...auth, 'last-event-id': ended.id! } });
    expect(resumed.status).toBe(204);
    // Resumed from the first frame: the events since, then the end.
    const replay = await open(`/api/v1/tasks/${task.id}/events`, auth, { 'last-event-id': first.id! });
    await replay.ended;
    expect(ids(replay)).toEqual(frames.slice(1).map((frame) => frame.id));
  });

  it('wakes a long-poll at its task’s end event, not at its next re-read', async () => {
    const { auth } = await service.newAccount(100);
    const task = await createTask(auth);
    await waitFor(() => gated.waiting.has(task.id), 10_000, 'the task to start');
    const polled = fetch(`${base}/api/v1/tasks/${task.id}?wait=30`, { headers: auth });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const released = Date.now();
    gated.release(task.id);
    const answer = (await (await polled).json()) as { status: string };
    expect(answer.status).toBe('succeeded');
    // The safety re-read comes every 10 s: an answer within a few seconds came from the event.
    expect(Date.now() - released).toBeLessThan(5000);
  });

  it('answers another account’s task, or an unknown one, with 404 in the envelope before any stream', async () => {
    const owner = await service.newAccount(100);
    const stranger = await service.newAccount(100);
    const task = await createTask(owner.auth);
    for (const path of [`/api/v1/tasks/${task.id}/events`, '/api/v1/tasks/task_nope/events']) {
      const response = await fetch(`${base}${path}`, { headers: { ...stranger.auth, accept: 'text/event-stream' } });
      expect(response.status).toBe(404);
      expect(response.headers.get('content-type')).toMatch(/^application\/json/);
      expect(((await response.json()) as { error: { code: string; request_id: string } }).error).toMatchObject({ code: 'not_found', request_id: expect.stringMatching(/^req_/) });
    }
    expect((await fetch(`${base}/api/v1/tasks/${task.id}/events`)).status).toBe(401);
  });
});
