import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from '../helpers/backends.js';
import { startTestService, useGatedService, type TestService } from '../helpers/test-service.js';
import { waitFor } from '../helpers/wait-for.js';

interface EventJson {
  id: string;
  type: string;
  created_at: string;
  data: { task: { id: string; status: string; progress: number; result: { media: { url: string }[] } | null } };
}

describe.each(BACKENDS)('events API on $name', (backend) => {
  // Tasks' own webhooks go to a closed port on loopback: refused at once.
  const ctx = useGatedService(backend, { RIVYA_WEBHOOKS_ALLOW_INSECURE: 'true' });
  const { gated } = ctx;
  const events = (auth: Record<string, string>, query = '') => ctx.app.inject({ url: `/api/v1/events${query}`, headers: auth });
  /** An account with one task run to success: queued, running, progress, succeeded. */
  const withSucceededTask = async () => {
    const account = await ctx.service.newAccount(100);
    const task = (await ctx.create(account.auth, { model: 'sora-2', prompt: 'A fox' })).json();
    await waitFor(() => gated.waiting.has(task.id), 10_000, 'the task to start');
    await waitFor(async () => (await events(account.auth)).json().data.length === 3, 10_000, 'its progress event');
    gated.release(task.id);
    await waitFor(async () => (await ctx.app.inject({ url: `/api/v1/tasks/${task.id}?wait=5`, headers: account.auth })).json().status === 'succeeded');
    return { ...account, taskId: task.id as string };
  };

  it('lists the account’s events oldest first, each with the task as the API presents it', async () => {
    const { auth, taskId } = await withSucceededTask();
    const response = await events(auth);
    expect(response.statusCode).toBe(200);
    expect(response.headers['ratelimit-limit']).toBeDefined();
    const page = response.json<{ data: EventJson[]; has_more: boolean; next_cursor: string | null }>();
    expect(page.has_more).toBe(false);
    expect(page.next_cursor).toBeNull();
    expect(page.data.map((event) => [event.type, event.data.task.status, event.data.task.progress])).toEqual([
      ['task.queued', 'queued', 0], ['task.running', 'running', 0], ['task.progress', 'running', 10], ['task.succeeded', 'succeeded', 100],
    ]);
    for (const event of page.data) {
      expect(Object.keys(event).sort()).toEqual(['created_at', 'data', 'id', 'type']);
      expect(event.id).toMatch(/^evt_\d{12}[0-9A-Za-z]{10}$/);
      expect(event.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      expect(event.data.task.id).toBe(taskId);
    }
    expect(page.data.map((event) => event.id)).toEqual(page.data.map((event) => event.id).sort());
    // The task as GET /tasks/{id} shows it: the same fields, the result's URL signed and fetchable.
    const current = (await ctx.app.inject({ url: `/api/v1/tasks/${taskId}`, headers: auth })).json();
    const succeeded = page.data[3]!.data.task;
    expect(succeeded).toEqual(current);
    const url = new URL(succeeded.result!.media[0]!.url);
    expect((await ctx.app.inject({ url: url.pathname + url.search })).statusCode).toBe(200);
  });

  it('pages with limit, next_cursor and after, and filters by types', async () => {
    const { auth } = await withSucceededTask();
    const all = (await events(auth)).json<{ data: EventJson[] }>().data.map((event) => event.id);
    const first = (await events(auth, '?limit=1')).json();
    expect(first).toMatchObject({ has_more: true, next_cursor: all[0] });
    expect(first.data.map((event: EventJson) => event.id)).toEqual([all[0]]);
    const second = (await events(auth, `?limit=2&after=${first.next_cursor}`)).json();
    expect(second).toMatchObject({ has_more: true, next_cursor: all[2] });
    expect(second.data.map((event: EventJson) => event.id)).toEqual(all.slice(1, 3));
    const last = (await events(auth, `?limit=2&after=${second.next_cursor}`)).json();
    expect(last).toMatchObject({ has_more: false, next_cursor: null });
    expect(last.data.map((event: EventJson) => event.id)).toEqual(all.slice(3));
    expect((await events(auth, `?after=${all[3]}`)).json()).toEqual({ data: [], has_more: false, next_cursor: null });
    // The position before the first event (seq 0) reads from the start, whatever its random part.
    expect((await events(auth, `?after=evt_${'0'.repeat(22)}`)).json().data.map((event: EventJson) => event.id)).toEqual(all);
    const ends = (await events(auth, '?types=task.succeeded,task.failed, task.canceled')).json();
    expect(ends.data.map((event: EventJson) => event.type)).toEqual(['task.succeeded']);
    const later = (await events(auth, `?types=task.running,task.progress&after=${all[1]}`)).json();
    expect(later.data.map((event: EventJson) => event.type)).toEqual(['task.progress']);
  });

  it('refuses a bad query with validation_failed naming each parameter', async () => {
    const { auth } = await ctx.service.newAccount(10);
    const cases: [string, string[]][] = [
      ['?types=task.done', ['types']],
      ['?types=', ['types']],
      ['?types=task.queued,,task.running', ['types']],
      ['?limit=0', ['limit']],
      ['?limit=101', ['limit']],
      ['?after=evt_nope', ['after']],
      ['?cursor=abc', ['cursor']],
      ['?types=x&limit=x&after=y', ['types', 'limit', 'after']],
    ];
    for (const [query, paths] of cases) {
      const response = await events(auth, query);
      expect(response.statusCode, query).toBe(400);
      expect(response.json().error.code).toBe('validation_failed');
      expect(response.json().error.details.map((issue: { path: string }) => issue.path).sort(), query).toEqual([...paths].sort());
    }
    expect((await events(auth, '?types=task.done')).json().error.details[0].message).toContain('"task.done"');
  });

  it('keeps each account’s log to itself: another account’s event id is no valid after, and one swept away neither', async () => {
    const mine = await withSucceededTask();
    const other = await ctx.service.newAccount(10);
    expect((await events(other.auth)).json().data).toEqual([]);
    const [firstId] = (await events(mine.auth)).json<{ data: EventJson[] }>().data.map((event) => event.id);
    const foreign = await events(other.auth, `?after=${firstId}`);
    expect(foreign.statusCode).toBe(400);
    expect(foreign.json().error.details).toEqual([{ path: 'after', message: expect.stringContaining('not an event of your log') }]);
    // The same id with another random part names no event either.
    const forged = `${firstId!.slice(0, 16)}${'A'.repeat(10)}`;
    expect((await events(mine.auth, `?after=${forged}`)).statusCode).toBe(400);
    // Swept: the events after the first two are kept, so resuming after the second misses nothing;
    // after the first, the swept second would be skipped without a word.
    const [, secondId, ...rest] = (await events(mine.auth)).json<{ data: EventJson[] }>().data.map((event) => event.id);
    await ctx.service.runtime.db.query("UPDATE events SET created_at = now() - interval '8 days' WHERE id = ANY ($1)", [[firstId, secondId]]);
    expect(await ctx.service.runtime.eventLog.purgeOlderThan(7 * 86_400)).toBe(2);
    const swept = await events(mine.auth, `?after=${firstId}`);
    expect(swept.statusCode).toBe(400);
    expect(swept.json().error.details[0]).toMatchObject({ path: 'after', message: expect.stringContaining('older than the 7 days') });
    const fromLastSwept = await events(mine.auth, `?after=${secondId}`);
    expect(fromLastSwept.statusCode).toBe(200);
    expect(fromLastSwept.json<{ data: EventJson[] }>().data.map((event) => event.id)).toEqual(rest);
    // Its seq with another random part is no event of this account, and was never swept from it.
    expect((await events(other.auth, `?after=${secondId}`)).statusCode).toBe(400);
  });

  it('resumes after the last event swept even when changes that are no events (credit grants) came after it', async () => {
    const mine = await withSucceededTask();
    const ids = (await events(mine.auth)).json<{ data: EventJson[] }>().data.map((event) => event.id);
    // A grant takes the log's next position without an event: the log's seqs now have a gap at its end.
    await ctx.service.runtime.ledger.postCreditChange({ accountId: mine.accountId, amount: 5, reason: 'top-up' });
    await ctx.service.runtime.db.query("UPDATE events SET created_at = now() - interval '8 days' WHERE account_id = $1", [mine.accountId]);
    expect(await ctx.service.runtime.eventLog.purgeOlderThan(7 * 86_400)).toBe(ids.length);
    const resumed = await events(mine.auth, `?after=${ids.at(-1)}`);
    expect(resumed.statusCode).toBe(200);
    expect(resumed.json().data).toEqual([]);
    // Before the last one swept, events are missing: refused.
    expect((await events(mine.auth, `?after=${ids.at(-2)}`)).statusCode).toBe(400);
  });

  it('counts against the key’s request budget and needs a key', async () => {
    const { auth } = await ctx.service.newAccount(10, { requests_per_minute: 2 });
    expect((await events(auth)).statusCode).toBe(200);
    expect((await events(auth)).statusCode).toBe(200);
    const limited = await events(auth);
    expect(limited.statusCode).toBe(429);
    expect(limited.json().error).toMatchObject({ code: 'rate_limited', details: { scope: 'requests' } });
    expect((await ctx.app.inject({ url: '/api/v1/events' })).statusCode).toBe(401);
  });

  it('stores a task’s webhook_url and webhook_events, never shows them, and refuses bad ones', async () => {
    const { auth } = await ctx.service.newAccount(100);
    const taskOf = async (id: string) =>
      (await ctx.service.runtime.db.query<{ webhook_url: string | null; webhook_events: string }>(
        'SELECT webhook_url, webhook_events FROM tasks WHERE id = $1', [id])).rows[0];
    const all = await ctx.create(auth, { model: 'sora-2', prompt: 'hooked', webhook_url: 'http://127.0.0.1:9/hook?a=1', webhook_events: ['all'] });
    expect(all.statusCode).toBe(201);
    expect(all.json()).not.toHaveProperty('webhook_url');
    expect(all.json()).not.toHaveProperty('webhook_events');
    expect(await taskOf(all.json().id)).toEqual({ webhook_url: 'http://127.0.0.1:9/hook?a=1', webhook_events: 'all' });
    const terminal = await ctx.create(auth, { model: 'sora-2', prompt: 'hooked', webhook_url: 'http://127.0.0.1:9/hook' });
    expect(await taskOf(terminal.json().id)).toEqual({ webhook_url: 'http://127.0.0.1:9/hook', webhook_events: 'terminal' });
    const none = await ctx.create(auth, { model: 'sora-2', prompt: 'plain', webhook_url: null });
    expect(await taskOf(none.json().id)).toEqual({ webhook_url: null, webhook_events: 'terminal' });
    const listed = (await events(auth, '?types=task.queued')).json<{ data: { data: { task: Record<string, unknown> } }[] }>();
    for (const event of listed.data) expect(Object.keys(event.data.task)).not.toContain('webhookUrl');
    for (const id of [all.json().id, terminal.json().id, none.json().id]) gated.release(id);

    const refused: [Record<string, unknown>, string][] = [
      [{ webhook_url: 'ftp://example.com/hook' }, 'webhook_url'],
      [{ webhook_url: 'not a url' }, 'webhook_url'],
      [{ webhook_url: `https://example.com/${'a'.repeat(2049)}` }, 'webhook_url'],
      [{ webhook_url: '' }, 'webhook_url'],
      [{ webhook_url: 42 }, 'webhook_url'],
      [{ webhook_events: ['all'] }, 'webhook_events'],
      [{ webhook_url: 'https://example.com/hook', webhook_events: ['terminal'] }, 'webhook_events'],
      [{ webhook_url: 'https://example.com/hook', webhook_events: 'all' }, 'webhook_events'],
    ];
    for (const [fields, path] of refused) {
      const response = await ctx.create(auth, { model: 'sora-2', prompt: 'bad hook', ...fields });
      expect(response.statusCode, JSON.stringify(fields)).toBe(400);
      expect(response.json().error.details.map((issue: { path: string }) => issue.path)).toEqual([path]);
    }
    // Refused creates made nothing.
    expect((await ctx.app.inject({ url: '/api/v1/tasks', headers: auth })).json().data).toHaveLength(3);
  });
});

describe.each(BACKENDS)('live progress of the local renderer on $name', (backend) => {
  let service: TestService;
  beforeAll(async () => {
    service = await startTestService(backend, { env: { RIVYA_PROVIDER: 'local' } });
  });
  afterAll(async () => {
    await service?.close();
  });

  it('writes rising task.progress events while it renders, at least 450 ms apart, before task.succeeded', async () => {
    const app = service.runtime.app!;
    const { auth } = await service.newAccount(100);
    const task = (await app.inject({ method: 'POST', url: '/api/v1/tasks', headers: auth, payload: { model: 'sora-2', prompt: 'A fox in the snow' } })).json();
    await waitFor(async () => (await app.inject({ url: `/api/v1/tasks/${task.id}?wait=5`, headers: auth })).json().status === 'succeeded', 60_000, 'the render');
    const log = (await app.inject({ url: '/api/v1/events?limit=100', headers: auth })).json<{ data: EventJson[] }>().data;
    expect(log.map((event) => event.type).filter((type) => type !== 'task.progress')).toEqual(['task.queued', 'task.running', 'task.succeeded']);
    const progress = log.filter((event) => event.type === 'task.progress');
    expect(progress.length).toBeGreaterThanOrEqual(2);
    // Between the start and the end.
    expect(log.indexOf(progress[0]!)).toBe(2);
    expect(log.indexOf(progress.at(-1)!)).toBe(log.length - 2);
    const values = progress.map((event) => event.data.task.progress);
    const times = progress.map((event) => Date.parse(event.created_at));
    for (let index = 1; index < progress.length; index++) {
      expect(values[index]!).toBeGreaterThan(values[index - 1]!);
      expect(times[index]! - times[index - 1]!).toBeGreaterThanOrEqual(450);
    }
    expect(values.every((value) => value > 0 && value < 100)).toBe(true);
  }, 60_000);
});
