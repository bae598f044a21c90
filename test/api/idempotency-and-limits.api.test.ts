import { describe, expect, it } from 'vitest';
import { requestFingerprint } from '../../src/idempotency/canonical-json.js';
import { BACKENDS } from '../helpers/backends.js';
import { useGatedService } from '../helpers/test-service.js';

describe.each(BACKENDS)('idempotency, concurrency and rate limits on $name', (backend) => {
  const ctx = useGatedService(backend);

  const create = ctx.create;
  const taskCount = async (auth: Record<string, string>) =>
    (await ctx.app.inject({ url: '/api/v1/tasks?limit=100', headers: auth })).json().data.length as number;

  it('replays the first response for the same key and request, whatever the key order and whitespace', async () => {
    const { auth } = await ctx.service.newAccount(100);
    const first = await create(auth, { model: 'sora-2', prompt: 'same', params: { n_frames: '15' } }, { 'idempotency-key': 'k-1' });
    expect(first.statusCode).toBe(201);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    const again = await ctx.app.inject({
      method: 'POST', url: '/api/v1/tasks', headers: { ...auth, 'idempotency-key': 'k-1', 'content-type': 'application/json' },
      payload: '{ "params": {"n_frames": "15"},\n "prompt": "same", "model": "sora-2" }',
    });
    expect(again.statusCode).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json()).toEqual(first.json());
    expect(await taskCount(auth)).toBe(1);
    const account = (await ctx.app.inject({ url: '/api/v1/account', headers: auth })).json();
    expect(account.credits.held).toBe(6);
  });

  it('refuses the same key with a different request (409), and binds nothing on errors', async () => {
    const { auth } = await ctx.service.newAccount(20);
    expect((await create(auth, { model: 'sora-2', prompt: 'a' }, { 'idempotency-key': 'k-2' })).statusCode).toBe(201);
    const conflict = await create(auth, { model: 'sora-2', prompt: 'b' }, { 'idempotency-key': 'k-2' });
    expect(conflict.statusCode).toBe(409);
    expect(conflict.json().error.code).toBe('idempotency_conflict');
    // A failed request (402) does not bind its key: the same key works once credits suffice.
    const poor = await create(auth, { model: 'sora-2-pro', prompt: 'c' }, { 'idempotency-key': 'k-3' });
    expect(poor.statusCode).toBe(402);
    const invalid = await create(auth, { model: 'sora-2', prompt: '' }, { 'idempotency-key': 'k-4' });
    expect(invalid.statusCode).toBe(400);
    expect((await create(auth, { model: 'sora-2', prompt: 'd' }, { 'idempotency-key': 'k-4' })).statusCode).toBe(201);
    // Keys are scoped to the account.
    const other = await ctx.service.newAccount(10);
    expect((await create(other.auth, { model: 'sora-2', prompt: 'a' }, { 'idempotency-key': 'k-2' })).statusCode).toBe(201);
  });

  it('refuses malformed keys', async () => {
    const { auth } = await ctx.service.newAccount(10);
    for (const key of ['has space', 'é', 'x'.repeat(256)]) {
      const response = await create(auth, { model: 'sora-2', prompt: 'a' }, { 'idempotency-key': key });
      expect(response.statusCode).toBe(400);
      expect(response.json().error.details[0].path).toBe('Idempotency-Key');
    }
  });

  it('answers 409 with Retry-After while the first request with a key is in flight', async () => {
    const { auth, accountId } = await ctx.service.newAccount(10);
    // A key whose first request is still being processed (as another process would hold it).
    const body = { model: 'sora-2', prompt: 'a' };
    await ctx.service.runtime.db.query(
      `INSERT INTO idempotency_keys (scope, key, fingerprint, state, owner, locked_until, expires_at)
       VALUES ($1, 'busy', $2, 'in_flight', 'another-process', now() + interval '1 minute', now() + interval '1 day')`,
      [accountId, requestFingerprint('POST', '/api/v1/tasks', body)],
    );
    const response = await create(auth, { model: 'sora-2', prompt: 'a' }, { 'idempotency-key': 'busy' });
    expect(response.statusCode).toBe(409);
    expect(response.headers['retry-after']).toBe('1');
    // A key whose holder died (lock expired) is taken over.
    await ctx.service.runtime.db.query(`UPDATE idempotency_keys SET locked_until = now() - interval '1 second' WHERE key = 'busy'`);
    expect((await create(auth, { model: 'sora-2', prompt: 'a' }, { 'idempotency-key': 'busy' })).statusCode).toBe(201);
  });

  it('20 concurrent creates with one key make exactly one task and one hold', async () => {
    const { auth } = await ctx.service.newAccount(1000, { creates_per_minute: 1000 });
    const responses = await Promise.all(
      Array.from({ length: 20 }, () => create(auth, { model: 'sora-2', prompt: 'once' }, { 'idempotency-key': 'same-key' })),
    );
    const statuses = responses.map((response) => response.statusCode);
    expect(statuses.every((status) => status === 201 || status === 409)).toBe(true);
    const created = responses.filter((response) => response.statusCode === 201);
    expect(created.filter((response) => response.headers['idempotent-replayed'] !== 'true')).toHaveLength(1);
    expect(new Set(created.map((response) => response.json().id)).size).toBe(1);
    expect(await taskCount(auth)).toBe(1);
    const account = (await ctx.app.inject({ url: '/api/v1/account', headers: auth })).json();
    expect(account.credits).toEqual({ balance: 1000, held: 6, available: 994 });
  });

  it('50 concurrent creates against credits for exactly 7 tasks make exactly 7', async () => {
    const { auth } = await ctx.service.newAccount(7 * 6 + 5, { creates_per_minute: 1000, active_tasks: 100 });
    const responses = await Promise.all(Array.from({ length: 50 }, (_, i) => create(auth, { model: 'sora-2', prompt: `race ${i}` })));
    const statuses = responses.map((response) => response.statusCode);
    expect(statuses.filter((status) => status === 201)).toHaveLength(7);
    expect(statuses.filter((status) => status === 402)).toHaveLength(43);
    expect(await taskCount(auth)).toBe(7);
    const account = (await ctx.app.inject({ url: '/api/v1/account', headers: auth })).json();
    expect(account.credits).toEqual({ balance: 47, held: 42, available: 5 });
  });

  it('limits creates per key per minute, with Retry-After and RateLimit headers', async () => {
    const { auth } = await ctx.service.newAccount(1000, { creates_per_minute: 3, active_tasks: 100 });
    const responses = [];
    for (let i = 0; i < 4; i++) responses.push(await create(auth, { model: 'sora-2', prompt: `n${i}` }));
    expect(responses.map((r) => r.statusCode)).toEqual([201, 201, 201, 429]);
    expect(responses[0]?.headers['ratelimit-limit']).toBe('3');
    expect(responses[1]?.headers['ratelimit-remaining']).toBe('1');
    const limited = responses[3];
    expect(Number(limited?.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(limited?.json().error).toMatchObject({ code: 'rate_limited', details: { scope: 'creates', limit: 3, window_s: 60 } });
    // A replay is not a create: it is answered even when the create budget is spent.
    const replayed = await create(auth, { model: 'sora-2', prompt: 'n0' }, { 'idempotency-key': 'first' });
    expect(replayed.statusCode).toBe(429);
    // Reads are a separate budget.
    expect((await ctx.app.inject({ url: '/api/v1/account', headers: auth })).statusCode).toBe(200);
  });

  it('does not count creates against the key\'s other requests', async () => {
    const { auth } = await ctx.service.newAccount(1000, { requests_per_minute: 2, active_tasks: 100 });
    for (let i = 0; i < 4; i++) expect((await create(auth, { model: 'sora-2', prompt: `c${i}` })).statusCode).toBe(201);
    const reads = [];
    for (let i = 0; i < 3; i++) reads.push((await ctx.app.inject({ url: '/api/v1/account', headers: auth })).statusCode);
    expect(reads).toEqual([200, 200, 429]);
    // A refused body is not a create: it counts as one of the other requests (here: over budget, still answered).
    const refused = await create(auth, { model: 'sora-2' });
    expect(refused.statusCode).toBe(400);
    expect(refused.headers['ratelimit-remaining']).toBe('0');
  });

  it('limits other requests per key per minute', async () => {
    const { auth } = await ctx.service.newAccount(10, { requests_per_minute: 5 });
    const statuses = [];
    for (let i = 0; i < 6; i++) statuses.push((await ctx.app.inject({ url: '/api/v1/account', headers: auth })).statusCode);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
  });

  it('limits active tasks per account', async () => {
    const { auth } = await ctx.service.newAccount(1000, { active_tasks: 2 });
    const first = await create(auth, { model: 'sora-2', prompt: 'a' });
    await create(auth, { model: 'sora-2', prompt: 'b' });
    const third = await create(auth, { model: 'sora-2', prompt: 'c' });
    expect(third.statusCode).toBe(429);
    expect(third.json().error.details).toMatchObject({ scope: 'active_tasks', limit: 2 });
    expect(third.headers['retry-after']).toBeDefined();
    await ctx.app.inject({ method: 'POST', url: `/api/v1/tasks/${first.json().id}/cancel`, headers: auth });
    expect((await create(auth, { model: 'sora-2', prompt: 'd' })).statusCode).toBe(201);
  });

  it('refuses missing, unknown and revoked keys, and limits failed attempts per address', async () => {
    const { auth, accountId } = await ctx.service.newAccount(10);
    expect((await ctx.app.inject({ url: '/api/v1/account' })).json().error.code).toBe('unauthorized');
    expect((await ctx.app.inject({ url: '/api/v1/account', headers: { authorization: 'Bearer rv_nope' } })).statusCode).toBe(401);
    expect((await ctx.app.inject({ url: '/api/v1/account', headers: { authorization: 'Basic abc' } })).statusCode).toBe(401);
    const key = await ctx.service.runtime.accounts.createApiKey(accountId, 'to revoke');
    const revokedAuth = { authorization: `Bearer ${key.key}` };
    expect((await ctx.app.inject({ url: '/api/v1/account', headers: revokedAuth })).statusCode).toBe(200);
    await ctx.service.runtime.accounts.revokeApiKey(key.id);
    expect((await ctx.app.inject({ url: '/api/v1/account', headers: revokedAuth })).statusCode).toBe(401);
    expect((await ctx.app.inject({ url: '/api/v1/account', headers: auth })).statusCode).toBe(200);
    // From one address: after the allowed failures, its failures get 429 for a while; a good key behind it still works.
    const address = { remoteAddress: '10.9.8.7' };
    const statuses = [];
    for (let i = 0; i < 31; i++) {
      statuses.push((await ctx.app.inject({ url: '/api/v1/account', headers: { authorization: `Bearer bad-${i}` }, ...address })).statusCode);
    }
    expect(statuses.filter((status) => status === 401)).toHaveLength(30);
    expect(statuses.at(-1)).toBe(429);
    const blocked = await ctx.app.inject({ url: '/api/v1/account', headers: { authorization: 'Bearer bad-again' }, ...address });
    expect(blocked.statusCode).toBe(429);
    expect(blocked.json().error.details.scope).toBe('auth_failures');
    expect((await ctx.app.inject({ url: '/api/v1/account', headers: auth, ...address })).statusCode).toBe(200);
    expect((await ctx.app.inject({ url: '/api/v1/account', ...address })).statusCode).toBe(429);
  });
});
