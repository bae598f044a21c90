import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSessionStore } from '../../src/accounts/session-store.js';
import { BACKENDS } from '../helpers/backends.js';
import { startTestService, type TestService } from '../helpers/test-service.js';

const ORIGIN = 'http://localhost:8080';

describe.each(BACKENDS)('console sessions on $name', (backend) => {
  let service: TestService;
  let app: FastifyInstance;
  beforeAll(async () => {
    service = await startTestService(backend, { worker: false });
    app = service.runtime.app as FastifyInstance;
  });
  afterAll(async () => {
    await service?.close();
  });

  const signIn = async (key: string, headers: Record<string, string> = {}) =>
    app.inject({
      method: 'POST', url: '/console/sign-in', payload: `key=${encodeURIComponent(key)}`,
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: ORIGIN, 'sec-fetch-site': 'same-origin', ...headers },
    });
  const session = async (key: string) => {
    const answer = await signIn(key);
    expect(answer.statusCode, answer.body).toBe(303);
    const cookie = String(answer.headers['set-cookie']);
    const token = /rivya_session=([^;]+)/.exec(cookie)?.[1] as string;
    const page = await app.inject({ method: 'GET', url: '/console', headers: { cookie: `rivya_session=${token}` } });
    const csrf = /data-csrf="([^"]+)"/.exec(page.body)?.[1] as string;
    return { cookie, token, csrf, headers: { cookie: `rivya_session=${token}` } };
  };

  it('signs in with a key: an HttpOnly, SameSite=Strict, expiring cookie, stored only as a hash', async () => {
    const { key } = await service.newAccount(100);
    const { cookie, token } = await session(key);
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    expect(cookie).toMatch(/Max-Age=43200/);
    expect(cookie).toMatch(/Path=\//);
    expect(cookie).not.toMatch(/Secure/); // served over http here
    expect(cookie).not.toContain(key);
    const { rows } = await service.runtime.db.query<{ token_hash: string }>('SELECT token_hash FROM console_sessions');
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.map((row) => row.token_hash).join()).not.toContain(token);
  });

  it('marks the cookie Secure behind an https public URL', async () => {
    const https = await startTestService(backend, { worker: false, env: { RIVYA_PUBLIC_URL: 'https://rivya.example' } });
    try {
      const account = await https.newAccount(0);
      const answer = await (https.runtime.app as FastifyInstance).inject({
        method: 'POST', url: '/console/sign-in', payload: `key=${account.key}`, headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      expect(answer.statusCode).toBe(303);
      expect(String(answer.headers['set-cookie'])).toMatch(/; Secure/);
    } finally {
      await https.close();
    }
  });

  it('refuses an unknown key with 401 and no cookie, and a cross-site sign-in form with 403', async () => {
    const bad = await signIn('rv_0000000000000000000000000000000000000000');
    expect(bad.statusCode).toBe(401);
    expect(bad.headers['set-cookie']).toBeUndefined();
    expect(bad.body).toContain('unknown or revoked');
    const { key } = await service.newAccount(0);
    const cross = await signIn(key, { 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' });
    expect(cross.statusCode).toBe(403);
    expect(cross.headers['set-cookie']).toBeUndefined();
  });

  it('lets the cookie stand in for Authorization on /api/v1, with the same rate limit headers', async () => {
    const { key, accountId } = await service.newAccount(42);
    const { headers } = await session(key);
    const me = await app.inject({ method: 'GET', url: '/api/v1/account', headers });
    expect(me.statusCode, me.body).toBe(200);
    expect(me.json()).toMatchObject({ id: accountId, credits: { balance: 42 } });
    expect(me.headers['ratelimit-limit']).toBeDefined();
    // Without a cookie, nothing.
    expect((await app.inject({ method: 'GET', url: '/api/v1/account' })).statusCode).toBe(401);
  });

  it('requires the CSRF token and a same-site origin on state-changing requests by cookie (else 401: the cookie alone does not authenticate them)', async () => {
    const { key } = await service.newAccount(100);
    const { headers, csrf } = await session(key);
    expect(csrf).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    const post = (extra: Record<string, string>) =>
      app.inject({ method: 'POST', url: '/api/v1/keys', headers: { ...headers, ...extra }, payload: { name: 'from console' } });
    const missing = await post({});
    expect(missing.statusCode).toBe(401);
    expect(missing.json().error).toMatchObject({ code: 'unauthorized', request_id: expect.stringMatching(/^req_/) });
    expect((await post({ 'x-csrf-token': 'wrong' })).statusCode).toBe(401);
    const crossSite = await post({ 'x-csrf-token': csrf, 'sec-fetch-site': 'cross-site' });
    expect(crossSite.statusCode).toBe(401);
    expect(crossSite.json().error.code).toBe('unauthorized');
    expect((await post({ 'x-csrf-token': csrf, origin: 'https://evil.example' })).statusCode).toBe(401);
    const ok = await post({ 'x-csrf-token': csrf, origin: ORIGIN, 'sec-fetch-site': 'same-origin' });
    expect(ok.statusCode, ok.body).toBe(201);
    // Idempotency works for cookie requests as for any client.
    const again = await post({ 'x-csrf-token': csrf, 'idempotency-key': 'console-1' });
    const replay = await post({ 'x-csrf-token': csrf, 'idempotency-key': 'console-1' });
    expect(again.statusCode).toBe(201);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    // A Bearer key needs no CSRF token: no browser sends it by itself.
    const bearer = await app.inject({ method: 'POST', url: '/api/v1/keys', headers: { authorization: `Bearer ${key}` }, payload: {} });
    expect(bearer.statusCode).toBe(201);
    // Validation is the API's: a bad task body through the cookie is validation_failed with its paths.
    const bad = await app.inject({
      method: 'POST', url: '/api/v1/tasks', headers: { ...headers, 'x-csrf-token': csrf },
      payload: { model: 'sora-2', prompt: 'x', params: { n_frames: '12' } },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.details).toEqual([expect.objectContaining({ path: 'params.n_frames' })]);
  });

  it('ends the session on sign-out (the old cookie then gets 401), and sign-out needs the CSRF token', async () => {
    const { key } = await service.newAccount(0);
    const { headers, csrf } = await session(key);
    const form = { 'content-type': 'application/x-www-form-urlencoded', origin: ORIGIN };
    const forged = await app.inject({ method: 'POST', url: '/console/sign-out', headers: { ...headers, ...form }, payload: 'csrf_token=nope' });
    expect(forged.statusCode).toBe(403);
    expect((await app.inject({ method: 'GET', url: '/api/v1/account', headers })).statusCode).toBe(200);
    const out = await app.inject({ method: 'POST', url: '/console/sign-out', headers: { ...headers, ...form }, payload: `csrf_token=${csrf}` });
    expect(out.statusCode).toBe(303);
    expect(out.headers.location).toBe('/console/sign-in');
    expect(String(out.headers['set-cookie'])).toMatch(/Max-Age=0/);
    const after = await app.inject({ method: 'GET', url: '/api/v1/account', headers });
    expect(after.statusCode).toBe(401);
    expect(after.json().error.message).toContain('session has ended');
    const page = await app.inject({ method: 'GET', url: '/console', headers });
    expect(page.statusCode).toBe(303);
  });

  it('ends the session a browser already had when it signs in again, and compares the sign-out token exactly', async () => {
    const first = await service.newAccount(0);
    const second = await service.newAccount(0);
    const old = await session(first.key);
    // Signing in (as another account here) from a browser that holds a live session ends that session.
    const again = await signIn(second.key, old.headers);
    expect(again.statusCode).toBe(303);
    expect(String(again.headers['set-cookie'])).not.toContain(old.token);
    expect((await app.inject({ method: 'GET', url: '/api/v1/account', headers: old.headers })).statusCode).toBe(401);
    // A sign-out form whose token is sent twice (an array) is refused, the session kept.
    const current = await session(second.key);
    const twice = await app.inject({
      method: 'POST', url: '/console/sign-out', headers: { ...current.headers, origin: ORIGIN }, payload: { csrf_token: [current.csrf, current.csrf] },
    });
    expect(twice.statusCode).toBe(403);
    expect((await app.inject({ method: 'GET', url: '/api/v1/account', headers: current.headers })).statusCode).toBe(200);
  });

  it('counts the session\'s requests as uses of its key (last_used_at)', async () => {
    const { accountId } = await service.newAccount(0);
    const account = await service.runtime.accounts.getAccount(accountId);
    const keyId = (await service.runtime.db.query<{ id: string }>('SELECT id FROM api_keys WHERE account_id = $1', [accountId])).rows[0]?.id as string;
    // A session started in another process (its sign-in recorded the key's use there, an hour ago).
    const { token } = await createSessionStore(service.runtime.db).create({ keyId, account: account as NonNullable<typeof account> });
    await service.runtime.db.query("UPDATE api_keys SET last_used_at = now() - interval '1 hour' WHERE id = $1", [keyId]);
    const before = Date.now();
    const me = await app.inject({ method: 'GET', url: '/api/v1/account', headers: { cookie: `rivya_session=${token}` } });
    expect(me.statusCode).toBe(200);
    const { rows } = await service.runtime.db.query<{ last_used_at: Date }>('SELECT last_used_at FROM api_keys WHERE id = $1', [keyId]);
    expect(rows[0]?.last_used_at.getTime()).toBeGreaterThanOrEqual(before - 1000);
  });

  it('ends the session when its key is revoked, even by another process (the store is shared)', async () => {
    const { key } = await service.newAccount(0);
    const { headers, csrf } = await session(key);
    const keyId = (await app.inject({ method: 'GET', url: '/api/v1/keys', headers })).json().data[0].id as string;
    // Revoked straight in the database, as another API process would: no cache of this process knows.
    await service.runtime.db.query('UPDATE api_keys SET revoked_at = now() WHERE id = $1', [keyId]);
    expect((await app.inject({ method: 'GET', url: '/api/v1/account', headers })).statusCode).toBe(401);
    // Revoking through the API by the session itself also ends it.
    const other = await service.newAccount(0);
    const s2 = await session(other.key);
    const ownId = (await app.inject({ method: 'GET', url: '/api/v1/keys', headers: s2.headers })).json().data[0].id as string;
    const revoke = await app.inject({ method: 'DELETE', url: `/api/v1/keys/${ownId}`, headers: { ...s2.headers, 'x-csrf-token': s2.csrf } });
    expect(revoke.statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/api/v1/account', headers: s2.headers })).statusCode).toBe(401);
    expect(csrf).not.toBe(s2.csrf);
  });

  it('expires sessions: an expired one is refused', async () => {
    const { key } = await service.newAccount(0);
    const { headers, token } = await session(key);
    const hash = createHash('sha256').update(token).digest('hex');
    await service.runtime.db.query("UPDATE console_sessions SET expires_at = now() - interval '1 second' WHERE token_hash = $1", [hash]);
    expect((await app.inject({ method: 'GET', url: '/api/v1/account', headers })).statusCode).toBe(401);
  });

  it('documents the cookie in OpenAPI: a second security scheme, and no status outside the contract\'s table', async () => {
    const document = (await app.inject({ method: 'GET', url: '/api/v1/openapi.json' })).json();
    expect(document.components.securitySchemes.consoleSession).toMatchObject({ type: 'apiKey', in: 'cookie', name: 'rivya_session' });
    expect(document.components.securitySchemes.consoleSession.description).toContain('X-CSRF-Token');
    expect(document.security).toEqual([{ bearerAuth: [] }, { consoleSession: [] }]);
    expect(document.paths['/api/v1/tasks'].post.responses['401']).toBeDefined();
    expect(document.paths['/api/v1/keys/{id}'].delete.responses['401']).toBeDefined();
    for (const item of Object.values<Record<string, { responses?: Record<string, unknown> }>>(document.paths)) {
      for (const operation of Object.values(item)) expect(Object.keys(operation.responses ?? {})).not.toContain('403');
    }
  });

  it('serves every console page in both languages to a session, under the strict CSP, and redirects others to sign-in', async () => {
    const { key } = await service.newAccount(0);
    const { headers } = await session(key);
    for (const prefix of ['', '/bn']) {
      for (const path of ['', '/tasks', '/credits', '/files', '/keys', '/webhooks', '/tasks/task_x']) {
        const page = await app.inject({ method: 'GET', url: `${prefix}/console${path}`, headers });
        expect(page.statusCode, `${prefix}/console${path}`).toBe(200);
        expect(page.headers['content-security-policy']).toMatch(/default-src 'self'/);
        expect(page.headers['cache-control']).toBe('no-store');
        expect(page.body).toContain(`lang="${prefix ? 'bn' : 'en'}"`);
        expect(page.body).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
        expect(page.body).not.toMatch(/\sstyle=/);
        expect(page.body).not.toContain(key);
        const anonymous = await app.inject({ method: 'GET', url: `${prefix}/console${path}` });
        expect(anonymous.statusCode).toBe(303);
        expect(anonymous.headers.location).toBe(`${prefix}/console/sign-in`);
      }
    }
    // Addresses and methods the console has no page for are pages too, under the same headers.
    for (const [method, url] of [['GET', '/console/nope'], ['GET', '/console/'], ['GET', '/bn/console/tasks/a/b'], ['POST', '/console'], ['DELETE', '/console/keys'], ['OPTIONS', '/console/sign-in']] as const) {
      for (const extra of [{}, headers]) {
        const missing = await app.inject({ method, url, headers: extra });
        expect(missing.statusCode, `${method} ${url}`).toBe(404);
        expect(missing.headers['content-type'], `${method} ${url}`).toMatch(/^text\/html/);
        expect(missing.headers['content-security-policy'], `${method} ${url}`).toMatch(/default-src 'self'/);
        expect(missing.headers['x-frame-options']).toBe('DENY');
        expect(missing.headers['cache-control']).toBe('no-store');
      }
    }
    expect((await app.inject({ method: 'GET', url: '/bn/console/nope' })).body).toContain('lang="bn"');
    const signInPage = await app.inject({ method: 'GET', url: '/bn/console/sign-in' });
    expect(signInPage.statusCode).toBe(200);
    expect(signInPage.body).toContain('lang="bn"');
  });
});
