import { describe, expect, it } from 'vitest';
import { BACKENDS } from '../helpers/backends.js';
import { useGatedService } from '../helpers/test-service.js';
import { alterSignature, waitFor } from '../helpers/wait-for.js';

const SEED_CREATE_FIELDS = ['id', 'status', 'model', 'reserved_credits', 'final_credits', 'created_at', 'updated_at', 'result', 'error'];

describe.each(BACKENDS)('tasks API on $name', (backend) => {
  const ctx = useGatedService(backend);
  const { gated } = ctx;

  const create = ctx.create;

  it('creates a task: 201, Location, the seed response fields, credits held', async () => {
    const { auth } = await ctx.service.newAccount(100);
    const response = await create(auth, { model: 'sora-2', prompt: 'A fox', client_request_id: 'order-1' });
    expect(response.statusCode).toBe(201);
    const task = response.json();
    expect(response.headers['location']).toBe(`/api/v1/tasks/${task.id}`);
    expect(response.headers['x-request-id']).toMatch(/^req_/);
    for (const field of SEED_CREATE_FIELDS) expect(task).toHaveProperty(field);
    expect(task).toMatchObject({
      status: 'queued', model: 'sora-2', reserved_credits: 6, final_credits: 0, result: null, error: null, progress: 0,
      client_request_id: 'order-1', params: { n_frames: '10', aspect_ratio: 'landscape', remove_watermark: 'false', upload_method: 's3' },
    });
    expect(task.id).toMatch(/^task_[0-9A-Za-z]{22}$/);
    expect(task.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const account = (await ctx.app.inject({ url: '/api/v1/account', headers: auth })).json();
    expect(account.credits).toEqual({ balance: 100, held: 6, available: 94 });
    gated.release(task.id);
  });

  it('answers polls of an unfinished task and account reads from memory, never older than the Rivya-Position sent', async () => {
    const { accountId, auth } = await ctx.service.newAccount(100);
    const { view } = ctx.service.runtime;
    const created = await create(auth, { model: 'sora-2', prompt: 'Held in memory' });
    const task = created.json();
    const createdAt = Number(created.headers['rivya-position']);
    expect(createdAt).toBeGreaterThan(0);
    await waitFor(() => gated.waiting.has(task.id), 10_000, 'the task to start');
    const get = (headers: Record<string, string> = {}) => ctx.app.inject({ url: `/api/v1/tasks/${task.id}`, headers: { ...auth, ...headers } });
    const first = await get({ 'rivya-position': String(createdAt) });
    const position = Number(first.headers['rivya-position']);
    expect(first.json()).toMatchObject({ status: 'running' });
    expect(position).toBeGreaterThan(createdAt);
    // The next polls are answered from memory, with the same answer.
    const before = view.reads().task;
    for (let poll = 0; poll < 3; poll++) {
      const again = await get({ 'rivya-position': String(position) });
      expect(again.json()).toEqual(first.json());
      expect(Number(again.headers['rivya-position'])).toBeGreaterThanOrEqual(position);
    }
    expect(view.reads().task).toEqual({ memory: before.memory + 3, database: before.database });
    // A client that has seen further than this process has heard goes to the database (and is told where it stands).
    const ahead = await get({ 'rivya-position': String(position + 1000) });
    expect(ahead.statusCode).toBe(200);
    expect(Number(ahead.headers['rivya-position'])).toBe(position + 1000);
    expect(view.reads().task.database).toBe(before.database + 1);
    for (const malformed of ['-1', '1.5', 'x', '99999999999999999', '']) {
      const refused = await get({ 'rivya-position': malformed });
      expect(refused.statusCode).toBe(400);
      expect(refused.json().error).toMatchObject({ code: 'validation_failed', details: [{ path: 'Rivya-Position' }] });
    }
    // Account: the second read is from memory; a grant drops it, so the next read shows the grant.
    const account = async () => {
      const response = await ctx.app.inject({ url: '/api/v1/account', headers: auth });
      return { credits: response.json().credits, position: Number(response.headers['rivya-position']) };
    };
    expect((await account()).credits).toEqual({ balance: 100, held: 6, available: 94 });
    const accountReads = view.reads().account;
    expect((await account()).credits).toEqual({ balance: 100, held: 6, available: 94 });
    expect(view.reads().account.memory).toBe(accountReads.memory + 1);
    await ctx.service.runtime.ledger.postCreditChange({ accountId, amount: 10, reason: 'top-up' });
    const granted = await account();
    expect(granted.credits).toEqual({ balance: 110, held: 6, available: 104 });
    // Canceled: the cancel's position reads the cancel, and the released hold.
    const canceled = await ctx.app.inject({ method: 'POST', url: `/api/v1/tasks/${task.id}/cancel`, headers: auth });
    const canceledAt = Number(canceled.headers['rivya-position']);
    expect(canceledAt).toBeGreaterThan(granted.position);
    expect((await get({ 'rivya-position': String(canceledAt) })).json()).toMatchObject({ status: 'canceled' });
    const after = await ctx.app.inject({ url: '/api/v1/account', headers: { ...auth, 'rivya-position': String(canceledAt) } });
    expect(after.json().credits).toEqual({ balance: 110, held: 0, available: 110 });
    gated.release(task.id);
  });

  it('runs a task to success: long-poll returns when it ends, the hold is captured, the video is served', async () => {
    const { auth } = await ctx.service.newAccount(100);
    const task = (await create(auth, { model: 'sora-2-pro', prompt: 'A ship', params: { size: 'high', aspect_ratio: 'portrait' } })).json();
    await waitFor(() => gated.waiting.has(task.id), 10_000, 'the task to start');
    // The provider reported 10%; the worker stores it a moment later.
    const running = await waitFor(async () => {
      const current = (await ctx.app.inject({ url: `/api/v1/tasks/${task.id}`, headers: auth })).json();
      return current.progress === 10 ? current : null;
    }, 10_000, 'the progress to be stored');
    expect(running).toMatchObject({ status: 'running', progress: 10 });
    expect(running.started_at).not.toBeNull();
    const started = Date.now();
    setTimeout(() => gated.release(task.id), 300);
    const done = (await ctx.app.inject({ url: `/api/v1/tasks/${task.id}?wait=20`, headers: auth })).json();
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(done).toMatchObject({ status: 'succeeded', final_credits: 75, reserved_credits: 75, progress: 100, error: null });
    const [media] = done.result.media;
    expect(media).toMatchObject({ kind: 'video', mimeType: 'video/mp4', width: 1024, height: 1792, durationSeconds: 10 });
    expect(media.sizeBytes).toBeGreaterThan(0);
    expect(Date.parse(done.result.expires_at)).toBeGreaterThan(Date.now());
    const url = new URL(media.url);
    const video = await ctx.app.inject({ url: url.pathname + url.search });
    expect(video.statusCode).toBe(200);
    expect(video.headers['content-type']).toBe('video/mp4');
    expect(video.headers['x-content-type-options']).toBe('nosniff');
    expect(video.headers['content-security-policy']).toBe("sandbox; default-src 'none'");
    expect(video.rawPayload.length).toBe(media.sizeBytes);
    expect(video.rawPayload.subarray(4, 8).toString()).toBe('ftyp');
    // An altered signature, expiry or path answers like a missing file.
    for (const bad of [
      url.pathname + alterSignature(url.search),
      url.pathname + url.search.replace(/expires=\d+/, 'expires=9999999999'),
      url.pathname.replace('.mp4', '.mp5') + url.search,
      `/objects/s3/../../secret${url.search}`,
    ]) {
      const response = await ctx.app.inject({ url: bad });
      expect(response.statusCode).toBe(404);
      expect(response.json().error.code).toBe('not_found');
    }
    const account = (await ctx.app.inject({ url: '/api/v1/account', headers: auth })).json();
    expect(account.credits).toEqual({ balance: 25, held: 0, available: 25 });
  });

  it('fails a task at the provider and releases its hold', async () => {
    const { auth } = await ctx.service.newAccount(10);
    const task = (await create(auth, { model: 'sora-2', prompt: 'fail me' })).json();
    await waitFor(() => gated.waiting.has(task.id), 10_000, 'the task to start');
    gated.release(task.id, 'fail');
    const done = (await ctx.app.inject({ url: `/api/v1/tasks/${task.id}?wait=20`, headers: auth })).json();
    expect(done).toMatchObject({ status: 'failed', final_credits: 0, result: null, error: { code: 'upstream_error' } });
    const account = (await ctx.app.inject({ url: '/api/v1/account', headers: auth })).json();
    expect(account.credits).toEqual({ balance: 10, held: 0, available: 10 });
  });

  it('returns after the wait when the task is still running', async () => {
    const { auth } = await ctx.service.newAccount(10);
    const task = (await create(auth, { model: 'sora-2', prompt: 'slow' })).json();
    const started = Date.now();
    const response = await ctx.app.inject({ url: `/api/v1/tasks/${task.id}?wait=1`, headers: auth });
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(['queued', 'running']).toContain(response.json().status);
    for (const wait of ['61', '-1', 'abc']) {
      const bad = await ctx.app.inject({ url: `/api/v1/tasks/${task.id}?wait=${wait}`, headers: auth });
      expect(bad.statusCode).toBe(400);
      expect(bad.json().error.details[0].path).toBe('wait');
    }
    gated.release(task.id);
  });

  it('cancels queued or running tasks, releasing credits; an ended task is invalid_state', async () => {
    const { auth } = await ctx.service.newAccount(20);
    const task = (await create(auth, { model: 'sora-2', prompt: 'cancel me' })).json();
    await waitFor(() => gated.waiting.has(task.id), 10_000, 'the task to start');
    const canceled = await ctx.app.inject({ method: 'POST', url: `/api/v1/tasks/${task.id}/cancel`, headers: auth });
    expect(canceled.statusCode).toBe(200);
    expect(canceled.json()).toMatchObject({ status: 'canceled', final_credits: 0, error: { code: 'canceled' } });
    // The running attempt notices and stops; nothing is charged.
    await waitFor(() => !gated.waiting.has(task.id), 10_000, 'the provider to be aborted');
    const again = await ctx.app.inject({ method: 'POST', url: `/api/v1/tasks/${task.id}/cancel`, headers: auth });
    expect(again.statusCode).toBe(409);
    expect(again.json().error.code).toBe('invalid_state');
    const account = (await ctx.app.inject({ url: '/api/v1/account', headers: auth })).json();
    expect(account.credits).toEqual({ balance: 20, held: 0, available: 20 });
    const ledger = (await ctx.app.inject({ url: '/api/v1/account/ledger', headers: auth })).json();
    expect(ledger.data.map((entry: { type: string }) => entry.type)).toEqual(['release', 'hold', 'grant']);
    expect(ledger.data[0]).toMatchObject({ amount: 6, task_id: task.id, balance_after: 20 });
  });

  it('answers 402 insufficient_credits with required and available', async () => {
    const { auth } = await ctx.service.newAccount(74);
    const response = await create(auth, { model: 'sora-2-pro', prompt: 'too expensive' });
    expect(response.statusCode).toBe(402);
    expect(response.json().error).toMatchObject({ code: 'insufficient_credits', details: { required: 75, available: 74 } });
    expect(response.json().error.request_id).toBe(response.headers['x-request-id']);
  });

  it('answers 400 validation_failed with every problem, and creates nothing', async () => {
    const { auth } = await ctx.service.newAccount(100);
    const response = await create(auth, { model: 'sora-2', prompt: '', params: { size: 'high', n_frames: 11 }, extra: true });
    expect(response.statusCode).toBe(400);
    const { error } = response.json();
    expect(error.code).toBe('validation_failed');
    expect(error.details.map((d: { path: string }) => d.path).sort()).toEqual(['extra', 'params.n_frames', 'params.size', 'prompt']);
    const malformed: [string, string][] = [['{"model":', 'application/json'], ['[1,2]', 'application/json'], ['model=sora-2', 'application/x-www-form-urlencoded']];
    for (const [payload, type] of malformed) {
      const bad = await ctx.app.inject({ method: 'POST', url: '/api/v1/tasks', headers: { ...auth, 'content-type': type }, payload });
      expect(bad.statusCode).toBe(400);
      expect(bad.json().error.code).toBe('validation_failed');
    }
    const reference = await create(auth, {
      model: 'sora-2', prompt: 'x',
      params: { referenceMediaItems: [{ url: 'https://cdn.example.com/reference-image.png', kind: 'image', name: 'r.png', mimeType: 'image/png' }] },
    });
    expect(reference.statusCode).toBe(400);
    expect(reference.json().error.details[0].path).toBe('params.referenceMediaItems[0].url');
    const list = (await ctx.app.inject({ url: '/api/v1/tasks', headers: auth })).json();
    expect(list.data).toEqual([]);
  });

  it('says what is missing from a reference item, and where a parameter sent at the top level belongs', async () => {
    const { auth } = await ctx.service.newAccount(100);
    const misplaced = await ctx.app.inject({
      method: 'POST', url: '/api/v1/tasks', headers: { ...auth, 'content-type': 'application/json' },
      payload: '{"model":"sora-2","prompt":"x","n_frames":"15"}',
    });
    expect(misplaced.statusCode).toBe(400);
    expect(misplaced.json().error).toMatchObject({
      code: 'validation_failed', message: 'n_frames: Unknown field; did you mean params.n_frames? Model parameters go inside params.',
    });
    const incomplete = await create(auth, {
      model: 'sora-2', prompt: 'x', params: { referenceMediaItems: [{ url: 'https://cdn.example.com/r.png', name: 'r.png' }] },
    });
    expect(incomplete.statusCode).toBe(400);
    expect(incomplete.json().error.details).toEqual([
      { path: 'params.referenceMediaItems[0].kind', message: expect.stringMatching(/^Required/) },
      { path: 'params.referenceMediaItems[0].mimeType', message: expect.stringMatching(/^Required/) },
    ]);
    expect(incomplete.body).not.toContain('undefined');
    expect((await ctx.app.inject({ url: '/api/v1/account', headers: auth })).json().credits).toEqual({ balance: 100, held: 0, available: 100 });
  });

  it('refuses NUL characters, which text cannot store, as validation_failed', async () => {
    const { auth } = await ctx.service.newAccount(100);
    const response = await create(auth, { model: 'sora-2', prompt: 'a\u0000b' });
    expect(response.statusCode).toBe(400);
    expect(response.json().error.details).toEqual([{ path: 'prompt', message: expect.stringContaining('NUL') }]);
    const list = await ctx.app.inject({ url: '/api/v1/tasks?client_request_id=a%00b', headers: auth });
    expect(list.statusCode).toBe(400);
  });

  it('answers 413 payload_too_large for a JSON body over 1 MiB', async () => {
    const { auth } = await ctx.service.newAccount(100);
    const response = await create(auth, { model: 'sora-2', prompt: 'x'.repeat(1024 * 1024) });
    expect(response.statusCode).toBe(413);
    expect(response.json().error.code).toBe('payload_too_large');
  });

  it('hides other accounts\' tasks as not_found', async () => {
    const owner = await ctx.service.newAccount(100);
    const other = await ctx.service.newAccount(100);
    const task = (await create(owner.auth, { model: 'sora-2', prompt: 'mine' })).json();
    for (const request of [
      { url: `/api/v1/tasks/${task.id}` },
      { url: `/api/v1/tasks/${task.id}/cancel`, method: 'POST' as const },
      { url: '/api/v1/tasks/task_doesnotexist' },
    ]) {
      const response = await ctx.app.inject({ ...request, headers: other.auth });
      expect(response.statusCode).toBe(404);
      expect(response.json().error.code).toBe('not_found');
    }
    gated.release(task.id);
  });

  it('lists tasks newest first with cursors and filters', async () => {
    const { auth } = await ctx.service.newAccount(1000, { active_tasks: 100, creates_per_minute: 100 });
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      const model = i % 2 === 0 ? 'sora-2' : 'sora-2-pro';
      ids.push((await create(auth, { model, prompt: `task ${i}`, client_request_id: `c${i % 3}` })).json().id);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { data: { id: string }[]; next_cursor: string | null; has_more: boolean } = (await ctx.app.inject({ url: `/api/v1/tasks?limit=3${cursor ? `&cursor=${cursor}` : ''}`, headers: auth })).json();
      expect(page.data.length).toBeLessThanOrEqual(3);
      seen.push(...page.data.map((task: { id: string }) => task.id));
      cursor = page.next_cursor;
      expect(page.has_more).toBe(cursor !== null);
    } while (cursor);
    expect(seen).toEqual([...ids].reverse());
    const pro = (await ctx.app.inject({ url: '/api/v1/tasks?model=sora-2-pro&limit=100', headers: auth })).json();
    expect(pro.data.map((task: { id: string }) => task.id)).toEqual([ids[5], ids[3], ids[1]]);
    const byClient = (await ctx.app.inject({ url: '/api/v1/tasks?client_request_id=c0', headers: auth })).json();
    expect(byClient.data.map((task: { id: string }) => task.id)).toEqual([ids[6], ids[3], ids[0]]);
    await ctx.app.inject({ method: 'POST', url: `/api/v1/tasks/${ids[2]}/cancel`, headers: auth });
    const canceled = (await ctx.app.inject({ url: '/api/v1/tasks?status=canceled', headers: auth })).json();
    expect(canceled.data.map((task: { id: string }) => task.id)).toEqual([ids[2]]);
    const bad = await ctx.app.inject({ url: '/api/v1/tasks?limit=101&status=done&cursor=zzz&color=red', headers: auth });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.details.map((d: { path: string }) => d.path).sort()).toEqual(['color', 'cursor', 'limit', 'status']);
    for (const id of ids) gated.release(id);
  });
});
