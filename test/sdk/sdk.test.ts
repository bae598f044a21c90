import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AuthenticationError, ConnectionError, InsufficientCreditsError, InvalidStateError, NotFoundError, PayloadTooLargeError, RateLimitError,
  Rivya, RivyaAdmin, TaskFailedError, TimeoutError, ValidationError, type Task,
} from '../../packages/sdk/src/index.js';
import { BACKENDS } from '../helpers/backends.js';
import { makeMedia } from '../helpers/media.js';
import { ADMIN_TOKEN, startTestService, type TestService } from '../helpers/test-service.js';
import { waitFor } from '../helpers/wait-for.js';

/** The SDK against a real, listening service (embedded store, instant provider). */
describe('TypeScript SDK', () => {
  let service: TestService;
  let base: string;
  let key: string;
  let accountId: string;
  let client: Rivya;

  beforeAll(async () => {
    service = await startTestService(BACKENDS[0]!, { listen: true });
    base = service.runtime.config.publicUrl;
    ({ key, accountId } = await service.newAccount(1000));
    client = new Rivya({ apiKey: key, baseUrl: base });
  });
  afterAll(async () => service?.close());

  it('reads the key and base URL from RIVYA_API_KEY and RIVYA_BASE_URL', async () => {
    const saved = { key: process.env['RIVYA_API_KEY'], url: process.env['RIVYA_BASE_URL'] };
    process.env['RIVYA_API_KEY'] = key;
    process.env['RIVYA_BASE_URL'] = base;
    try {
      expect((await new Rivya().account.get()).id).toBe(accountId);
    } finally {
      for (const [name, value] of [['RIVYA_API_KEY', saved.key], ['RIVYA_BASE_URL', saved.url]] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
    expect(() => new Rivya({ baseUrl: base, apiKey: '' })).toThrow(/RIVYA_API_KEY/);
  });

  it('lists and gets models', async () => {
    const models = await client.models.list();
    expect(models.map((model) => model.id)).toEqual(['sora-2', 'sora-2-pro']);
    expect((await client.models.get('sora-2-pro')).credits).toBe(75);
    await expect(client.models.get('sora-3')).rejects.toBeInstanceOf(NotFoundError);
  });

  it('runs a task to the end, reporting progress, and the result downloads', async () => {
    const seen: string[] = [];
    const task = await client.tasks.run(
      { model: 'sora-2', prompt: 'a lighthouse', params: { aspect_ratio: 'portrait', n_frames: '10' } },
      { onProgress: (update) => seen.push(update.status) },
    );
    expect(task.status).toBe('succeeded');
    expect(seen.at(-1)).toBe('succeeded');
    const media = task.result!.media[0]!;
    expect(media).toMatchObject({ width: 720, height: 1280, durationSeconds: 10 });
    const bytes = Buffer.from(await (await fetch(media.url)).arrayBuffer());
    expect(bytes.subarray(4, 8).toString('latin1')).toBe('ftyp');
  });

  it('iterates every task across pages with for await, and a page is also awaitable', async () => {
    const created: string[] = [];
    for (let i = 0; i < 5; i++) created.push((await client.tasks.create({ model: 'sora-2', prompt: `page ${i}`, client_request_id: 'paged' })).id);
    const page = await client.tasks.list({ limit: 2, client_request_id: 'paged' });
    expect(page.data).toHaveLength(2);
    expect(page.has_more).toBe(true);
    const all: string[] = [];
    for await (const task of client.tasks.list({ limit: 2, client_request_id: 'paged' })) all.push(task.id);
    expect(all).toEqual([...created].reverse());
    await Promise.all(created.map((id) => client.tasks.wait(id)));
  });

  it('uploads files from a path, bytes and a Blob, and uses one as a reference', async () => {
    const path = await makeMedia(join(await mkdtemp(join(tmpdir(), 'rivya-sdk-')), 'ref.png'), 'image');
    const fromPath = await client.files.upload(path);
    expect(fromPath).toMatchObject({ kind: 'image', name: 'ref.png', mimeType: 'image/png', width: 640, height: 360 });
    const bytes = await readFile(path);
    const fromBytes = await client.files.upload(bytes, { name: 'bytes.png' });
    const fromBlob = await client.files.upload(new Blob([bytes], { type: 'image/png' }), { name: 'blob.png' });
    expect((await client.files.get(fromBytes.id)).name).toBe('bytes.png');
    const listed: string[] = [];
    for await (const file of client.files.list({ limit: 1 })) listed.push(file.id);
    expect(listed).toEqual(expect.arrayContaining([fromPath.id, fromBytes.id, fromBlob.id]));
    const task = await client.tasks.run({
      model: 'sora-2', prompt: 'animate it',
      params: { referenceMediaItems: [{ file_id: fromPath.id }] },
    });
    expect(task.status).toBe('succeeded');
    expect(task.params['referenceMediaItems']).toEqual([{ file_id: fromPath.id, kind: 'image', name: 'ref.png', mimeType: 'image/png' }]);
    await client.files.delete(fromBlob.id);
    await expect(client.files.get(fromBlob.id)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('reads the account and iterates its ledger', async () => {
    const account = await client.account.get();
    expect(account.credits.balance).toBeLessThan(1000);
    const types = new Set<string>();
    let count = 0;
    for await (const entry of client.account.ledger({ limit: 3 })) {
      types.add(entry.type);
      count++;
    }
    expect(types).toEqual(new Set(['grant', 'hold', 'capture']));
    expect(count).toBeGreaterThan(3);
  });

  it('throws one error class per contract code, with status, code, requestId and details', async () => {
    // `size` is not a sora-2 parameter: the types refuse it too, so this call goes around them.
    const invalid = await client.tasks.create({ model: 'sora-2', prompt: 'x', params: { size: 'high' } } as never).catch((error: unknown) => error);
    expect(invalid).toBeInstanceOf(ValidationError);
    expect(invalid).toMatchObject({ status: 400, code: 'validation_failed', requestId: expect.any(String) as unknown });
    expect((invalid as ValidationError).details[0]?.path).toBe('params.size');

    const notFound = await client.tasks.get('task_missing').catch((error: unknown) => error);
    expect(notFound).toMatchObject({ name: 'NotFoundError', status: 404, code: 'not_found' });

    const poor = await service.newAccount(0);
    const broke = await new Rivya({ apiKey: poor.key, baseUrl: base }).tasks.create({ model: 'sora-2', prompt: 'x' }).catch((error: unknown) => error);
    expect(broke).toBeInstanceOf(InsufficientCreditsError);

    await expect(new Rivya({ apiKey: 'rv_nope', baseUrl: base, maxRetries: 0 }).account.get()).rejects.toBeInstanceOf(AuthenticationError);

    const limited = await service.newAccount(100, { creates_per_minute: 1 });
    const limitedClient = new Rivya({ apiKey: limited.key, baseUrl: base, maxRetries: 0 });
    await limitedClient.tasks.create({ model: 'sora-2', prompt: 'one' });
    const tooMany = await limitedClient.tasks.create({ model: 'sora-2', prompt: 'two' }).catch((error: unknown) => error);
    expect(tooMany).toBeInstanceOf(RateLimitError);
    expect((tooMany as RateLimitError).retryAfter).toBeGreaterThan(0);

    const done = await client.tasks.run({ model: 'sora-2', prompt: 'done' });
    await expect(client.tasks.cancel(done.id)).rejects.toBeInstanceOf(InvalidStateError);
  });

  it('retries a create whose answer was lost after the server committed it: the same task, one hold', async () => {
    let dropped = 0;
    const keys: string[] = [];
    const dropFirstAnswer: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      if (init?.method === 'POST') keys.push(new Headers(init.headers).get('idempotency-key') ?? '');
      if (init?.method === 'POST' && dropped === 0) {
        dropped++;
        await response.arrayBuffer();
        throw new TypeError('fetch failed: connection reset after the request was processed');
      }
      return response;
    };
    const flaky = new Rivya({ apiKey: key, baseUrl: base, fetch: dropFirstAnswer });
    const task = await flaky.tasks.create({ model: 'sora-2', prompt: 'exactly once', client_request_id: 'dropped-answer' });
    expect(keys).toHaveLength(2);
    expect(keys[0]).toMatch(/^rivya-/);
    expect(keys[1]).toBe(keys[0]);
    const tasks = await client.tasks.list({ client_request_id: 'dropped-answer' });
    expect(tasks.data.map((found) => found.id)).toEqual([task.id]);
    const holds: string[] = [];
    for await (const entry of client.account.ledger({ limit: 100 })) if (entry.task_id === task.id && entry.type === 'hold') holds.push(entry.id);
    expect(holds).toHaveLength(1);
  });

  it('sends back the largest Rivya-Position the service has answered, from a create on through its wait', async () => {
    const exchanges: { sent: string | null; received: string | null }[] = [];
    const recording: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      exchanges.push({ sent: new Headers(init?.headers).get('rivya-position'), received: response.headers.get('rivya-position') });
      return response;
    };
    const positioned = new Rivya({ apiKey: key, baseUrl: base, fetch: recording });
    const created = await positioned.tasks.create({ model: 'sora-2', prompt: 'read your writes' });
    await positioned.tasks.wait(created.id);
    await positioned.account.get();
    expect(exchanges[0]).toEqual({ sent: null, received: expect.stringMatching(/^[1-9]\d*$/) as unknown });
    let largest = 0;
    for (const { sent, received } of exchanges) {
      expect(sent).toBe(largest > 0 ? String(largest) : null);
      largest = Math.max(largest, Number(received ?? 0));
    }
    // The task ran and ended in between: later answers are further on.
    expect(largest).toBeGreaterThan(Number(exchanges[0]!.received));
  });

  it('gives the key of a POST it gave up on, so the caller can resend it without a second task', async () => {
    const loseAnswer: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      await response.arrayBuffer();
      throw new TypeError('fetch failed: the answer was lost');
    };
    const request = { model: 'sora-2', prompt: 'resent by the caller', client_request_id: 'resent-by-caller' } as const;
    const failure = await new Rivya({ apiKey: key, baseUrl: base, fetch: loseAnswer, maxRetries: 0 }).tasks.create(request).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ConnectionError);
    expect((failure as ConnectionError).url).toBe(`${base}/api/v1/tasks`);
    const { idempotencyKey } = failure as ConnectionError;
    expect(idempotencyKey).toMatch(/^rivya-/);
    const task = await client.tasks.create(request, { idempotencyKey: idempotencyKey! });
    expect((await client.tasks.list({ client_request_id: 'resent-by-caller' })).data.map((found) => found.id)).toEqual([task.id]);
  });

  it('answers an oversized upload with PayloadTooLargeError after one try', async () => {
    const path = await makeMedia(join(await mkdtemp(join(tmpdir(), 'rivya-sdk-')), 'base.png'), 'image');
    const big = Buffer.concat([await readFile(path), Buffer.alloc(40_000_000, 7)]);
    for (let round = 0; round < 2; round++) {
      let attempts = 0;
      const counting: typeof fetch = async (input, init) => {
        attempts++;
        return fetch(input, init);
      };
      const failure = await new Rivya({ apiKey: key, baseUrl: base, fetch: counting }).files.upload(big, { name: 'big.png' }).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(PayloadTooLargeError);
      expect(attempts).toBe(1);
    }
  });

  it('reports deleting a file that never existed as not found, even after a retry', async () => {
    let calls = 0;
    const busyOnce: typeof fetch = async (input, init) => {
      calls++;
      if (calls === 1) {
        return new Response(JSON.stringify({ error: { code: 'rate_limited', message: 'slow down', details: null, request_id: 'r1' } }), {
          status: 429, headers: { 'retry-after': '0', 'content-type': 'application/json' },
        });
      }
      return fetch(input, init);
    };
    await expect(new Rivya({ apiKey: key, baseUrl: base, fetch: busyOnce }).files.delete('file_neverExisted')).rejects.toBeInstanceOf(NotFoundError);
    expect(calls).toBe(2);
  });

  it('refuses nonsense timeouts and retries at construction; Infinity means no per-attempt timeout', async () => {
    expect(() => new Rivya({ apiKey: key, baseUrl: base, timeout: Number.NaN })).toThrow(/timeout must be/);
    expect(() => new Rivya({ apiKey: key, baseUrl: base, maxRetries: -1 })).toThrow(/maxRetries must be/);
    expect((await new Rivya({ apiKey: key, baseUrl: base, timeout: Infinity }).account.get()).id).toBe(accountId);
    expect((await new Rivya({ apiKey: key, baseUrl: base, timeout: 2 ** 40 }).account.get()).id).toBe(accountId);
  });

  it('retries uploads and admin creates whose answers were lost without making a second file, account or key', async () => {
    const dropFirstAnswer = () => {
      let dropped = false;
      const wrapped: typeof fetch = async (input, init) => {
        const response = await fetch(input, init);
        if (init?.method === 'POST' && !dropped) {
          dropped = true;
          await response.arrayBuffer();
          throw new TypeError('fetch failed: the answer was lost');
        }
        return response;
      };
      return wrapped;
    };
    const path = await makeMedia(join(await mkdtemp(join(tmpdir(), 'rivya-sdk-')), 'once.png'), 'image');
    const before = (await client.files.list({ limit: 100 })).data.length;
    const file = await new Rivya({ apiKey: key, baseUrl: base, fetch: dropFirstAnswer() }).files.upload(path);
    const after = (await client.files.list({ limit: 100 })).data;
    expect(after).toHaveLength(before + 1);
    expect(after.map((found) => found.id)).toContain(file.id);

    const admin = new RivyaAdmin({ adminToken: ADMIN_TOKEN, baseUrl: base, fetch: dropFirstAnswer() });
    const account = await admin.accounts.create({ name: 'exactly-once', credits: 100 });
    const { rows } = await service.runtime.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM accounts WHERE name = 'exactly-once'`);
    expect(rows[0]!.n).toBe(1);
    expect(account.credits.balance).toBe(100);

    const keyAdmin = new RivyaAdmin({ adminToken: ADMIN_TOKEN, baseUrl: base, fetch: dropFirstAnswer() });
    const replayed = await keyAdmin.keys.create(account.id, { name: 'once' });
    // The replay names the key it made but never repeats the secret (it was in the lost answer).
    expect(replayed.key).toBeNull();
    const { rows: keys } = await service.runtime.db.query<{ n: number }>('SELECT count(*)::int AS n FROM api_keys WHERE account_id = $1', [account.id]);
    expect(keys[0]!.n).toBe(1);
    const { rows: stored } = await service.runtime.db.query<{ body: string }>(`SELECT response_body::text AS body FROM idempotency_keys WHERE scope = 'admin'`);
    expect(stored.map((row) => row.body).join('\n')).not.toMatch(/rv_[A-Za-z0-9]{20,}/);
  });

  it('retries an answer cut off mid-body, and does not retry a 4xx', async () => {
    let calls = 0;
    const cutOnce: typeof fetch = async (input, init) => {
      calls++;
      const response = await fetch(input, init);
      if (calls > 1) return response;
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode('{"id":'));
          controller.error(new TypeError('terminated'));
        },
      });
      return new Response(body, { status: response.status, headers: response.headers });
    };
    expect((await new Rivya({ apiKey: key, baseUrl: base, fetch: cutOnce }).account.get()).id).toBe(accountId);
    expect(calls).toBe(2);

    let attempts = 0;
    const counting: typeof fetch = async (input, init) => {
      attempts++;
      return fetch(input, init);
    };
    await expect(new Rivya({ apiKey: key, baseUrl: base, fetch: counting }).tasks.get('task_missing')).rejects.toBeInstanceOf(NotFoundError);
    expect(attempts).toBe(1);
  });

  it('honours Retry-After on 503 and backs off on network errors, then gives up after maxRetries', async () => {
    let calls = 0;
    const busyOnce: typeof fetch = async (input, init) => {
      calls++;
      if (calls === 1) {
        return new Response(JSON.stringify({ error: { code: 'service_unavailable', message: 'busy', details: null, request_id: 'r1' } }), {
          status: 503, headers: { 'retry-after': '1', 'content-type': 'application/json' },
        });
      }
      return fetch(input, init);
    };
    const started = Date.now();
    await new Rivya({ apiKey: key, baseUrl: base, fetch: busyOnce }).account.get();
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(calls).toBe(2);

    let attempts = 0;
    const down: typeof fetch = async () => {
      attempts++;
      throw new TypeError('fetch failed');
    };
    await expect(new Rivya({ apiKey: key, baseUrl: base, fetch: down, maxRetries: 2 }).account.get()).rejects.toMatchObject({ name: 'ConnectionError' });
    expect(attempts).toBe(3);
  });

  it('waits with long-polls, not a busy loop, and stops when its signal aborts', async () => {
    const idle = await startTestService(BACKENDS[0]!, { listen: true, worker: false });
    try {
      const { key: idleKey } = await idle.newAccount(100);
      let gets = 0;
      const counting: typeof fetch = async (input, init) => {
        if ((init?.method ?? 'GET') === 'GET') gets++;
        return fetch(input, init);
      };
      const idleClient = new Rivya({ apiKey: idleKey, baseUrl: idle.runtime.config.publicUrl, fetch: counting });
      const task = await idleClient.tasks.create({ model: 'sora-2', prompt: 'never runs' });
      const stop = new AbortController();
      const reason = new Error('enough waiting');
      setTimeout(() => stop.abort(reason), 3500);
      const waited = idleClient.tasks.wait(task.id, { pollSeconds: 1, signal: stop.signal });
      await expect(waited).rejects.toBe(reason);
      // One long-poll per second of waiting, not a busy loop.
      expect(gets).toBeGreaterThanOrEqual(3);
      expect(gets).toBeLessThanOrEqual(5);
      const canceled: Task = await idleClient.tasks.cancel(task.id);
      expect(canceled.status).toBe('canceled');
      // run() rejects with TaskFailedError when the task ends other than succeeded (here: canceled meanwhile).
      // Its outcome is taken at once: the stream reports the cancel as soon as it happens, maybe before cancel() returns.
      const running = idleClient.tasks.run({ model: 'sora-2', prompt: 'canceled while run() waits' }, { pollSeconds: 1 }).catch((error: unknown) => error);
      const pending = await waitFor(async () => (await idleClient.tasks.list({ limit: 1 })).data.find((found) => found.prompt === 'canceled while run() waits'), 10_000, 'the task run() made');
      await idleClient.tasks.cancel(pending.id);
      const failure = await running;
      expect(failure).toBeInstanceOf(TaskFailedError);
      expect((failure as TaskFailedError).task.status).toBe('canceled');
      // A bound on the whole wait: TimeoutError, and the task goes on.
      const bounded = await idleClient.tasks.create({ model: 'sora-2', prompt: 'waited for a while' });
      const started = Date.now();
      const timedOut = await idleClient.tasks.wait(bounded.id, { pollSeconds: 1, timeout: 1500 }).catch((error: unknown) => error);
      expect(timedOut).toBeInstanceOf(TimeoutError);
      expect(Date.now() - started).toBeLessThan(3000);
      expect((await idleClient.tasks.get(bounded.id)).status).toBe('queued');
      await expect(idleClient.tasks.run({ model: 'sora-2', prompt: 'run with a bound' }, { pollSeconds: Number.NaN, timeout: 1000 })).rejects.toBeInstanceOf(TimeoutError);
      await expect(idleClient.tasks.list({ status: 'bogus' as never }).catch((error: unknown) => error)).resolves.toBeInstanceOf(ValidationError);
    } finally {
      await idle.close();
    }
  });

  it('lists, creates and revokes the account\'s own keys', async () => {
    const { key: ownKey } = await service.newAccount(0);
    const own = new Rivya({ apiKey: ownKey, baseUrl: base });
    const created = await own.keys.create({ name: 'sdk' });
    expect(created).toMatchObject({ id: expect.stringMatching(/^key_/), key: expect.stringMatching(/^rv_/), name: 'sdk' });
    const fresh = new Rivya({ apiKey: created.key!, baseUrl: base, maxRetries: 0 });
    await fresh.account.get();
    const page = await own.keys.list({ limit: 1 });
    expect(page.data).toHaveLength(1);
    expect(page.data[0]).toMatchObject({ id: created.id, prefix: created.prefix, name: 'sdk' });
    expect(page.data[0]?.last_used_at).not.toBeNull();
    expect(page.data[0]).not.toHaveProperty('key');
    const all: string[] = [];
    for await (const listed of own.keys.list({ limit: 1 })) all.push(listed.name ?? '');
    expect(all).toEqual(['sdk', 'test']);
    // An explicit idempotency key: the replay names the key without its secret.
    const again = await own.keys.create({ name: 'once' }, { idempotencyKey: 'sdk-once' });
    expect((await own.keys.create({ name: 'once' }, { idempotencyKey: 'sdk-once' })).key).toBeNull();
    await own.keys.revoke(again.id);
    expect(await own.keys.revoke(created.id)).toEqual({ id: created.id, revoked: true });
    await expect(fresh.account.get()).rejects.toBeInstanceOf(AuthenticationError);
    await expect(own.keys.revoke('key_missing')).rejects.toBeInstanceOf(NotFoundError);
  });

  it('drives the admin API with the admin token', async () => {
    const admin = new RivyaAdmin({ adminToken: ADMIN_TOKEN, baseUrl: base });
    const account = await admin.accounts.create({ name: 'sdk-admin', credits: 10 });
    const created = await admin.keys.create(account.id, { name: 'ci' });
    expect(created.key).toMatch(/^rv_/);
    const secret = created.key!;
    await admin.credits.grant(account.id, { amount: 5, reason: 'test' });
    expect((await new Rivya({ apiKey: secret, baseUrl: base }).account.get()).credits.balance).toBe(15);
    await admin.keys.revoke(created.id);
    await expect(new Rivya({ apiKey: secret, baseUrl: base, maxRetries: 0 }).account.get()).rejects.toBeInstanceOf(AuthenticationError);
  });
});
