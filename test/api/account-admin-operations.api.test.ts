import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { MODELS } from '../../src/catalog/models.js';
import { BACKENDS } from '../helpers/backends.js';
import { ADMIN_TOKEN, startTestService, type TestService } from '../helpers/test-service.js';
import { waitFor } from '../helpers/wait-for.js';

describe.each(BACKENDS)('models, account, admin and operations on $name', (backend) => {
  let service: TestService;
  let app: FastifyInstance;
  const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

  beforeAll(async () => {
    service = await startTestService(backend);
    app = service.runtime.app as FastifyInstance;
  });
  afterAll(async () => {
    await service?.close();
  });

  it('serves the public catalog, field for field from the model pages', async () => {
    const list = await app.inject({ url: '/api/v1/models' });
    expect(list.statusCode).toBe(200);
    const { data } = list.json();
    expect(data.map((model: { id: string }) => model.id)).toEqual(['sora-2', 'sora-2-pro']);
    const pro = (await app.inject({ url: '/api/v1/models/sora-2-pro' })).json();
    expect(pro).toMatchObject({
      id: 'sora-2-pro', name: 'Sora 2 Pro', category: 'video', inputs: ['text', 'file'], files: 'required_for_reference_modes',
      credits: 75, pricing: 'fixed', prompt_max_chars: 10000,
      upload_policy: { max_files: 1, kinds: [{ kind: 'image', max_bytes: 10_000_000, mime_types: ['image/jpeg', 'image/png', 'image/webp'] }] },
    });
    expect(pro.params.map((p: { key: string }) => p.key)).toEqual(['size', 'n_frames', 'aspect_ratio', 'remove_watermark', 'upload_method']);
    expect(pro.params[0]).toEqual({
      key: 'size', type: 'select', required: false, default: null, options: ['standard', 'high'], description: 'Quality tier', notes: expect.any(String),
    });
    // The page's one-word descriptions are kept; notes say what they mean and what happens without a default.
    const notes = Object.fromEntries(pro.params.map((p: { key: string; notes: string }) => [p.key, p.notes]));
    expect(notes['n_frames']).toMatch(/length of the video in seconds/);
    expect(notes['size']).toMatch(/no default.*left out.*made at standard/);
    expect(notes['size']).toContain('1280×720');
    expect(notes['aspect_ratio']).toContain('720×1280');
    const sora2 = (await app.inject({ url: '/api/v1/models/sora-2' })).json();
    expect(sora2.credits).toBe(6);
    expect(sora2.params.map((p: { key: string }) => p.key)).toEqual(['n_frames', 'aspect_ratio', 'remove_watermark', 'upload_method']);
    const missing = await app.inject({ url: '/api/v1/models/sora-3' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error.code).toBe('not_found');
  });

  it('serves an OpenAPI document derived from the catalog', async () => {
    const doc = (await app.inject({ url: '/api/v1/openapi.json' })).json();
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/api/v1/tasks', '/api/v1/tasks/{id}', '/api/v1/tasks/{id}/cancel', '/api/v1/models', '/api/v1/account/ledger']));
    const variants = doc.components.schemas.CreateTaskRequest.oneOf.map((variant: { $ref: string }) => doc.components.schemas[variant.$ref.split('/').at(-1)!]);
    expect(variants).toHaveLength(MODELS.length);
    expect(variants.map((variant: { properties: { model: { const: string } } }) => variant.properties.model.const)).toEqual(['sora-2', 'sora-2-pro']);
    expect(Object.keys(variants[0].properties.params.properties)).not.toContain('size');
    expect(Object.keys(variants[1].properties.params.properties)).toContain('size');
    // Every public route is described, and every described operation is a route of the service.
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/api/v1/files', '/api/v1/files/{id}', '/api/v1/account']));
    expect(Object.keys(doc.paths['/api/v1/files/{id}'])).toEqual(['get', 'delete']);
    expect(doc.paths['/api/v1/files'].post.requestBody.content).toHaveProperty('multipart/form-data');
    for (const [path, operations] of Object.entries(doc.paths as Record<string, Record<string, unknown>>)) {
      for (const method of Object.keys(operations)) {
        expect(app.hasRoute({ method: method.toUpperCase(), url: path.replace(/\{(\w+)\}/g, ':$1') }), `${method} ${path}`).toBe(true);
      }
    }
  });

  it('answers GET / with the service, its version and links that work: JSON, or a small page for a browser', async () => {
    const { version } = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    for (const accept of [undefined, '*/*', 'application/json', 'application/json, text/html;q=0.5']) {
      const response = await app.inject({ url: '/', headers: accept ? { accept } : {} });
      expect(response.statusCode, accept).toBe(200);
      expect(response.headers['content-type']).toMatch(/^application\/json/);
      expect(response.headers['vary']).toMatch(/Accept/i);
      expect(response.json()).toEqual({
        name: 'Rivya', description: expect.any(String), version, api: { version: 'v1', base: '/api/v1' },
        links: { docs: '/docs', openapi: '/api/v1/openapi.json', models: '/api/v1/models', health: '/healthz', readiness: '/readyz' },
      });
    }
    const { links } = (await app.inject({ url: '/' })).json<{ links: Record<string, string> }>();
    for (const href of Object.values(links)) expect((await app.inject({ url: href })).statusCode, href).toBe(200);
    // A browser's Accept header gets a page with the same links.
    const browser = await app.inject({ url: '/', headers: { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' } });
    expect(browser.statusCode).toBe(200);
    expect(browser.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(browser.headers['content-security-policy']).toBe("default-src 'none'");
    expect(browser.body).toContain(`<h1>Rivya <small>${version}</small></h1>`);
    for (const href of Object.values(links)) expect(browser.body).toContain(`<a href="${href}">`);
    expect((await app.inject({ method: 'HEAD', url: '/' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'POST', url: '/' })).json().error.code).toBe('not_found');
  });

  it('answers unknown routes with the error envelope', async () => {
    const response = await app.inject({ url: '/api/v2/nothing' });
    expect(response.statusCode).toBe(404);
    expect(response.json()).toEqual({
      error: { code: 'not_found', message: expect.any(String), details: null, request_id: response.headers['x-request-id'] },
    });
  });

  it('administers accounts, keys, limits and credits with the admin token', async () => {
    expect((await app.inject({ method: 'POST', url: '/admin/v1/accounts', payload: { name: 'x' } })).statusCode).toBe(401);
    expect((await app.inject({ method: 'POST', url: '/admin/v1/accounts', headers: { authorization: 'Bearer wrong' }, payload: { name: 'x' } })).statusCode).toBe(401);
    const invalid = await app.inject({ method: 'POST', url: '/admin/v1/accounts', headers: admin, payload: { credits: -1, limits: { active_tasks: 0 } } });
    expect(invalid.statusCode).toBe(400);
    expect(invalid.json().error.details.map((d: { path: string }) => d.path).sort()).toEqual(['credits', 'limits.active_tasks', 'name']);

    const created = await app.inject({ method: 'POST', url: '/admin/v1/accounts', headers: admin, payload: { name: 'Acme', credits: 100 } });
    expect(created.statusCode).toBe(201);
    const account = created.json();
    expect(account).toMatchObject({ name: 'Acme', credits: { balance: 100, held: 0, available: 100 }, limits: { creates_per_minute: 60, requests_per_minute: 1200, active_tasks: 20 } });
    expect(account.id).toMatch(/^acct_/);

    const patched = await app.inject({ method: 'PATCH', url: `/admin/v1/accounts/${account.id}`, headers: admin, payload: { limits: { active_tasks: 5 } } });
    expect(patched.json().limits).toEqual({ creates_per_minute: 60, requests_per_minute: 1200, active_tasks: 5 });

    const keyResponse = await app.inject({ method: 'POST', url: `/admin/v1/accounts/${account.id}/keys`, headers: admin, payload: { name: 'ci' } });
    expect(keyResponse.statusCode).toBe(201);
    const key = keyResponse.json();
    expect(key).toMatchObject({ id: expect.stringMatching(/^key_/), key: expect.stringMatching(/^rv_/), prefix: key.key.slice(0, 10) });
    const auth = { authorization: `Bearer ${key.key}` };
    const me = (await app.inject({ url: '/api/v1/account', headers: auth })).json();
    expect(me).toMatchObject({ id: account.id, name: 'Acme', limits: { active_tasks: 5 } });
    // Only the hash is stored.
    const { rows } = await service.runtime.db.query<{ key_hash: string }>('SELECT key_hash FROM api_keys WHERE id = $1', [key.id]);
    expect(rows[0]?.key_hash).not.toContain(key.key);
    expect(rows[0]?.key_hash).toMatch(/^[0-9a-f]{64}$/);

    const grant = (headers: Record<string, string>, amount: number) =>
      app.inject({ method: 'POST', url: `/admin/v1/accounts/${account.id}/credits`, headers: { ...admin, ...headers }, payload: { amount, reason: 'test' } });
    const granted = await grant({ 'idempotency-key': 'grant-1' }, 50);
    expect(granted.statusCode).toBe(201);
    expect(granted.json().entry).toMatchObject({ type: 'grant', amount: 50, balance_after: 150 });
    const replay = await grant({ 'idempotency-key': 'grant-1' }, 50);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.json()).toEqual(granted.json());
    const adjusted = await grant({}, -30);
    expect(adjusted.json().entry).toMatchObject({ type: 'adjust', amount: -30, balance_after: 120 });
    const tooMuch = await grant({}, -121);
    expect(tooMuch.statusCode).toBe(402);
    expect(tooMuch.json().error.details).toEqual({ required: 121, available: 120 });

    const ledger = (await app.inject({ url: '/api/v1/account/ledger?limit=2', headers: auth })).json();
    expect(ledger.data.map((e: { type: string }) => e.type)).toEqual(['adjust', 'grant']);
    expect(ledger.has_more).toBe(true);
    const rest = (await app.inject({ url: `/api/v1/account/ledger?cursor=${ledger.next_cursor}`, headers: auth })).json();
    expect(rest.data.map((e: { type: string; amount: number }) => [e.type, e.amount])).toEqual([['grant', 100]]);

    const revoked = await app.inject({ method: 'DELETE', url: `/admin/v1/keys/${key.id}`, headers: admin });
    expect(revoked.statusCode).toBe(200);
    expect((await app.inject({ url: '/api/v1/account', headers: auth })).statusCode).toBe(401);
    expect((await app.inject({ method: 'DELETE', url: '/admin/v1/keys/key_missing', headers: admin })).statusCode).toBe(404);
    expect((await app.inject({ url: '/admin/v1/accounts/acct_missing', headers: admin })).statusCode).toBe(404);
    expect((await app.inject({ url: `/admin/v1/accounts/${account.id}`, headers: admin })).json().credits.balance).toBe(120);
  });

  it('reports health, readiness and Prometheus metrics', async () => {
    expect((await app.inject({ url: '/healthz' })).json()).toEqual({ status: 'ok' });
    const ready = await app.inject({ url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json().checks.every((check: { ok: boolean }) => check.ok)).toBe(true);

    const { auth } = await service.newAccount(100);
    const task = (await app.inject({ method: 'POST', url: '/api/v1/tasks', headers: auth, payload: { model: 'sora-2', prompt: 'metrics' } })).json();
    await waitFor(async () => (await app.inject({ url: `/api/v1/tasks/${task.id}?wait=5`, headers: auth })).json().status === 'succeeded', 20_000, 'the task');
    const metrics = await app.inject({ url: '/metrics' });
    expect(metrics.headers['content-type']).toContain('text/plain');
    const text = metrics.body;
    expect(text).toMatch(/rivya_http_requests_total\{method="POST",route="\/api\/v1\/tasks",status="201"\} \d+/);
    expect(text).toMatch(/rivya_task_transitions_total\{model="sora-2",status="succeeded"\} [1-9]/);
    expect(text).toMatch(/rivya_queue_depth\{queue="task.run",state="queued"\} \d+/);
    expect(text).toMatch(/rivya_credits_held \d+/);
  });
});

describe('admin routes without RIVYA_ADMIN_TOKEN', () => {
  it('do not exist', async () => {
    const [backend] = BACKENDS;
    const service = await startTestService(backend!, { env: { RIVYA_ADMIN_TOKEN: '' }, worker: false });
    try {
      const response = await service.runtime.app!.inject({ method: 'POST', url: '/admin/v1/accounts', headers: { authorization: 'Bearer ' }, payload: { name: 'x' } });
      expect(response.statusCode).toBe(404);
      // Nor does their document.
      expect((await service.runtime.app!.inject({ url: '/admin/v1/openapi.json', headers: { authorization: 'Bearer ' } })).statusCode).toBe(404);
    } finally {
      await service.close();
    }
  });
});
