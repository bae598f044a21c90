import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccountStore } from '../../src/accounts/account-store.js';
import { MAX_ACTIVE_KEYS_PER_ACCOUNT } from '../../src/http/routes/keys.js';
import { BACKENDS } from '../helpers/backends.js';
import { startTestService, type TestService } from '../helpers/test-service.js';
import { waitFor } from '../helpers/wait-for.js';

interface Listed { id: string; prefix: string; name: string | null; created_at: string; last_used_at: string | null }

describe.each(BACKENDS)('self-service API keys on $name', (backend) => {
  let service: TestService;
  let app: FastifyInstance;
  beforeAll(async () => {
    service = await startTestService(backend, { worker: false, captureLogs: 'info' });
    app = service.runtime.app as FastifyInstance;
  });
  afterAll(async () => {
    await service?.close();
  });

  const call = (auth: Record<string, string>, method: string, url: string, payload?: unknown, headers: Record<string, string> = {}) =>
    app.inject({ method: method as 'GET', url, headers: { ...auth, ...headers }, ...(payload !== undefined ? { payload: payload as object } : {}) });
  const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
  const listAll = async (auth: Record<string, string>): Promise<Listed[]> => (await call(auth, 'GET', '/api/v1/keys?limit=100')).json().data;

  it('creates a key shown once, lists keys newest first without secrets, pages them, and revokes one', async () => {
    const { auth, key: firstKey } = await service.newAccount(0);
    const created = await call(auth, 'POST', '/api/v1/keys', { name: 'laptop' });
    expect(created.statusCode, created.body).toBe(201);
    const key = created.json();
    expect(Object.keys(key).sort()).toEqual(['created_at', 'id', 'key', 'name', 'prefix']);
    expect(key).toMatchObject({ id: expect.stringMatching(/^key_/), key: expect.stringMatching(/^rv_[0-9A-Za-z]{40}$/), name: 'laptop' });
    expect(key.prefix).toBe(key.key.slice(0, 10));
    expect(created.headers['ratelimit-limit']).toBeDefined();
    // The new key works over the API, on the same account.
    const me = await call(bearer(key.key), 'GET', '/api/v1/account');
    expect(me.statusCode).toBe(200);
    expect(me.json().id).toBe((await call(auth, 'GET', '/api/v1/account')).json().id);

    const unnamed = (await call(auth, 'POST', '/api/v1/keys')).json();
    expect(unnamed.name).toBeNull();

    const page = await call(auth, 'GET', '/api/v1/keys?limit=2');
    expect(page.statusCode).toBe(200);
    const first = page.json();
    expect(first.data.map((k: Listed) => k.id)).toEqual([unnamed.id, key.id]);
    expect(first.has_more).toBe(true);
    for (const listed of first.data) expect(Object.keys(listed).sort()).toEqual(['created_at', 'id', 'last_used_at', 'name', 'prefix']);
    // Never the key, nor its hash.
    expect(page.body).not.toContain(key.key);
    expect(page.body).not.toContain(unnamed.key);
    const { rows } = await service.runtime.db.query<{ key_hash: string }>('SELECT key_hash FROM api_keys WHERE id = $1', [key.id]);
    expect(page.body).not.toContain(rows[0]?.key_hash);
    const rest = (await call(auth, 'GET', `/api/v1/keys?limit=2&cursor=${first.next_cursor}`)).json();
    expect(rest).toMatchObject({ has_more: false, next_cursor: null });
    expect(rest.data).toHaveLength(1);
    expect(rest.data[0]).toMatchObject({ name: 'test', prefix: firstKey.slice(0, 10) });
    expect((await call(auth, 'GET', '/api/v1/keys?cursor=nonsense')).statusCode).toBe(400);
    expect((await call(auth, 'GET', '/api/v1/keys?limit=0')).statusCode).toBe(400);

    // Revoked: refused at once, no longer listed; revoking again answers as the first time (as the admin route does).
    const revoked = await call(auth, 'DELETE', `/api/v1/keys/${key.id}`);
    expect(revoked.statusCode).toBe(200);
    expect(revoked.json()).toEqual({ id: key.id, revoked: true });
    const refused = await call(bearer(key.key), 'GET', '/api/v1/account');
    expect(refused.statusCode).toBe(401);
    expect(refused.json().error.code).toBe('unauthorized');
    expect((await listAll(auth)).map((k) => k.id)).toEqual([unnamed.id, rest.data[0].id]);
    const again = await call(auth, 'DELETE', `/api/v1/keys/${key.id}`);
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual({ id: key.id, revoked: true });
    expect((await call(auth, 'DELETE', '/api/v1/keys/key_missing')).json().error.code).toBe('not_found');

    // Actions are logged with key ids, never a key.
    const actions = service.logs.map((line) => JSON.parse(line)).filter((entry) => entry.msg === 'account action');
    expect(actions).toEqual(expect.arrayContaining([
      expect.objectContaining({ account_action: 'key_created', key_id: key.id }),
      expect.objectContaining({ account_action: 'key_revoked', key_id: key.id }),
    ]));
    expect(actions.filter((entry) => entry.account_action === 'key_revoked' && entry.key_id === key.id)).toHaveLength(1);
    expect(service.logs.join('\n')).not.toContain(key.key);
  });

  it('validates the body like the admin route', async () => {
    const { auth } = await service.newAccount(0);
    for (const payload of [{ name: '' }, { name: 'x'.repeat(201) }, { name: 5 }, { nom: 'x' }, [1]]) {
      const response = await call(auth, 'POST', '/api/v1/keys', payload);
      expect(response.statusCode, JSON.stringify(payload)).toBe(400);
      expect(response.json().error.code).toBe('validation_failed');
    }
    expect((await call({}, 'GET', '/api/v1/keys')).statusCode).toBe(401);
    expect((await call({}, 'POST', '/api/v1/keys', {})).statusCode).toBe(401);
    expect((await call(bearer('rv_unknown'), 'DELETE', '/api/v1/keys/key_x')).statusCode).toBe(401);
  });

  it('answers 404 for another account\'s key, and leaves that key working', async () => {
    const mine = await service.newAccount(0);
    const theirs = await service.newAccount(0);
    const [theirKey] = await listAll(theirs.auth);
    const response = await call(mine.auth, 'DELETE', `/api/v1/keys/${theirKey?.id}`);
    expect(response.statusCode).toBe(404);
    expect(response.json().error.code).toBe('not_found');
    expect((await call(theirs.auth, 'GET', '/api/v1/account')).statusCode).toBe(200);
    expect((await listAll(mine.auth)).map((k) => k.id)).not.toContain(theirKey?.id);
  });

  it('replays an idempotent create without making a second key or repeating the secret', async () => {
    const { auth } = await service.newAccount(0);
    const headers = { 'idempotency-key': 'mint-1' };
    const first = await call(auth, 'POST', '/api/v1/keys', { name: 'ci' }, headers);
    expect(first.statusCode).toBe(201);
    const replay = await call(auth, 'POST', '/api/v1/keys', { name: 'ci' }, headers);
    expect(replay.statusCode).toBe(201);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.json()).toEqual({ ...first.json(), key: null });
    expect(await listAll(auth)).toHaveLength(2);
    const conflict = await call(auth, 'POST', '/api/v1/keys', { name: 'other' }, headers);
    expect(conflict.statusCode).toBe(409);
    expect(conflict.json().error.code).toBe('idempotency_conflict');
    // Another account's use of the same idempotency key is its own request.
    const other = await service.newAccount(0);
    const theirs = await call(other.auth, 'POST', '/api/v1/keys', { name: 'ci' }, headers);
    expect(theirs.headers['idempotent-replayed']).toBeUndefined();
    expect(theirs.json().key).toMatch(/^rv_/);
  });

  it(`caps an account at ${MAX_ACTIVE_KEYS_PER_ACCOUNT} live keys, concurrent creates included; a revoke frees a place`, async () => {
    const { auth } = await service.newAccount(0);
    // The account has 1 key; ask for more than the cap at once.
    const answers = await Promise.all(
      Array.from({ length: MAX_ACTIVE_KEYS_PER_ACCOUNT + 4 }, (_, i) => call(auth, 'POST', '/api/v1/keys', { name: `k${i}` })),
    );
    const statuses = answers.map((a) => a.statusCode);
    expect(statuses.filter((s) => s === 201)).toHaveLength(MAX_ACTIVE_KEYS_PER_ACCOUNT - 1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(5);
    const refused = answers.find((a) => a.statusCode === 409)?.json();
    expect(refused.error).toMatchObject({ code: 'invalid_state', details: { limit: MAX_ACTIVE_KEYS_PER_ACCOUNT } });
    expect(refused.error.message).toContain(`at most ${MAX_ACTIVE_KEYS_PER_ACCOUNT} active API keys`);
    const live = await listAll(auth);
    expect(live).toHaveLength(MAX_ACTIVE_KEYS_PER_ACCOUNT);
    const victim = live.find((k) => k.name !== 'test');
    expect((await call(auth, 'DELETE', `/api/v1/keys/${victim?.id}`)).statusCode).toBe(200);
    expect((await call(auth, 'POST', '/api/v1/keys', {})).statusCode).toBe(201);
    expect((await call(auth, 'POST', '/api/v1/keys', {})).statusCode).toBe(409);
  });

  it('records last_used_at on use, at most once per interval', async () => {
    const { auth } = await service.newAccount(0);
    const created = (await call(auth, 'POST', '/api/v1/keys', { name: 'fresh' })).json();
    const lastUsed = async () => (await listAll(auth)).find((k) => k.id === created.id)?.last_used_at;
    expect(await lastUsed()).toBeNull();
    const before = Date.now();
    expect((await call(bearer(created.key), 'GET', '/api/v1/account')).statusCode).toBe(200);
    const first = await lastUsed();
    expect(first).not.toBeNull();
    expect(Date.parse(first as string)).toBeGreaterThanOrEqual(before - 1000);
    // Within the minute, more requests write nothing.
    await call(bearer(created.key), 'GET', '/api/v1/account');
    expect(await lastUsed()).toBe(first);

    // Another process (a second store on the same database) with a short interval moves it again.
    const other = createAccountStore(service.runtime.db, { lastUsedIntervalMs: 20 });
    await service.runtime.db.query("UPDATE api_keys SET last_used_at = now() - interval '1 hour' WHERE id = $1", [created.id]);
    expect(await other.authenticate(created.key)).not.toBeNull();
    const moved = await lastUsed();
    expect(Date.parse(moved as string)).toBeGreaterThan(Date.now() - 60_000);
  });

  it('refuses a revoked key in another API process within the auth cache TTL, as an admin revoke does', async () => {
    const { auth } = await service.newAccount(0);
    const created = (await call(auth, 'POST', '/api/v1/keys', {})).json();
    // A second process has the key cached.
    const other = createAccountStore(service.runtime.db, { authCacheTtlMs: 300 });
    expect(await other.authenticate(created.key)).not.toBeNull();
    expect((await call(auth, 'DELETE', `/api/v1/keys/${created.id}`)).statusCode).toBe(200);
    // This process: at once.
    expect((await call(bearer(created.key), 'GET', '/api/v1/account')).statusCode).toBe(401);
    // The other: once its cache entry lapses (the same window as an admin revoke's).
    const started = Date.now();
    await waitFor(async () => (await other.authenticate(created.key)) === null, 5_000, 'the other process to refuse the key');
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('lets a key revoke itself; its next request is refused', async () => {
    const { auth } = await service.newAccount(0);
    const [own] = await listAll(auth);
    expect((await call(auth, 'DELETE', `/api/v1/keys/${own?.id}`)).statusCode).toBe(200);
    expect((await call(auth, 'GET', '/api/v1/keys')).statusCode).toBe(401);
  });
});
